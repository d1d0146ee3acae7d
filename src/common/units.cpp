#include "common/units.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <iterator>

namespace lattice {
namespace {

// Splits "1.5GiB" into 1.5 and "gib" (lower-cased).
bool SplitNumber(const std::string& text, double* number, std::string* suffix) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  if (i == 0) return false;
  try {
    size_t used = 0;
    *number = std::stod(text.substr(0, i), &used);
    if (used != i) return false;
  } catch (...) {
    return false;
  }
  suffix->clear();
  for (size_t j = i; j < text.size(); ++j)
    suffix->push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(text[j]))));
  return std::isfinite(*number) && *number >= 0;
}

}  // namespace

Result<uint64_t> ParseBytes(const std::string& text) {
  double n = 0;
  std::string suffix;
  auto bad = [&] {
    return Error(ErrorCode::kInvalidArgument,
                 "'" + text + "' is not a size; expected a number with an optional unit, like 512M, 4G or 1.5GiB");
  };
  if (!SplitNumber(text, &n, &suffix)) return bad();
  double mult = 0;
  if (suffix.empty() || suffix == "b") mult = 1;
  else if (suffix == "k" || suffix == "kb" || suffix == "kib") mult = 1024.0;
  else if (suffix == "m" || suffix == "mb" || suffix == "mib") mult = 1024.0 * 1024;
  else if (suffix == "g" || suffix == "gb" || suffix == "gib") mult = 1024.0 * 1024 * 1024;
  else if (suffix == "t" || suffix == "tb" || suffix == "tib") mult = 1024.0 * 1024 * 1024 * 1024;
  else return bad();
  double v = n * mult;
  if (v > 9.0e18) return bad();
  return static_cast<uint64_t>(std::llround(v));
}

std::string HumanBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, value < 9.95 ? "%.1f" : "%.0f", value);
  std::string number = buf;
  if (number.size() > 2 && number.compare(number.size() - 2, 2, ".0") == 0) number.resize(number.size() - 2);
  return number + " " + kUnits[unit];
}

Result<int64_t> ParseDurationMs(const std::string& text) {
  double n = 0;
  std::string suffix;
  auto bad = [&] {
    return Error(ErrorCode::kInvalidArgument,
                 "'" + text + "' is not a duration; expected e.g. 30, 30s, 500ms, 2m, 1h or 7d");
  };
  if (!SplitNumber(text, &n, &suffix)) return bad();
  double mult = 0;
  if (suffix.empty() || suffix == "s") mult = 1000;
  else if (suffix == "ms") mult = 1;
  else if (suffix == "m") mult = 60'000;
  else if (suffix == "h") mult = 3'600'000;
  else if (suffix == "d") mult = 86'400'000;
  else return bad();
  if (n * mult > 1e15) return bad();
  return static_cast<int64_t>(std::llround(n * mult));
}

std::string HumanDuration(int64_t ms) {
  if (ms % 1000 != 0) return std::to_string(ms) + "ms";
  const int64_t s = ms / 1000;
  if (s >= 86400 && s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s >= 3600 && s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s >= 60 && s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

}  // namespace lattice
