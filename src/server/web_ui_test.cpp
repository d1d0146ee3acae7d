#include "server/web_ui.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/test_util.h"

namespace lattice {
namespace {

using testing::TempDir;

std::string Header(const net::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (k == name) return v;
  return "";
}

TEST(WebRelativePath, PlainPaths) {
  EXPECT_EQ(*WebRelativePath("/"), "");
  EXPECT_EQ(*WebRelativePath("/index.html"), "index.html");
  EXPECT_EQ(*WebRelativePath("/assets/app-abc123.js"), "assets/app-abc123.js");
  EXPECT_EQ(*WebRelativePath("//runs///x/"), "runs/x");
  EXPECT_EQ(*WebRelativePath("/runs/my run"), "runs/my run");
}

TEST(WebRelativePath, EscapesAreRefused) {
  const std::vector<std::string> refused = {"/../etc/passwd", "/assets/../../x", "/a/./b", "/..", "/a\\b",
                                            "/a\\..\\b", std::string("/a\0b", 4), "/a\nb", "relative", ""};
  for (const std::string& bad : refused) {
    auto r = WebRelativePath(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("refused path"), std::string::npos);
  }
  EXPECT_TRUE(WebRelativePath("/a..b/c.d..e").ok());  // dots inside a name are fine
}

TEST(IsClientRoute, ExtensionlessLastSegments) {
  EXPECT_TRUE(IsClientRoute("runs/foo"));
  EXPECT_TRUE(IsClientRoute("nodes"));
  EXPECT_TRUE(IsClientRoute("v1.2/runs"));
  EXPECT_FALSE(IsClientRoute("assets/nope.js"));
  EXPECT_FALSE(IsClientRoute("favicon.ico"));
}

TEST(ContentTypeFor, KnownExtensionsAndTheRest) {
  EXPECT_EQ(ContentTypeFor("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("assets/a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("assets/a.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("assets/a.CSS"), "text/css; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("logo.svg"), "image/svg+xml");
  EXPECT_EQ(ContentTypeFor("logo.png"), "image/png");
  EXPECT_EQ(ContentTypeFor("favicon.ico"), "image/x-icon");
  EXPECT_EQ(ContentTypeFor("m.json"), "application/json");
  EXPECT_EQ(ContentTypeFor("a.js.map"), "application/json");
  EXPECT_EQ(ContentTypeFor("f.woff2"), "font/woff2");
  EXPECT_EQ(ContentTypeFor("robots.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(ContentTypeFor("x.wasm"), "application/wasm");
  EXPECT_EQ(ContentTypeFor("x.bin"), "application/octet-stream");
  EXPECT_EQ(ContentTypeFor("v1.2/noext"), "application/octet-stream");
}

TEST(ETag, ChangesWithSizeOrTimeAndMatchesLists) {
  std::string e = WebETag(10, 123);
  EXPECT_EQ(e.front(), '"');
  EXPECT_NE(e, WebETag(11, 123));
  EXPECT_NE(e, WebETag(10, 124));
  EXPECT_TRUE(ETagMatches(e, e));
  EXPECT_TRUE(ETagMatches("\"x\", " + e, e));
  EXPECT_TRUE(ETagMatches("W/" + e, e));
  EXPECT_TRUE(ETagMatches("*", e));
  EXPECT_FALSE(ETagMatches("", e));
  EXPECT_FALSE(ETagMatches("\"x\"", e));
}

TEST(WebDirCandidates, GivenMustBeADirectoryElseBesideTheBinary) {
  TempDir dir;
  auto given = WebDirCandidates(dir.path().string(), "/opt/lattice/bin/lattice");
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(given->size(), 1u);
  auto missing = WebDirCandidates((dir.path() / "nope").string(), "/x/lattice");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().field, "web-dir");
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);
  auto found = WebDirCandidates("", "/opt/lattice/bin/lattice");
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0], std::filesystem::path("/opt/lattice/bin/../web/dist"));
  EXPECT_EQ((*found)[1], std::filesystem::path("/opt/lattice/bin/../share/lattice/web"));
}

class WebUiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::MakeDirs(web_ / "assets").ok());
    ASSERT_TRUE(fs::WriteFileAtomic(web_ / "index.html", "<!doctype html><p>ui</p>").ok());
    ASSERT_TRUE(fs::WriteFileAtomic(web_ / "assets" / "app-abc123.js", "console.log(1)").ok());
    ASSERT_TRUE(fs::WriteFileAtomic(web_ / "favicon.ico", "ico").ok());
    ASSERT_TRUE(fs::WriteFileAtomic(dir_.path() / "secret.txt", "secret").ok());
  }
  net::HttpResponse Get(const std::string& path, std::vector<std::pair<std::string, std::string>> headers = {}) {
    net::HttpRequest req;
    req.method = "GET";
    req.path = path;
    req.headers = std::move(headers);
    return ui_.Serve(req);
  }
  TempDir dir_;
  std::filesystem::path web_ = dir_.path() / "web";
  WebUi ui_{{dir_.path() / "missing", web_}};
};

