// Exit codes of the lattice command (documented in docs/cli.md). With
// --follow, `lattice run` and `lattice logs` exit with the experiment's own
// code instead; these stay out of the range scripts commonly use.
#pragma once

#include "common/result.h"

namespace lattice::cli {

constexpr int kExitOk = 0;
constexpr int kExitUsage = 64;        // bad flags or arguments (EX_USAGE)
constexpr int kExitNotFound = 66;     // no such run, experiment or script (EX_NOINPUT)
constexpr int kExitUnreachable = 69;  // the server cannot be reached (EX_UNAVAILABLE)
constexpr int kExitInternal = 70;     // anything else that went wrong (EX_SOFTWARE)

int ExitCodeFor(const Error& error);

}  // namespace lattice::cli
