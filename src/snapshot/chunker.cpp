#include "snapshot/chunker.h"

#include <algorithm>
#include <array>
#include <cstdint>

namespace lattice::snapshot {
namespace {

// 256 pseudo-random 64-bit values, one per byte value: splitmix64 from the
// seed below. Changing either changes every cut point (a format change).
constexpr std::array<uint64_t, 256> MakeGear() {
  std::array<uint64_t, 256> gear{};
  uint64_t state = 0x6c61747469636531ull;  // "lattice1"
  for (uint64_t& g : gear) {
    state += 0x9e3779b97f4a7c15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    g = z ^ (z >> 31);
  }
  return gear;
}
constexpr std::array<uint64_t, 256> kGear = MakeGear();

// The gear hash shifts left, so its high bits mix the most recent 64 bytes;
// the masks test high bits. 18 bits before the average size (cuts rarer than
// 1 in 64 KiB), 14 after (more frequent), as FastCDC's normalised chunking.
constexpr uint64_t TopBits(int n) { return ~uint64_t{0} << (64 - n); }
constexpr uint64_t kMaskSmall = TopBits(18);
constexpr uint64_t kMaskLarge = TopBits(14);

}  // namespace

size_t FirstChunkLength(std::string_view data) {
  const size_t n = data.size();
  if (n <= kMinChunkBytes) return n;
  const size_t end = std::min(n, kMaxChunkBytes);
  const size_t normal = std::min(end, kAvgChunkBytes);
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  uint64_t h = 0;
  size_t i = kMinChunkBytes;
  for (; i < normal; ++i) {
    h = (h << 1) + kGear[p[i]];
    if ((h & kMaskSmall) == 0) return i + 1;
  }
  for (; i < end; ++i) {
    h = (h << 1) + kGear[p[i]];
    if ((h & kMaskLarge) == 0) return i + 1;
  }
  return end;
}

std::vector<size_t> ChunkBoundaries(std::string_view data) {
  std::vector<size_t> ends;
  size_t at = 0;
  while (at < data.size()) {
    at += FirstChunkLength(data.substr(at));
    ends.push_back(at);
  }
  return ends;
}

}  // namespace lattice::snapshot
