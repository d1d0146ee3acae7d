// Small helpers shared by the API's route handlers (api_service, blob_api,
// metrics_api, artifact_api): JSON answers, query parameters, ids.
#pragma once

#include <charconv>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/result.h"
#include "net/http_types.h"

namespace lattice {

// Maps the error model onto HTTP: status and {"error":{code,message,field}}.
net::HttpResponse ErrorResponse(const Error& error);
int HttpStatusFor(ErrorCode code);

net::HttpResponse JsonResponse(int status, const Json& body);

// Split("a//b/c", '/') -> {"a", "b", "c"}: empty parts are dropped.
std::vector<std::string> Split(const std::string& text, char separator);
inline std::vector<std::string> SplitPath(const std::string& path) { return Split(path, '/'); }

Result<int> ParseExperimentId(const std::string& s);
Result<int64_t> ParseAttemptId(const std::string& s);

// The text of query parameter `key` as an integer within [min, max].
template <typename T>
Result<T> ParseQueryNumber(const char* key, const std::string& text, T min, T max) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || p != text.data() + text.size() || v < min || v > max)
    return Error(ErrorCode::kInvalidArgument,
                 std::string("query parameter '") + key + "' must be an integer from " + std::to_string(min) +
                     " to " + std::to_string(max) + ", got '" + text.substr(0, 40) + "'",
                 key);
  return v;
}

// An integer query parameter within [min, max], or fallback when absent.
template <typename T>
Result<T> QueryNumber(const net::HttpRequest& req, const char* key, T fallback, T min, T max) {
  auto it = req.query.find(key);
  if (it == req.query.end() || it->second.empty()) return fallback;
  return ParseQueryNumber(key, it->second, min, max);
}

// A JSON number, or "NaN" / "Infinity" / "-Infinity" (JSON has no literal).
Json NumberToJson(double v);

}  // namespace lattice
