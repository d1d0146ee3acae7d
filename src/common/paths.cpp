#include "common/paths.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace lattice {

std::filesystem::path LatticeHome() {
  if (const char* h = std::getenv("LATTICE_HOME"); h && *h) return std::filesystem::absolute(h);
  const char* home = std::getenv("HOME");
  if (!home || !*home) {
    if (passwd* pw = getpwuid(getuid())) home = pw->pw_dir;
  }
  return std::filesystem::path(home ? home : "/tmp") / ".lattice";
}

}  // namespace lattice
