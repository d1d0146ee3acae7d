// libFuzzer entry point for snapshot::ParseManifest, which reads untrusted
// text (the server parses whatever blob a submit names; the agent whatever
// the server sends). Named .cc so the layer's *.cpp glob leaves it out of
// the library; built as fuzz_manifest with -DLATTICE_FUZZ=ON (see
// scripts/fuzz.sh).
//
// The input is the manifest text as is, parsed with a small chunk limit
// (64) so that the limit's path is reached too.
// Invariants beyond "no crash": an accepted manifest formats back to exactly
// the input (the format is canonical: one tree, one id); it respects the
// limits (count, raw and compressed sizes); a chunk named twice has the same
// sizes both times; refusals are kInvalidArgument, or kResourceExhausted for
// the chunk count, with a message.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "snapshot/manifest.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lattice::snapshot;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  ManifestLimits limits;
  limits.max_chunks = 64;
  const auto m = ParseManifest(text, limits);
  if (!m.ok()) {
    Check(m.error().code == lattice::ErrorCode::kInvalidArgument ||
          m.error().code == lattice::ErrorCode::kResourceExhausted);
    Check(!m.error().message.empty());
    return 0;
  }
  Check(FormatManifest(*m) == text);
  Check(!m->chunks.empty() && m->chunks.size() <= limits.max_chunks);
  std::map<std::string, const ManifestChunk*> seen;
  for (const ManifestChunk& c : m->chunks) {
    Check(c.sha256.size() == 64);
    Check(c.raw_size >= 1 && c.raw_size <= kMaxManifestChunkRaw);
    Check(c.compressed_size >= 1 && c.compressed_size <= kMaxManifestChunkCompressed);
    const auto [it, fresh] = seen.emplace(c.sha256, &c);
    Check(fresh || *it->second == c);
  }
  Check(m->DistinctChunks().size() == seen.size());
  return 0;
}
