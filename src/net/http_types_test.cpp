#include "net/http_types.h"

#include <gtest/gtest.h>

#include "net/http_client.h"

namespace lattice::net {
namespace {

TEST(PercentDecode, EscapesOfBothCases_Decode) {
  bool ok = false;
  EXPECT_EQ(PercentDecode("a%20b%2fc%2Fd", &ok), "a b/c/d");
  EXPECT_TRUE(ok);
  EXPECT_EQ(PercentDecode("%e2%82%AC", &ok), "\xe2\x82\xac");
  EXPECT_TRUE(ok);
}

TEST(PercentDecode, PlusStaysPlus_OutsideQueries) {
  bool ok = false;
  EXPECT_EQ(PercentDecode("a+b", &ok), "a+b");
  EXPECT_TRUE(ok);
}

TEST(PercentDecode, EncodedNulAndPercent_Decode) {
  bool ok = false;
  EXPECT_EQ(PercentDecode("%00%25", &ok), std::string("\0%", 2));
  EXPECT_TRUE(ok);
}

TEST(PercentDecode, MalformedEscapes_NotOkAndEmpty) {
  for (const char* bad : {"%", "a%", "%4", "abc%4", "%zz", "%g0", "%0g", "%%", "% 1"}) {
    bool ok = true;
    EXPECT_EQ(PercentDecode(bad, &ok), "") << bad;
    EXPECT_FALSE(ok) << bad;
  }
}

TEST(PercentDecode, NullOkPointer_Tolerated) {
  EXPECT_EQ(PercentDecode("%41", nullptr), "A");
  EXPECT_EQ(PercentDecode("%4", nullptr), "");
}

TEST(PercentEncode, EveryByte_RoundTripsAndOnlyUnreservedStayBare) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string encoded = PercentEncode(all);
  for (char c : encoded) {
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '%' || c == '-' ||
                c == '_' || c == '.' || c == '~')
        << c;
  }
  bool ok = false;
  EXPECT_EQ(PercentDecode(encoded, &ok), all);
  EXPECT_TRUE(ok);
  EXPECT_EQ(PercentEncode("a b/c"), "a%20b%2Fc");
}

TEST(ParseTarget, PathAndQuery_DecodedSeparately) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/runs/my%20run?since=10&name=a%26b", &path, &query));
  EXPECT_EQ(path, "/runs/my run");
  EXPECT_EQ(query, (std::map<std::string, std::string>{{"since", "10"}, {"name", "a&b"}}));
}

TEST(ParseTarget, PlusIsSpaceInQuery_NotInPath) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/a+b?q=x+y%2B", &path, &query));
  EXPECT_EQ(path, "/a+b");
  EXPECT_EQ(query["q"], "x y+");
}

TEST(ParseTarget, EmptyPairsKeyWithoutValueAndEmptyValue) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/p?&&follow&x=&=v&", &path, &query));
  EXPECT_EQ(query, (std::map<std::string, std::string>{{"follow", ""}, {"x", ""}, {"", "v"}}));
}

TEST(ParseTarget, RepeatedKey_FirstWins) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/p?a=1&a=2", &path, &query));
  EXPECT_EQ(query["a"], "1");
}

TEST(ParseTarget, NoQuery_EmptyMapAndStaleContentCleared) {
  std::string path;
  std::map<std::string, std::string> query{{"stale", "1"}};
  ASSERT_TRUE(ParseTarget("/only/path", &path, &query));
  EXPECT_EQ(path, "/only/path");
  EXPECT_TRUE(query.empty());
  ASSERT_TRUE(ParseTarget("/p?", &path, &query));
  EXPECT_EQ(path, "/p");
  EXPECT_TRUE(query.empty());
}

TEST(ParseTarget, FragmentIgnored) {
  std::string path;
  std::map<std::string, std::string> query;
  ASSERT_TRUE(ParseTarget("/p?a=1#frag&b=2", &path, &query));
  EXPECT_EQ(query, (std::map<std::string, std::string>{{"a", "1"}}));
  ASSERT_TRUE(ParseTarget("/p#x?a=1", &path, &query));
  EXPECT_EQ(path, "/p");
  EXPECT_TRUE(query.empty());
}

TEST(ParseTarget, MalformedEscapeAnywhere_False) {
  std::string path;
  std::map<std::string, std::string> query;
  EXPECT_FALSE(ParseTarget("/a%zz", &path, &query));
  EXPECT_FALSE(ParseTarget("/a?k%=v", &path, &query));
  EXPECT_FALSE(ParseTarget("/a?k=v%2", &path, &query));
}

TEST(HttpRequest, Header_FirstMatchOrEmpty) {
  HttpRequest r;
  r.headers = {{"x-a", "1"}, {"x-a", "2"}, {"host", "h"}};
  EXPECT_EQ(r.Header("x-a"), "1");
  EXPECT_EQ(r.Header("host"), "h");
  EXPECT_EQ(r.Header("missing"), "");
}

TEST(ParseUrl, HostPortAndBasePath) {
  auto url = ParseUrl("http://127.0.0.1:8080/prefix/");
  ASSERT_TRUE(url.ok()) << url.error().message;
  EXPECT_EQ(url->host, "127.0.0.1");
  EXPECT_EQ(url->port, 8080);
  EXPECT_EQ(url->base_path, "/prefix");
}

TEST(ParseUrl, DefaultPortAndBracketedV6) {
  auto plain = ParseUrl("http://example.com");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->port, 80);
  EXPECT_EQ(plain->base_path, "");
  auto v6 = ParseUrl("http://[::1]:9000");
  ASSERT_TRUE(v6.ok());
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9000);
}

TEST(ParseUrl, BadUrls_InvalidArgument) {
  for (const char* bad : {"https://h:1", "ftp://h", "h:80", "http://:80", "http://h:0",
                          "http://h:65536", "http://h:8x", "http://h:", "http://[::1",
                          "http://h:1/?q", "http://u@h:1"}) {
    auto url = ParseUrl(bad);
    ASSERT_FALSE(url.ok()) << bad;
    EXPECT_EQ(url.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace lattice::net
