// What users type for `lattice estimate` and `lattice instances`, checked:
// every error names the flag and says what would be right.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "estimate/memory_estimate.h"

namespace lattice::estimate {

// More parameters than this is a typo, not a model (the largest trained
// models have ~1e12-2e12).
constexpr double kMaxParams = 1e15;

// "7e9", "7B", "1.5b", "125M", "350k", "1T", "70000000000" -> a count of parameters.
Result<double> ParseParameterCount(const std::string& text);
// fp32, fp16, bf16, int8 (also float32, float16, bfloat16)
Result<Precision> ParsePrecision(const std::string& text);
// adam (adamw), sgd, none
Result<Optimizer> ParseOptimizer(const std::string& text);
// A whole number from 1 to max for `flag` ("--batch"); 0, negatives and
// fractions are errors, above max "absurd".
Result<uint64_t> ParsePositiveCount(const std::string& flag, const std::string& text, uint64_t max);
// Hours of a job: a number above 0, at most ten years.
Result<double> ParseHours(const std::string& text);
// A GPU memory size like 24G (GiB), 1 GiB to 1 TiB, for `flag`.
Result<uint64_t> ParseGpuMemory(const std::string& flag, const std::string& text);

}  // namespace lattice::estimate
