#include "estimate/format.h"

#include <cmath>
#include <cstdio>
#include <iterator>

namespace lattice::estimate {

std::string DecimalBytes(double bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
  if (!(bytes >= 1)) return "0 B";
  size_t unit = 0;
  while (bytes >= 999.5 && unit + 1 < std::size(kUnits)) {
    bytes /= 1000;
    ++unit;
  }
  char buf[32];
  if (unit == 0 || bytes >= 99.95) std::snprintf(buf, sizeof buf, "%.0f %s", bytes, kUnits[unit]);
  else if (bytes >= 9.995) std::snprintf(buf, sizeof buf, "%.1f %s", bytes, kUnits[unit]);
  else std::snprintf(buf, sizeof buf, "%.2f %s", bytes, kUnits[unit]);
  return buf;
}

std::string ShortCount(double count) {
  static constexpr const char* kUnits[] = {"", "k", "M", "B", "T", "P"};
  size_t unit = 0;
  while (count >= 999.5 && unit + 1 < std::size(kUnits)) {
    count /= 1000;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g%s", count, kUnits[unit]);
  return buf;
}

std::string Usd(double dollars) {
  char buf[32];
  std::snprintf(buf, sizeof buf, std::fabs(dollars) < 10 ? "%.3f" : "%.2f", dollars);
  return buf;
}

}  // namespace lattice::estimate
