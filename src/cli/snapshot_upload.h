// Uploading a code snapshot: ask the server which chunks it lacks
// (POST /blobs/missing), send only those (POST /blobs/batch, ~8 MiB per
// request), then PUT the manifest, so that re-submitting an edited tree
// costs the edited chunks. Shows progress on
// stderr for uploads that take over a second, and a one-line summary when
// anything was uploaded or it took that long.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "cli/api_client.h"
#include "snapshot/snapshot.h"

namespace lattice::cli {

struct UploadResult {
  uint64_t code_bytes = 0;      // sum of the tree's file sizes
  uint64_t snapshot_bytes = 0;  // stored size of the snapshot: distinct chunks plus manifest
  uint64_t uploaded_bytes = 0;  // chunks the server lacked, and the manifest if it did
  size_t chunks = 0;            // distinct chunks of the snapshot
  size_t new_chunks = 0;        // of which the server lacked (uploaded)
  bool manifest_uploaded = false;
  int64_t elapsed_ms = 0;
};

struct UploadOptions {
  // Where progress and the summary go; nullptr: nowhere.
  std::FILE* out = stderr;
  // Rewrite one progress line in place (a terminal), instead of printing a
  // line at most every `progress_every_ms`.
  bool tty = false;
  int64_t quiet_ms = 1000;          // no progress, and no summary for an upload of nothing, before this
  int64_t progress_every_ms = 1000; // between progress lines when not a tty
  // Milliseconds on a monotonic clock; tests pass a fake.
  std::function<int64_t()> now_ms;
};

// Decides what progress text to print as an upload goes on: nothing before
// quiet_ms, then "lattice: uploading code: 12 MiB of 191 MiB (6%), 48 MiB/s"
// (on a tty rewritten in place with '\r', else a line at most every
// progress_every_ms). Pure: time is an argument.
class UploadProgress final {
 public:
  UploadProgress(uint64_t total_bytes, int64_t start_ms, const UploadOptions& options);
  // Text to print now ("" for nothing) for `done` bytes sent by now_ms.
  std::string Update(int64_t now_ms, uint64_t done);
  // Text that ends the progress display (a newline after an in-place
  // line), "" if nothing was shown.
  std::string Finish();

 private:
  const uint64_t total_;
  const int64_t start_ms_;
  const bool tty_;
  const int64_t quiet_ms_;
  const int64_t every_ms_;
  int64_t last_ms_ = -1;  // when a line was last printed; -1: never
};

// "lattice: code 191 MiB in 2933 chunks; uploaded 402 KiB (2 new chunks)"
// (the code's size is its files'; the upload is compressed bytes),
// or "" when nothing was uploaded and it took under quiet_ms.
std::string UploadSummary(const UploadResult& result, const UploadOptions& options);

// Uploads what the server lacks of `snap`; the manifest goes last, so a
// snapshot the server has whole is one whose chunks are all there.
Result<UploadResult> UploadSnapshot(ApiClient& client, const snapshot::Snapshot& snap,
                                    const UploadOptions& options);

}  // namespace lattice::cli
