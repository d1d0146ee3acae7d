#include "server/web_ui.h"

#include <sys/stat.h>

#include <cstdio>

#include "common/fs.h"

namespace lattice {
namespace {

namespace stdfs = std::filesystem;

constexpr const char* kIndex = "index.html";
constexpr const char* kCsp =
    "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

net::HttpResponse Text(int status, const std::string& text) {
  net::HttpResponse r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = text + "\n";
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

// Headers every HTML page gets: it may run no script from elsewhere, be
// framed by nobody, and leaks no URL (which may carry a run's name) onward.
void AddPageHeaders(net::HttpResponse& r) {
  r.headers.emplace_back("Content-Security-Policy", kCsp);
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
}

net::HttpResponse NotBuilt() {
  net::HttpResponse r;
  r.status = 404;
  r.content_type = "text/html; charset=utf-8";
  r.body =
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>Lattice</title></head><body>"
      "<h1>The Lattice web UI is not built</h1>"
      "<p>Build it with <code>bash scripts/build-web.sh</code> in the repository (it runs npm ci and vite build "
      "in web/), or start the server with <code>lattice server --web-dir DIR</code> pointing at a built UI.</p>"
      "<p>The API is at <code>/api/v1/</code>.</p></body></html>\n";
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "no-cache");
  AddPageHeaders(r);
  return r;
}

bool IsInside(const stdfs::path& file, const stdfs::path& dir) {
  std::string f = file.string(), d = dir.string();
  if (!d.empty() && d.back() != '/') d += '/';
  return f.size() > d.size() && f.compare(0, d.size(), d) == 0;
}

}  // namespace

Result<std::vector<stdfs::path>> WebDirCandidates(const std::string& given, const std::string& self_exe) {
  if (!given.empty()) {
    std::error_code ec;
    if (!stdfs::is_directory(given, ec))
      return Error(ErrorCode::kInvalidArgument,
                   "--web-dir " + given + " is not a directory; give the folder of a built UI (web/dist)", "web-dir");
    return std::vector<stdfs::path>{stdfs::absolute(given, ec)};
  }
  stdfs::path bin = stdfs::path(self_exe).parent_path();
  return std::vector<stdfs::path>{bin / ".." / "web" / "dist", bin / ".." / "share" / "lattice" / "web"};
}

Result<std::string> WebRelativePath(const std::string& path) {
  auto refuse = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "refused path: " + why, "path");
  };
  if (path.empty() || path[0] != '/') return refuse("it must start with '/'");
  std::string out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string seg = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    start = slash == std::string::npos ? path.size() + 1 : slash + 1;
    if (seg.empty()) continue;
    if (seg == "." || seg == "..") return refuse("'.' and '..' segments are not allowed");
    for (unsigned char c : seg) {
      if (c == '\\') return refuse("backslashes are not allowed");
      if (c < 0x20 || c == 0x7f) return refuse("control characters (NUL included) are not allowed");
    }
    out += (out.empty() ? "" : "/") + seg;
  }
  return out;
}

bool IsClientRoute(const std::string& relative) {
  size_t slash = relative.rfind('/');
  std::string last = slash == std::string::npos ? relative : relative.substr(slash + 1);
  return last.find('.') == std::string::npos;
}

std::string ContentTypeFor(const std::string& relative) {
  static const std::pair<const char*, const char*> kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
  };
  size_t dot = relative.rfind('.');
  size_t slash = relative.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "application/octet-stream";
  std::string ext = relative.substr(dot);
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (const auto& [suffix, type] : kTypes)
    if (ext == suffix) return type;
  return "application/octet-stream";
}

std::string WebETag(uint64_t size, int64_t mtime_ns) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "\"%llx-%llx\"", static_cast<unsigned long long>(size),
                static_cast<unsigned long long>(mtime_ns));
  return buf;
}

bool ETagMatches(const std::string& header, const std::string& etag) {
  size_t start = 0;
  while (start < header.size()) {
    size_t comma = header.find(',', start);
    std::string item = header.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    start = comma == std::string::npos ? header.size() : comma + 1;
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    item = item.substr(b, e - b + 1);
    if (item.rfind("W/", 0) == 0) item = item.substr(2);  // weak comparison, as If-None-Match asks
    if (item == "*" || item == etag) return true;
  }
  return false;
}

stdfs::path WebUi::Dir() const {
  std::error_code ec;
  for (const auto& dir : candidates_)
    if (stdfs::is_regular_file(dir / kIndex, ec)) return dir;
  return {};
}

net::HttpResponse WebUi::Serve(const net::HttpRequest& req) const {
  auto relative = WebRelativePath(req.path);
  if (!relative.ok()) return Text(400, relative.error().message);
  const stdfs::path dir = Dir();
  if (dir.empty()) return NotBuilt();
  std::error_code ec;
  std::string rel = relative->empty() ? kIndex : *relative;
  if (!stdfs::is_regular_file(dir / rel, ec)) {
    if (!IsClientRoute(rel)) return Text(404, "no such file: " + req.path);
    rel = kIndex;  // one of the UI's own routes: the page finds its way
  }
  return File(dir, rel, req);
}

net::HttpResponse WebUi::File(const stdfs::path& dir, const std::string& relative, const net::HttpRequest& req) const {
  std::error_code ec;
  // Only what really lies inside the directory: a symlink out is refused.
  const stdfs::path root = stdfs::canonical(dir, ec);
  if (ec) return Text(404, "no such file: " + req.path);
  const stdfs::path file = stdfs::canonical(dir / relative, ec);
  if (ec || !IsInside(file, root)) return Text(404, "no such file: " + req.path);
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return Text(404, "no such file: " + req.path);

  net::HttpResponse r;
  r.content_type = ContentTypeFor(relative);
  const std::string etag = WebETag(static_cast<uint64_t>(st.st_size),
                                   static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec);
  r.headers.emplace_back("ETag", etag);
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  // Vite names what it puts under assets/ by content hash: it never changes.
  const bool hashed = relative.rfind("assets/", 0) == 0;
  r.headers.emplace_back("Cache-Control", hashed ? "public, max-age=31536000, immutable" : "no-cache");
  if (relative == kIndex || r.content_type.rfind("text/html", 0) == 0) AddPageHeaders(r);
  if (ETagMatches(req.Header("if-none-match"), etag)) {
    r.status = 304;
    return r;
  }
  auto body = fs::ReadFile(file);
  if (!body.ok()) return Text(404, "no such file: " + req.path);
  r.body = std::move(body).value();
  return r;
}

}  // namespace lattice
