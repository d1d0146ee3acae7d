// The one random generator of the sweep layer: SplitMix64 plus the few
// distributions the expressions need, written out here rather than taken from
// <random>, because std::uniform_real_distribution and friends are
// implementation-defined. A sweep must give the same values for the same seed
// on every platform and compiler, or a rerun with --seed is not a rerun.
//
// Not thread-safe; cheap to copy. Header-only: everything is a few lines.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>

namespace lattice::sweep {

class SplitMix64 final {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1) with all 53 bits of a double's mantissa.
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // Uniform in [0, n) without modulo bias; n == 0 means the full 2^64 range.
  uint64_t Below(uint64_t n) {
    if (n == 0) return Next();
    const uint64_t threshold = (0 - n) % n;  // 2^64 mod n: the biased low values
    for (;;) {
      const uint64_t x = Next();
      if (x >= threshold) return x % n;
    }
  }

  // Standard normal by Box-Muller; 1 - u keeps the log's argument in (0, 1].
  double NextNormal() {
    const double u1 = 1.0 - NextDouble();
    const double u2 = NextDouble();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
  }

 private:
  uint64_t state_;
};

// A separate stream per argument, so two identical random expressions in one
// command line (say uniform(0, 1, 3) twice) do not draw identical values.
inline uint64_t StreamSeed(uint64_t seed, uint64_t stream) {
  SplitMix64 mix(seed ^ ((stream + 1) * 0xD1B54A32D192ED03ull));
  return mix.Next();
}

}  // namespace lattice::sweep
