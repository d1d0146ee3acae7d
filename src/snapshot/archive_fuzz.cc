// libFuzzer entry point for snapshot::InspectSnapshot and ExtractSnapshot on
// hostile archives. Named .cc so the layer's *.cpp glob leaves it out of the
// library; built as fuzz_archive with -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// The first byte picks what the rest is:
//   even: the archive as uploaded (a tar.zst);
//   odd:  a plain tar, which gets its header checksums fixed and is then
//         zstd-compressed here, so that mutations reach the tar reader and
//         our entry checks instead of dying in zstd or on a bad checksum.
// Each archive is inspected and extracted into a fresh directory `base/ws`
// under $TMPDIR (or /tmp), next to an empty `base/outside`; base is removed
// after.
// Invariants: nothing is written outside `ws`, Inspect accepts exactly what
// Extract accepts, and what it counts is what lands on disk.
#include <stdlib.h>
#include <zstd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

#include "snapshot/snapshot.h"

namespace {

namespace fs = std::filesystem;
using lattice::snapshot::ExtractOptions;

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

std::string Compress(const std::string& raw) {
  static ZSTD_CCtx* const cctx = ZSTD_createCCtx();
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  const size_t n = ZSTD_compressCCtx(cctx, out.data(), out.size(), raw.data(), raw.size(), 1);
  Check(!ZSTD_isError(n));
  out.resize(n);
  return out;
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
  if (size == 0) return 0;
  std::string archive(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    FixTarChecksums(&archive);
    archive = Compress(archive);
  }

  ExtractOptions options;
  options.max_total_bytes = 1 << 20;
  options.max_files = 64;

  const auto info = lattice::snapshot::InspectSnapshot(archive, options);

  std::string tmpl = (fs::temp_directory_path() / "lattice-archive-fuzz-XXXXXX").string();
  Check(::mkdtemp(tmpl.data()) != nullptr);
  const fs::path base = tmpl;
  fs::create_directory(base / "outside");
  const lattice::Status st = lattice::snapshot::ExtractSnapshot(archive, base / "ws", options);

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
