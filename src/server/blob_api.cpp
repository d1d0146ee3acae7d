#include "server/blob_api.h"

#include <charconv>

#include "common/json.h"
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

Result<std::vector<std::string>> ParseMissingRequest(const std::string& body) {
  if (body.size() > kMaxMissingBodyBytes)
    return Error(ErrorCode::kResourceExhausted, "body of " + std::to_string(body.size()) +
                                                    " bytes exceeds the limit of " +
                                                    std::to_string(kMaxMissingBodyBytes) + " bytes");
  LATTICE_ASSIGN_OR_RETURN(Json doc, ParseJson(body.empty() ? std::string_view("{}") : std::string_view(body)));
  std::vector<std::string> names;
  JsonReader r(doc, "");
  if (const Json* list = r.OptionalArray("sha256")) {
    if (list->size() > kMaxMissingNames)
      return Error(ErrorCode::kResourceExhausted,
                   "field 'sha256' lists " + std::to_string(list->size()) + " names; ask about at most " +
                       std::to_string(kMaxMissingNames) + " per request",
                   "sha256");
    names.reserve(list->size());
    for (size_t i = 0; i < list->size(); ++i) {
      const Json& name = (*list)[i];
      if (!name.is_string() || !BlobStore::ValidName(name.get<std::string>()))
        return Error(ErrorCode::kInvalidArgument,
                     "field 'sha256[" + std::to_string(i) + "]' must be a lowercase hex SHA-256",
                     "sha256[" + std::to_string(i) + "]");
      names.push_back(name.get<std::string>());
    }
  } else {
    r.Fail(Error(ErrorCode::kInvalidArgument, "field 'sha256' is required: an array of blob names", "sha256"));
  }
  LATTICE_RETURN_IF_ERROR(r.Finish());
  return names;
}

Result<std::vector<std::pair<std::string, std::string_view>>> ParseBlobBatch(std::string_view body) {
  std::vector<std::pair<std::string, std::string_view>> blobs;
  size_t at = 0;
  while (at < body.size()) {
    auto bad = [&](const std::string& why) {
      return Error(ErrorCode::kInvalidArgument,
                   "blob batch record " + std::to_string(blobs.size()) + " (at byte " + std::to_string(at) +
                       "): " + why + "; records are '<sha256> <size>\\n' and then <size> bytes",
                   "body");
    };
    if (blobs.size() == kMaxBatchBlobs)
      return Error(ErrorCode::kResourceExhausted,
                   "a blob batch holds at most " + std::to_string(kMaxBatchBlobs) + " blobs", "body");
    const size_t nl = body.find('\n', at);
    // 64 hex digits, a space and at most 20 digits.
    if (nl == std::string_view::npos || nl - at > 85) return bad("no header line");
    const std::string_view header = body.substr(at, nl - at);
    const size_t space = header.find(' ');
    if (space != 64 || !BlobStore::ValidName(std::string(header.substr(0, 64))))
      return bad("the name is not a lowercase hex SHA-256");
    uint64_t size = 0;
    const std::string_view digits = header.substr(65);
    if (digits.empty() || (digits.size() > 1 && digits[0] == '0') || !ParseU64(digits, &size))
      return bad("the size is not a decimal number");
    if (size > body.size() - nl - 1) return bad("the body ends inside the blob");
    blobs.emplace_back(std::string(header.substr(0, 64)), body.substr(nl + 1, size));
    at = nl + 1 + size;
  }
  if (blobs.empty()) return Error(ErrorCode::kInvalidArgument, "a blob batch holds at least one blob", "body");
  return blobs;
}

void BlobApi::Batch(const net::HttpRequest& req, net::Exchange& ex) {
  auto blobs = ParseBlobBatch(req.body);
  if (!blobs.ok()) return ex.Respond(ErrorResponse(blobs.error()));
  auto stored = blobs_.PutMany(*blobs);
  if (!stored.ok()) return ex.Respond(ErrorResponse(stored.error()));
  uint64_t bytes = 0;
  for (const auto& b : *blobs) bytes += b.second.size();
  ex.Respond(JsonResponse(201, Json{{"blobs", blobs->size()}, {"bytes", bytes}, {"new", *stored}}));
}

void BlobApi::Missing(const net::HttpRequest& req, net::Exchange& ex) {
  auto names = ParseMissingRequest(req.body);
  if (!names.ok()) return ex.Respond(ErrorResponse(names.error()));
  Json missing = Json::array();
  for (const std::string& sha : *names) {
    if (!blobs_.Has(sha)) missing.push_back(sha);
  }
  ex.Respond(JsonResponse(200, Json{{"missing", std::move(missing)}}));
}

void BlobApi::Handle(const std::vector<std::string>& p, const net::HttpRequest& req, net::Exchange& ex) {
  const std::string& m = req.method;
  auto fail = [&](const Error& e) { ex.Respond(ErrorResponse(e)); };
  if (p.size() == 2 && p[1] == "missing") {
    if (m != "POST") return fail(Error(ErrorCode::kInvalidArgument, "method " + m + " is not allowed on " + req.path));
    return Missing(req, ex);
  }
  if (p.size() == 2 && p[1] == "batch") {
    if (m != "POST") return fail(Error(ErrorCode::kInvalidArgument, "method " + m + " is not allowed on " + req.path));
    return Batch(req, ex);
  }
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
