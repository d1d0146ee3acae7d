// The web UI's static files (web/dist, built by Vite), served for every GET
// or HEAD outside /api/. They hold no data, so they need no token; the page
// calls the API with the token like any other client.
//
//   /, /runs/foo, /nodes   -> index.html (client-side routes; no-cache, CSP)
//   /assets/app-1a2b.js    -> the file (hashed name: cached for a year)
//   /assets/nope.js        -> 404 (a name with an extension is a file)
//
// Files are read at request time, so a rebuilt UI needs no restart.
// Thread-compatible; the server's loop thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/result.h"
#include "net/http_types.h"

namespace lattice {

// Where the built UI may be, in order: `given` alone when not empty (it must
// then be a directory), else <exe dir>/../web/dist (the repository's layout:
// build/lattice) and <exe dir>/../share/lattice/web (an installed layout).
Result<std::vector<std::filesystem::path>> WebDirCandidates(const std::string& given, const std::string& self_exe);

// --- the pure parts, for tests ------------------------------------------------

// The file a request path names, relative to the UI directory ("" for "/",
// which is index.html). The path is percent-decoded already (the HTTP layer
// does it, so %2e%2e arrives as ".."). Refused (kInvalidArgument): a ".." or
// "." segment, a backslash, a NUL byte or any control character.
Result<std::string> WebRelativePath(const std::string& decoded_path);
// True when a missing file should get index.html: its last segment has no
// '.', so it is one of the UI's own routes, not a file.
bool IsClientRoute(const std::string& relative);
// By extension (html, js, mjs, css, svg, png, ico, json, map, woff2, txt,
// wasm); application/octet-stream otherwise.
std::string ContentTypeFor(const std::string& relative);
// A strong validator from the file's size and modification time (quoted).
std::string WebETag(uint64_t size, int64_t mtime_ns);
// Whether an If-None-Match header matches etag ("*", or one of a list).
bool ETagMatches(const std::string& if_none_match, const std::string& etag);

// --- serving --------------------------------------------------------------------

class WebUi final {
 public:
  explicit WebUi(std::vector<std::filesystem::path> candidates) : candidates_(std::move(candidates)) {}

  // GET or HEAD of a path outside /api/ (the server omits a HEAD's body).
  net::HttpResponse Serve(const net::HttpRequest& req) const;

 private:
  // The first candidate that holds index.html now; empty when none does.
  std::filesystem::path Dir() const;
  net::HttpResponse File(const std::filesystem::path& dir, const std::string& relative,
                         const net::HttpRequest& req) const;

  std::vector<std::filesystem::path> candidates_;
};

}  // namespace lattice
