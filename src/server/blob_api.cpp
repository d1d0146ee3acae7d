#include "server/blob_api.h"

#include <charconv>

#include "server/api_util.h"

namespace lattice {
namespace {

bool ParseU64(std::string_view s, uint64_t* v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

Result<std::optional<std::pair<uint64_t, uint64_t>>> ParseByteRange(const std::string& header, uint64_t size) {
  if (header.empty()) return std::optional<std::pair<uint64_t, uint64_t>>();
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "Range '" + header + "' " + why, "range");
  };
  if (header.rfind("bytes=", 0) != 0) return bad("must be 'bytes=FIRST-' or 'bytes=FIRST-LAST'");
  std::string_view spec(header);
  spec.remove_prefix(6);
  if (spec.find(',') != std::string_view::npos) return bad("asks for several ranges; send one");
  size_t dash = spec.find('-');
  if (dash == std::string_view::npos || dash == 0) return bad("must be 'bytes=FIRST-' or 'bytes=FIRST-LAST'");
  uint64_t first = 0, last = size == 0 ? 0 : size - 1;
  if (!ParseU64(spec.substr(0, dash), &first)) return bad("has a malformed first byte");
  if (dash + 1 < spec.size() && !ParseU64(spec.substr(dash + 1), &last)) return bad("has a malformed last byte");
  if (first >= size || last < first)
    return bad("is outside the " + std::to_string(size) + " bytes of the blob");
  last = std::min(last, size - 1);
  return std::optional<std::pair<uint64_t, uint64_t>>(std::make_pair(first, last));
}

void BlobApi::Handle(const std::vector<std::string>& p, const net::HttpRequest& req, net::Exchange& ex) {
  const std::string& m = req.method;
  auto fail = [&](const Error& e) { ex.Respond(ErrorResponse(e)); };
  if (p.size() < 2 || p.size() > 3 || (p.size() == 3 && p[2] != "upload"))
    return fail(Error(ErrorCode::kNotFound, "no such endpoint: " + m + " " + req.path));
  const std::string& sha = p[1];
  if (!BlobStore::ValidName(sha))
    return fail(Error(ErrorCode::kInvalidArgument, "blob name must be a lowercase hex SHA-256", "sha256"));

  if (p.size() == 3) {
    if (m != "GET") return fail(Error(ErrorCode::kInvalidArgument, "method " + m + " is not allowed on " + req.path));
    return ex.Respond(JsonResponse(200, Json{{"sha256", sha}, {"received", blobs_.Received(sha)}, {"complete", blobs_.Has(sha)}}));
  }
  if (m == "HEAD" || m == "GET") {
    auto size = blobs_.Size(sha);
    if (!size.ok()) return fail(size.error());
    auto range = ParseByteRange(req.Header("range"), *size);
    net::HttpResponse r;
    r.content_type = "application/octet-stream";
    r.headers.emplace_back("Accept-Ranges", "bytes");
    r.headers.emplace_back("ETag", "\"" + sha + "\"");
    if (!range.ok()) {
      r = ErrorResponse(range.error());
      r.status = 416;
      r.headers.emplace_back("Content-Range", "bytes */" + std::to_string(*size));
      return ex.Respond(std::move(r));
    }
    uint64_t first = 0, length = *size;
    if (*range) {
      first = (*range)->first;
      length = (*range)->second - first + 1;
      r.status = 206;
      r.headers.emplace_back("Content-Range", "bytes " + std::to_string(first) + "-" +
                                                  std::to_string((*range)->second) + "/" + std::to_string(*size));
    }
    r.file = net::FileBody{blobs_.PathOf(sha).string(), first, length};
    return ex.Respond(std::move(r));
  }
  if (m == "PUT") {
    if (!req.query.count("total")) {
      Status st = blobs_.Put(sha, req.body);
      if (!st.ok()) return fail(st.error());
      return ex.Respond(JsonResponse(201, Json{{"sha256", sha}, {"bytes", req.body.size()}}));
    }
    auto total = QueryNumber<uint64_t>(req, "total", 0, 0, UINT64_MAX / 2);
    auto offset = QueryNumber<uint64_t>(req, "offset", 0, 0, UINT64_MAX / 2);
    if (!total.ok()) return fail(total.error());
    if (!offset.ok()) return fail(offset.error());
    auto progress = blobs_.AppendChunk(sha, *offset, *total, req.body);
    if (!progress.ok()) {
      net::HttpResponse r = ErrorResponse(progress.error());
      if (progress.error().code == ErrorCode::kFailedPrecondition) {
        Json j = Json::parse(r.body);
        j["received"] = blobs_.Received(sha);
        r.body = j.dump();
      }
      return ex.Respond(std::move(r));
    }
    return ex.Respond(JsonResponse(progress->complete ? 201 : 200,
                                   Json{{"sha256", sha}, {"received", progress->received}, {"complete", progress->complete}}));
  }
  fail(Error(ErrorCode::kInvalidArgument, "method " + m + " is not allowed on " + req.path));
}

}  // namespace lattice
