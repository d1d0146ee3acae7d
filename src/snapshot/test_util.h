// Helpers shared by the snapshot tests: temporary trees and hand-made
// archives (including hostile ones that CreateSnapshot would never write).
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/test_util.h"
#include "snapshot/snapshot.h"

namespace lattice::snapshot::testing {

using lattice::testing::TempDir;

inline void WriteFile(const std::filesystem::path& path, const std::string& contents,
                      mode_t mode = 0644) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << contents;
  ::chmod(path.c_str(), mode);
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Every path under root, relative, directories suffixed with '/'.
inline std::set<std::string> ListTree(const std::filesystem::path& root) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    std::string rel = e.path().lexically_relative(root).string();
    if (e.is_directory() && !e.is_symlink()) rel += "/";
    out.insert(rel);
  }
  return out;
}

struct RawEntry {
  std::string name;
  mode_t type = AE_IFREG;
  std::string contents;  // files
  std::string link;      // symlink target or hardlink source
  bool hardlink = false;

  static RawEntry File(std::string name, std::string contents) {
    return {std::move(name), AE_IFREG, std::move(contents), "", false};
  }
  static RawEntry Dir(std::string name) { return {std::move(name), AE_IFDIR, "", "", false}; }
  static RawEntry Symlink(std::string name, std::string target) {
    return {std::move(name), AE_IFLNK, "", std::move(target), false};
  }
  static RawEntry HardLink(std::string name, std::string target) {
    return {std::move(name), AE_IFREG, "", std::move(target), true};
  }
  static RawEntry Special(std::string name, mode_t type) {
    return {std::move(name), type, "", "", false};
  }
};

// Writes a pax tar with exactly these entries, no validation.
inline std::string CraftTar(const std::vector<RawEntry>& entries) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open2(
      a, &out, nullptr,
      [](archive*, void* o, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(o)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr, nullptr);
  for (const RawEntry& r : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, r.name.c_str());
    archive_entry_set_filetype(e, r.type);
    archive_entry_set_perm(e, r.type == AE_IFDIR ? 0755 : 0644);
    if (r.hardlink) archive_entry_copy_hardlink(e, r.link.c_str());
    if (r.type == AE_IFLNK) archive_entry_copy_symlink(e, r.link.c_str());
    if (r.type == AE_IFREG && !r.hardlink) {
      archive_entry_set_size(e, static_cast<la_int64_t>(r.contents.size()));
    }
    archive_write_header(a, e);
    if (!r.contents.empty()) archive_write_data(a, r.contents.data(), r.contents.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

// A snapshot held in memory: its manifest and its chunks by name.
struct Packed {
  std::string sha256;
  Manifest manifest;
  std::map<std::string, std::string> blobs;

  ChunkSource Source() const {
    return [this](const ManifestChunk& c) -> Result<std::string> {
      auto it = blobs.find(c.sha256);
      if (it == blobs.end()) return Error(ErrorCode::kNotFound, "no chunk " + c.sha256);
      return it->second;
    };
  }
};

inline Packed PackedFrom(const Snapshot& snap) {
  Packed p;
  p.sha256 = snap.sha256;
  auto parsed = ParseManifest(snap.manifest);
  if (parsed.ok()) p.manifest = std::move(parsed).value();
  for (const Chunk& c : snap.chunks) p.blobs[c.sha256] = c.data;
  return p;
}

// Packs a tar stream as CreateSnapshot would, with the given totals.
inline Packed PackTar(std::string_view tar, uint64_t total_bytes, size_t file_count) {
  SnapshotBuilder builder;
  Status st = builder.Append(tar);
  auto snap = builder.Finish(total_bytes, file_count);
  return st.ok() && snap.ok() ? PackedFrom(*snap) : Packed{};
}

// CraftTar, packed with the totals the entries add up to (as a well-formed
// snapshot's manifest would declare them).
inline Packed CraftSnapshot(const std::vector<RawEntry>& entries) {
  uint64_t bytes = 0;
  size_t files = 0;
  for (const RawEntry& r : entries) {
    if (r.type == AE_IFREG && !r.hardlink) bytes += r.contents.size();
    if (r.type == AE_IFREG || r.type == AE_IFLNK) ++files;
  }
  return PackTar(CraftTar(entries), bytes, files);
}

}  // namespace lattice::snapshot::testing
