// The blob routes of the API: GET/HEAD /blobs/{sha256} (streamed from disk,
// with single byte ranges for resumed downloads), PUT /blobs/{sha256}
// (whole, or a chunk of a resumable upload with ?offset=&total=),
// GET /blobs/{sha256}/upload (how much of an upload the server has),
// POST /blobs/missing (which of a list of blobs the server lacks: how the
// CLI learns which snapshot chunks to upload) and POST /blobs/batch (many
// small blobs in one request, synced together: how it uploads them).
// Loop thread only.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/http_server.h"
#include "server/blob_store.h"

namespace lattice {

// "bytes=N-" or "bytes=N-M" against a resource of `size` bytes: the
// [first, last] range to send, nullopt for no Range header; an
// unsatisfiable or multi-range header is an error (answered 416).
Result<std::optional<std::pair<uint64_t, uint64_t>>> ParseByteRange(const std::string& header, uint64_t size);

// POST /blobs/missing: at most this many names per request, in a body of at
// most kMaxMissingBodyBytes (a name costs 67 bytes of JSON).
inline constexpr size_t kMaxMissingNames = 100'000;
inline constexpr size_t kMaxMissingBodyBytes = 8 << 20;

// The names of a /blobs/missing body ({"sha256": [...]}), checked: an
// array of lowercase hex SHA-256 strings, at most kMaxMissingNames.
Result<std::vector<std::string>> ParseMissingRequest(const std::string& body);

// POST /blobs/batch: at most this many blobs per request.
inline constexpr size_t kMaxBatchBlobs = 10'000;

// The blobs of a /blobs/batch body: records "<sha256> <size>\n" followed by
// exactly <size> bytes, one after the other, at least one. The views point
// into `body`. Names and framing are checked here, contents by the store.
Result<std::vector<std::pair<std::string, std::string_view>>> ParseBlobBatch(std::string_view body);

class BlobApi final {
 public:
  explicit BlobApi(BlobStore& blobs) : blobs_(blobs) {}
  // p: the path segments after /api/v1/, p[0] == "blobs".
  void Handle(const std::vector<std::string>& p, const net::HttpRequest& req, net::Exchange& ex);

 private:
  void Missing(const net::HttpRequest& req, net::Exchange& ex);
  void Batch(const net::HttpRequest& req, net::Exchange& ex);

  BlobStore& blobs_;
};

}  // namespace lattice
