#include "cluster/demand.h"

#include <sstream>

namespace lattice {

std::string ShapeKey(const Resources& ask, int nodes) {
  std::ostringstream out;
  out << nodes << "x{cpus=" << ask.cpus << ",memory=" << ask.memory_bytes << ",gpus=" << ask.gpus << "}";
  return out.str();
}

}  // namespace lattice
