// Plain HTTP request/response values shared by the server, the client and the
// API layer. No Boost here: only the two Beast translation units
// (http_server.cpp, http_client.cpp) see Beast.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace lattice::net {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: path plus optional "?query"
  std::string path;    // percent-decoded path without the query
  std::map<std::string, std::string> query;  // percent-decoded query parameters
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string peer;  // remote address, for logs

  // First header with this lower-case name, or "" when absent.
  const std::string& Header(const std::string& lower_name) const;
};

// Bytes of a file sent as a response body instead of `body`: the server reads
// them in chunks as the socket drains, so a large blob never sits in memory.
struct FileBody {
  std::string path;
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::optional<FileBody> file;  // when set, the body (Content-Length: file->length)
};

// Splits "a/b?c=d&e=%20" into a decoded path and decoded query map.
// Returns false for a malformed percent escape. In the query '+' decodes to a
// space (form encoding), a key without '=' maps to "", empty pairs are skipped
// and the first occurrence of a repeated key wins; a '#fragment' is ignored.
bool ParseTarget(const std::string& target, std::string* path,
                 std::map<std::string, std::string>* query);
// Decodes %XX escapes ('+' stays '+'); sets *ok (may be null) to false and
// returns "" for a malformed escape.
std::string PercentDecode(const std::string& s, bool* ok);
// Escapes every byte except the unreserved A-Z a-z 0-9 - _ . ~ (so '/' too):
// suitable for one path segment or one query key or value.
std::string PercentEncode(const std::string& s);

}  // namespace lattice::net
