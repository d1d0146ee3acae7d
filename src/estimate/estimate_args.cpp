#include "estimate/estimate_args.h"

#include <cctype>
#include <charconv>
#include <cmath>

#include "common/text.h"
#include "common/units.h"

namespace lattice::estimate {
namespace {

// The whole of `text` as a finite double ("1e3", "-2", "1.5"); nullopt otherwise.
std::optional<double> WholeNumber(std::string_view text) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) return std::nullopt;
  return value;
}

}  // namespace

Result<double> ParseParameterCount(const std::string& text) {
  const std::string shown = text.substr(0, 64);
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 "--params '" + shown + "' " + why + ": give the parameter count like 7e9, 7B, 1.5b, 125M or "
                 "70000000000",
                 "params");
  };
  std::string number = text;
  double scale = 1;
  if (!number.empty()) {
    switch (std::tolower(static_cast<unsigned char>(number.back()))) {
      case 'k': scale = 1e3; break;
      case 'm': scale = 1e6; break;
      case 'b': scale = 1e9; break;
      case 't': scale = 1e12; break;
      default: break;
    }
    if (scale != 1) number.pop_back();
  }
  auto value = WholeNumber(number);
  if (!value) return bad("is not a number");
  const double params = *value * scale;
  if (params < 0) return bad("is negative");
  if (params == 0) return bad("is zero");
  if (params < 1) return bad("is less than one parameter");
  if (params > kMaxParams) return bad("is absurd (more than 1e15 parameters)");
  return std::round(params);
}

Result<Precision> ParsePrecision(const std::string& text) {
  const std::string t = AsciiLower(text);
  if (t == "fp32" || t == "float32") return Precision::kFp32;
  if (t == "fp16" || t == "float16") return Precision::kFp16;
  if (t == "bf16" || t == "bfloat16") return Precision::kBf16;
  if (t == "int8") return Precision::kInt8;
  return Error(ErrorCode::kInvalidArgument,
               "--precision '" + text.substr(0, 32) + "' is not one of fp32, fp16, bf16, int8", "precision");
}

Result<Optimizer> ParseOptimizer(const std::string& text) {
  const std::string t = AsciiLower(text);
  if (t == "adam" || t == "adamw") return Optimizer::kAdam;
  if (t == "sgd") return Optimizer::kSgd;
  if (t == "none") return Optimizer::kNone;
  return Error(ErrorCode::kInvalidArgument,
               "--optimizer '" + text.substr(0, 32) + "' is not one of adam, sgd, none (none: inference)",
               "optimizer");
}

Result<uint64_t> ParsePositiveCount(const std::string& flag, const std::string& text, uint64_t max) {
  const std::string field = flag.substr(flag.find_first_not_of('-'));
  auto value = WholeNumber(text);
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 flag + " '" + text.substr(0, 32) + "' " + why + ": give a whole number from 1 to " +
                     std::to_string(max),
                 field);
  };
  if (!value) return bad("is not a number");
  if (*value <= 0) return bad(*value == 0 ? "is zero" : "is negative");
  if (*value != std::floor(*value)) return bad("is not a whole number");
  if (*value > static_cast<double>(max)) return bad("is absurd");
  return static_cast<uint64_t>(*value);
}

Result<double> ParseHours(const std::string& text) {
  auto value = WholeNumber(text);
  if (!value || *value <= 0 || *value > 24.0 * 366 * 10)
    return Error(ErrorCode::kInvalidArgument,
                 "--hours '" + text.substr(0, 32) + "' must be a number of hours above 0 (at most ten years), "
                 "like 8 or 0.5",
                 "hours");
  return *value;
}

Result<uint64_t> ParseGpuMemory(const std::string& flag, const std::string& text) {
  const std::string field = flag.substr(flag.find_first_not_of('-'));
  auto bytes = ParseBytes(text);
  constexpr uint64_t kGiB = 1ull << 30;
  if (text.find_first_not_of("0123456789.") == std::string::npos || !bytes.ok() || *bytes < kGiB ||
      *bytes > 1024 * kGiB)
    return Error(ErrorCode::kInvalidArgument,
                 flag + " '" + text.substr(0, 32) + "' must be a GPU memory size with its unit, 1G to 1T, like 24G "
                 "or 80G",
                 field);
  return *bytes;
}

}  // namespace lattice::estimate
