// The `lattice` command line: parses argv and dispatches to a command.
#pragma once

namespace lattice::cli {

int Main(int argc, char** argv);

}  // namespace lattice::cli
