#include "common/redact.h"

#include <gtest/gtest.h>

#include <string>

namespace lattice {
namespace {

TEST(RedactCredentials, UserAndPasswordInAUrlAreMasked) {
  EXPECT_EQ(RedactCredentials("https://user:s3cret@pypi.example.com/simple"), "https://****@pypi.example.com/simple");
  EXPECT_EQ(RedactCredentials("see http://u:p@127.0.0.1:8080/simple/six/ for details"),
            "see http://****@127.0.0.1:8080/simple/six/ for details");
}

TEST(RedactCredentials, ATokenAloneIsMasked) {
  EXPECT_EQ(RedactCredentials("git+https://ghp_abc123@github.com/org/repo.git@v1"),
            "git+https://****@github.com/org/repo.git@v1");
  EXPECT_EQ(RedactCredentials("https://__token__@h/x"), "https://****@h/x");
}

TEST(RedactCredentials, PipAndUvOptionFormsAreMasked) {
  EXPECT_EQ(RedactCredentials("--index-url https://u:p@h/simple"), "--index-url https://****@h/simple");
  EXPECT_EQ(RedactCredentials("-i https://u:p@h/simple"), "-i https://****@h/simple");
  EXPECT_EQ(RedactCredentials("--extra-index-url=https://u:p@h/simple"), "--extra-index-url=https://****@h/simple");
  EXPECT_EQ(RedactCredentials("PIP_INDEX_URL=https://u:p@h/simple"), "PIP_INDEX_URL=https://****@h/simple");
  EXPECT_EQ(RedactCredentials("'https://u:p@h' \"https://t@h2\""), "'https://****@h' \"https://****@h2\"");
}

TEST(RedactCredentials, PipsOwnMaskHidesTheUserToo) {
  EXPECT_EQ(RedactCredentials("Looking in indexes: https://user:****@127.0.0.1:1/simple"),
            "Looking in indexes: https://****@127.0.0.1:1/simple");
  EXPECT_EQ(RedactCredentials("user:****@host"), "****@host");
}

TEST(RedactCredentials, PasswordsWithAtSignsAndSeveralUrlsOnALine) {
  EXPECT_EQ(RedactCredentials("https://u:p@ss@h/a https://v:q@g/b"), "https://****@h/a https://****@g/b");
  EXPECT_EQ(RedactCredentials("https://u:p%40ss@h"), "https://****@h");
}

TEST(RedactCredentials, TextWithoutCredentialsIsUnchanged) {
  for (const char* text : {
           "",
           "Collecting requests==2.32.3",
           "https://pypi.org/simple/requests/",
           "pkg @ https://example.com/pkg-1.0.whl#sha256=ab",
           "git@github.com:org/repo.git",
           "mail me: someone@example.com",
           "https://example.com/@scope/pkg",
           "file:///tmp/wheels",
           "://@ :// @",
           "Successfully installed six-1.16.0",
       }) {
    EXPECT_EQ(RedactCredentials(text), text);
  }
}

TEST(RedactCredentials, RedactingTwiceChangesNothing) {
  for (const char* text : {"https://u:p@h", "a:b:****@c", "x://y://z@w", "https://u@v@w/x:****@y"}) {
    const std::string once = RedactCredentials(text);
    EXPECT_EQ(RedactCredentials(once), once) << text;
  }
}

TEST(RedactCredentials, ArbitraryBytesAreAccepted) {
  const std::string bytes("h\0ttps://\xff\xfe:\x01@\x80/\0", 16);
  const std::string out = RedactCredentials(bytes);
  EXPECT_EQ(RedactCredentials(out), out);
  EXPECT_EQ(RedactCredentials(std::string("https://\xc3\xa9:\xe2\x82\xac@h")), "https://****@h");
}

}  // namespace
}  // namespace lattice
