// The blob routes of the API: GET/HEAD /blobs/{sha256} (streamed from disk,
// with single byte ranges for resumed downloads), PUT /blobs/{sha256}
// (whole, or a chunk of a resumable upload with ?offset=&total=) and
// GET /blobs/{sha256}/upload (how much of an upload the server has).
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

class BlobApi final {
 public:
  explicit BlobApi(BlobStore& blobs) : blobs_(blobs) {}
  // p: the path segments after /api/v1/, p[0] == "blobs".
  void Handle(const std::vector<std::string>& p, const net::HttpRequest& req, net::Exchange& ex);

 private:
  BlobStore& blobs_;
};

}  // namespace lattice