TEST_F(WebUiTest, IndexForTheRootAndClientRoutesWithPageHeaders) {
  for (const char* path : {"/", "/index.html", "/runs/foo", "/nodes", "/assets"}) {
    net::HttpResponse r = Get(path);
    EXPECT_EQ(r.status, 200) << path;
    EXPECT_EQ(r.body, "<!doctype html><p>ui</p>") << path;
    EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
    EXPECT_EQ(Header(r, "Cache-Control"), "no-cache");
    EXPECT_NE(Header(r, "Content-Security-Policy").find("default-src 'self'"), std::string::npos);
    EXPECT_NE(Header(r, "Content-Security-Policy").find("frame-ancestors 'none'"), std::string::npos);
    EXPECT_EQ(Header(r, "Referrer-Policy"), "no-referrer");
    EXPECT_EQ(Header(r, "X-Content-Type-Options"), "nosniff");
    EXPECT_FALSE(Header(r, "ETag").empty());
  }
}

TEST_F(WebUiTest, AssetsAreImmutableAndMissingFilesAre404) {
  net::HttpResponse js = Get("/assets/app-abc123.js");
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.body, "console.log(1)");
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Header(js, "Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(Header(js, "Content-Security-Policy"), "");
  EXPECT_EQ(Get("/favicon.ico").content_type, "image/x-icon");
  net::HttpResponse missing = Get("/assets/nope.js");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.content_type, "text/plain; charset=utf-8");
}

TEST_F(WebUiTest, IfNoneMatch_304WithoutBody) {
  std::string etag = Header(Get("/assets/app-abc123.js"), "ETag");
  net::HttpResponse r = Get("/assets/app-abc123.js", {{"if-none-match", etag}});
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  EXPECT_EQ(Header(r, "ETag"), etag);
  EXPECT_EQ(Get("/assets/app-abc123.js", {{"if-none-match", "\"other\""}}).status, 200);
}

TEST_F(WebUiTest, FilesAreReadAtRequestTime) {
  ASSERT_TRUE(fs::WriteFileAtomic(web_ / "index.html", "<p>rebuilt</p>").ok());
  EXPECT_EQ(Get("/").body, "<p>rebuilt</p>");
}

TEST_F(WebUiTest, EscapesAndSymlinksOutAreRefused) {
  EXPECT_EQ(Get("/../secret.txt").status, 400);
  EXPECT_EQ(Get("/assets/../../secret.txt").status, 400);
  EXPECT_EQ(Get(std::string("/index.html\0x", 12)).status, 400);
  EXPECT_EQ(Get("/assets\\..\\..\\secret.txt").status, 400);
  ASSERT_EQ(::symlink((dir_.path() / "secret.txt").c_str(), (web_ / "assets" / "leak.txt").c_str()), 0);
  ASSERT_EQ(::symlink(dir_.path().c_str(), (web_ / "up").c_str()), 0);
  net::HttpResponse leak = Get("/assets/leak.txt");
  EXPECT_EQ(leak.status, 404);
  EXPECT_EQ(leak.body.find("secret"), std::string::npos);
  EXPECT_EQ(Get("/up/secret.txt").status, 404);
  // A link that stays inside is fine.
  ASSERT_EQ(::symlink((web_ / "favicon.ico").c_str(), (web_ / "icon.ico").c_str()), 0);
  EXPECT_EQ(Get("/icon.ico").status, 200);
}

TEST(WebUi, NotBuilt_404PageSaysHowToBuildIt) {
  TempDir dir;
  WebUi ui({dir.path() / "web" / "dist"});
  net::HttpRequest req;
  req.method = "GET";
  req.path = "/runs/x";
  net::HttpResponse r = ui.Serve(req);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("bash scripts/build-web.sh"), std::string::npos);
  EXPECT_NE(r.body.find("lattice server --web-dir DIR"), std::string::npos);
}

}  // namespace
}  // namespace lattice
