// The agent's side of code snapshots: fetch a snapshot's manifest and the
// chunks a local cache lacks, then unpack it into an attempt's workspace.
// Chunks are content-addressed, so the cache is shared by every snapshot:
// a new attempt of a slightly edited tree downloads only the edited chunks.
//
// Cache layout: <cache_dir>/<sha256>, one file per blob (manifests and
// chunks alike), written to a temporary name and renamed, without fsync:
// every cached blob is re-hashed when used, and a bad one (torn by a crash,
// corrupted on disk) is fetched again. Nothing is evicted.
// Thread-safe for distinct clients: attempts preparing at once may fetch
// the same chunk; the last rename wins, with the same bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/result.h"
#include "net/http_client.h"
#include "snapshot/snapshot.h"

namespace lattice::agent {

struct FetchStats {
  size_t chunks = 0;             // distinct chunks of the snapshot
  size_t fetched_chunks = 0;     // of which were not in the cache (or bad there)
  uint64_t fetched_bytes = 0;    // bytes downloaded, the manifest included
};

// Downloads what `cache_dir` lacks of snapshot `snapshot_sha` from the
// server (GET <api_prefix>/blobs/<sha256>, api_prefix being "/api/v1":
// the client adds the URL's base path), checking every blob against its name, then
// extracts it into `dest` (see snapshot::ExtractSnapshot; dest is left
// partial on error). A blob the server lacks or serves wrong is kUnavailable;
// a snapshot that is not one is kInvalidArgument.
Result<FetchStats> FetchSnapshot(net::HttpClient& client, const std::string& api_prefix,
                                 const std::filesystem::path& cache_dir, const std::string& snapshot_sha,
                                 const std::filesystem::path& dest,
                                 const snapshot::ExtractOptions& options = {});

}  // namespace lattice::agent
