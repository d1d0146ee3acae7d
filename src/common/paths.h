// Where local state lives: $LATTICE_HOME, else ~/.lattice.
#pragma once

#include <filesystem>

namespace lattice {

std::filesystem::path LatticeHome();

}  // namespace lattice
