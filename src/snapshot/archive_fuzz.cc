// libFuzzer entry point for snapshot::InspectSnapshot and ExtractSnapshot on
// hostile tar streams. Named .cc so the layer's *.cpp glob leaves it out of
// the library; built as fuzz_archive with -DLATTICE_FUZZ=ON (see
// scripts/fuzz.sh).
//
// The rest of the input after byte 0 is a tar stream (the uncompressed
// stream a snapshot's chunks hold). Byte 0 says how to use it:
//   bit 0:    set: fix the header checksums first, so that mutations reach
//             the tar reader and our entry checks instead of dying on a bad
//             checksum;
//   bits 1-3: the stream is cut into pieces of 64 << n bytes (64 to 8192),
//             each compressed as a chunk, so that entries span chunks.
// The manifest declares the totals an independent count of the stream finds
// (regular files and symlinks, sizes of regular files), so that valid
// streams are accepted. Each snapshot is inspected and extracted into a
// fresh directory `base/ws` under $TMPDIR (or /tmp), next to an empty
// `base/outside`; base is removed after.
// Invariants: nothing is written outside `ws`, Inspect accepts exactly what
// Extract accepts, and what it counts is what lands on disk.
#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <system_error>

#include "snapshot/chunk_codec.h"
#include "snapshot/sha256.h"
#include "snapshot/snapshot.h"

namespace {

namespace fs = std::filesystem;
using lattice::snapshot::ExtractOptions;
using lattice::snapshot::Manifest;
using lattice::snapshot::ManifestChunk;

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

// Rewrites the checksum of every 512-byte block that carries the ustar magic.
void FixTarChecksums(std::string* tar) {
  for (size_t off = 0; off + 512 <= tar->size(); off += 512) {
    char* h = tar->data() + off;
    if (std::string_view(h + 257, 5) != "ustar") continue;
    unsigned sum = 0;
    for (size_t i = 0; i < 512; ++i) {
      sum += (i >= 148 && i < 156) ? ' ' : static_cast<unsigned char>(h[i]);
    }
    std::snprintf(h + 148, 8, "%06o", sum);  // six digits, NUL; byte 155 stays
    h[155] = ' ';
  }
}

// The totals a well-formed snapshot of this stream would declare.
void CountEntries(const std::string& tar, Manifest* m) {
  archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, tar.data(), tar.size()) == ARCHIVE_OK) {
    archive_entry* e = nullptr;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
      if (archive_entry_hardlink(e) != nullptr) continue;
      const mode_t type = archive_entry_filetype(e);
      if (type == AE_IFLNK || type == AE_IFREG) ++m->file_count;
      if (type == AE_IFREG && archive_entry_size(e) > 0) {
        m->total_bytes += static_cast<uint64_t>(archive_entry_size(e));
      }
    }
  }
  archive_read_free(a);
}

struct Tree {
  size_t non_dirs = 0;
  uint64_t file_bytes = 0;
};

// Walks `dir` without following symlinks.
Tree Walk(const fs::path& dir) {
  Tree t;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::file_status st = it->symlink_status(ec);
    Check(!ec);
    if (fs::is_directory(st)) continue;
    Check(fs::is_regular_file(st) || fs::is_symlink(st));
    ++t.non_dirs;
    if (fs::is_regular_file(st)) t.file_bytes += fs::file_size(it->path());
  }
  Check(!ec);
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string tar(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) FixTarChecksums(&tar);
  const size_t piece = size_t{64} << ((data[0] >> 1) & 7);

  Manifest manifest;
  std::map<std::string, std::string> blobs;
  lattice::snapshot::ChunkCompressor compressor;
  for (size_t at = 0; at < tar.size(); at += piece) {
    const std::string raw = tar.substr(at, piece);
    auto stored = compressor.Compress(raw);
    Check(stored.ok());
    const std::string sha = lattice::snapshot::Sha256Hex(*stored);
    manifest.chunks.push_back(ManifestChunk{sha, stored->size(), raw.size()});
    blobs[sha] = std::move(stored).value();
  }
  CountEntries(tar, &manifest);
  const lattice::snapshot::ChunkSource source =
      [&](const ManifestChunk& c) -> lattice::Result<std::string> { return blobs.at(c.sha256); };

  ExtractOptions options;
  options.max_total_bytes = 1 << 20;
  options.max_files = 64;

  const auto info = lattice::snapshot::InspectSnapshot(manifest, source, options);

  std::string tmpl = (fs::temp_directory_path() / "lattice-archive-fuzz-XXXXXX").string();
  Check(::mkdtemp(tmpl.data()) != nullptr);
  const fs::path base = tmpl;
  fs::create_directory(base / "outside");
  const lattice::Status st =
      lattice::snapshot::ExtractSnapshot(manifest, source, base / "ws", options);

  // Nothing escapes ws: base holds exactly what it held, and outside is empty.
  size_t entries = 0;
  for (const auto& e : fs::directory_iterator(base)) {
    ++entries;
    Check(e.path().filename() == "ws" || e.path().filename() == "outside");
  }
  Check(entries == 2 && fs::is_empty(base / "outside"));

  Check(info.ok() == st.ok());
  if (!st.ok()) Check(st.error().code == info.error().code);
  if (info.ok()) {
    const Tree tree = Walk(base / "ws");
    Check(tree.non_dirs == info->file_count);
    Check(tree.file_bytes == info->total_bytes);
  }
  std::error_code ec;
  fs::remove_all(base, ec);
  Check(!ec);
  return 0;
}
