// The pure part of `lattice artifacts`: reading the server's artifact list
// (GET /api/v1/runs/{run}/artifacts), choosing the newest version of each
// file, and mapping each to a checked place under the download directory.
// No I/O, so it is tested without a server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"

namespace lattice::cli {

struct ArtifactEntry {
  int experiment = 0;
  int attempt = 0;
  std::string kind;  // "artifact" or "checkpoint"
  std::string path;  // relative, '/'-separated, as the agent uploaded it (untrusted)
  std::string sha256;
  uint64_t size = 0;
  std::string created_at;
};

// The document's "artifacts" array in order; an error naming the
// entry (kInternal: the server's answer is malformed) for a missing or mistyped field, a sha256 that is not 64 lowercase hex
// digits, or a kind other than artifact/checkpoint.
Result<std::vector<ArtifactEntry>> ParseArtifacts(const Json& doc);

// "--kind": "artifact", "checkpoint" or "all"; the query value to send
// ("" for all).
Result<std::string> KindQuery(const std::string& kind);

// The newest version of each (experiment, kind, path): the last one listed,
// at the position of its first version.
std::vector<ArtifactEntry> NewestVersions(const std::vector<ArtifactEntry>& entries);

struct PlannedDownload {
  ArtifactEntry entry;
  std::string destination;  // relative to the download directory: "3/model/conf.json"
  std::string partial;      // destination + ".part"
};

// "<experiment>/<path>" for artifacts, "<experiment>/checkpoints/<path>" for
// checkpoints, after ValidateRelativePath on the server's path and on both
// results. Refuses (kInvalidArgument) an unsafe path, and two entries, or an
// entry and another's ".part", that would land on the same file.
Result<std::vector<PlannedDownload>> PlanDownloads(const std::vector<ArtifactEntry>& newest);

// "12.3 KiB"-style size, and the first 12 hex digits of a digest.
std::string ShortSha(const std::string& sha256);

}  // namespace lattice::cli
