// Parsing and printing of sizes and durations users type ("4G", "512M", "30s").
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"

namespace lattice {

// "4G", "4GB", "4GiB", "512M", "1024" (bytes), "1.5G"; binary multiples (Ki = 1024).
Result<uint64_t> ParseBytes(const std::string& text);
// 1288490188 -> "1.2 GiB"
std::string HumanBytes(uint64_t bytes);
// "30", "30s", "500ms", "2m", "1h", "7d" -> milliseconds.
Result<int64_t> ParseDurationMs(const std::string& text);
// 7200000 -> "2h", 90000 -> "90s", 5400000 -> "90m": the largest whole unit.
std::string HumanDuration(int64_t ms);

}  // namespace lattice
