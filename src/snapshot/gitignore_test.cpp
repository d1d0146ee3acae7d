// Cases follow gitignore(5): each test names the rule it proves, and its
// table gives paths that must and must not be ignored.
#include "snapshot/gitignore.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace lattice::snapshot {
namespace {

struct Case {
  const char* path;
  bool is_dir;
  bool ignored;
};
constexpr bool kDir = true;
constexpr bool kFile = false;

// Checks each case against one root-level ignore file. `full` selects git's
// complete answer (parents included) over the pattern-only answer.
void ExpectCases(const std::string& patterns, const std::vector<Case>& cases,
                 bool full = true) {
  IgnoreRules rules;
  ASSERT_TRUE(rules.AddFile("", patterns, ".gitignore").ok());
  for (const Case& c : cases) {
    const bool got = full ? rules.IsIgnored(c.path, c.is_dir)
                          : rules.IsIgnoredInIncludedDir(c.path, c.is_dir);
    EXPECT_EQ(got, c.ignored) << "patterns:\n" << patterns << "\npath: " << c.path
                              << (c.is_dir ? " (dir)" : " (file)");
  }
}

TEST(IgnoreRules, BlankLinesAndCommentsMatchNothing) {
  ExpectCases("\n# comment\n   \n#*.py\n", {{"a.py", kFile, false}, {"# comment", kFile, false}});
}

TEST(IgnoreRules, BackslashEscapesLeadingHashAndBang) {
  ExpectCases("\\#notes\n\\!important!.txt\n", {
      {"#notes", kFile, true},
      {"notes", kFile, false},
      {"!important!.txt", kFile, true},
      {"important!.txt", kFile, false},
  });
}

TEST(IgnoreRules, TrailingSpacesIgnoredUnlessEscaped) {
  ExpectCases("a.txt   \nb\\ \n", {
      {"a.txt", kFile, true},
      {"a.txt   ", kFile, false},
      {"b ", kFile, true},
      {"b", kFile, false},
  });
}

TEST(IgnoreRules, CrlfLineEndingsAndBomAreStripped) {
  ExpectCases("\xEF\xBB\xBF*.o\r\n*.a\r\n", {{"x.o", kFile, true}, {"x.a", kFile, true}});
}

TEST(IgnoreRules, PatternWithoutSlashMatchesAtAnyDepth) {
  ExpectCases("hello.*\n", {
      {"hello.txt", kFile, true},
      {"a/b/hello.c", kFile, true},
      {"hello.d", kDir, true},
      {"hello", kFile, false},
      {"ahello.txt", kFile, false},
  });
}

TEST(IgnoreRules, TrailingSlashMatchesDirectoriesOnly) {
  ExpectCases("frotz/\n", {
      {"frotz", kDir, true},
      {"a/frotz", kDir, true},
      {"frotz", kFile, false},
      {"a/frotz", kFile, false},
  });
}

TEST(IgnoreRules, SlashInMiddleAnchorsToIgnoreFileDirectory) {
  ExpectCases("doc/frotz/\n", {
      {"doc/frotz", kDir, true},
      {"a/doc/frotz", kDir, false},
  });
  ExpectCases("doc/frotz\n", {
      {"doc/frotz", kFile, true},
      {"doc/frotz", kDir, true},
      {"a/doc/frotz", kFile, false},
  });
}

TEST(IgnoreRules, LeadingSlashAnchorsToRoot) {
  ExpectCases("/bin\n", {{"bin", kDir, true}, {"a/bin", kDir, false}, {"bin2", kDir, false}});
}

TEST(IgnoreRules, StarDoesNotCrossSlash) {
  // gitignore(5): "foo/*" matches foo/test.json and foo/bar, not foo/bar/hello.c.
  ExpectCases("foo/*\n", {
      {"foo/test.json", kFile, true},
      {"foo/bar", kDir, true},
      {"foo/bar/hello.c", kFile, false},
      {"foo", kDir, false},
  }, /*full=*/false);
}

TEST(IgnoreRules, QuestionMarkMatchesOneNonSlashCharacter) {
  ExpectCases("a?c\nx/?/y\n", {
      {"abc", kFile, true},
      {"ac", kFile, false},
      {"abbc", kFile, false},
      {"x/z/y", kFile, true},
      {"x//y", kFile, false},
  });
}

TEST(IgnoreRules, BracketClassesRangesNegationAndPosixNames) {
  ExpectCases("file[0-9].txt\n[!a]x\n[]]y\n[[:upper:]]z\n[a-]w\n", {
      {"file3.txt", kFile, true},
      {"filea.txt", kFile, false},
      {"bx", kFile, true},
      {"ax", kFile, false},
      {"]y", kFile, true},
      {"Qz", kFile, true},
      {"qz", kFile, false},
      {"-w", kFile, true},
      {"aw", kFile, true},
      {"bw", kFile, false},
  });
}

TEST(IgnoreRules, BracketNeverMatchesSlash) {
  ExpectCases("a[/]b\na[!x]c\n", {{"a/b", kFile, false}, {"a/c", kFile, false}},
              /*full=*/false);
}

TEST(IgnoreRules, MalformedPatternsMatchNothing) {
  ExpectCases("[abc\nfoo\\\n[[:nosuchclass:]]\n", {
      {"[abc", kFile, false},
      {"a", kFile, false},
      {"foo", kFile, false},
      {"foo\\", kFile, false},
  });
}

TEST(IgnoreRules, LeadingDoubleStarMatchesInAllDirectories) {
  ExpectCases("**/foo\n**/x/bar\n", {
      {"foo", kFile, true},
      {"a/b/foo", kDir, true},
      {"x/bar", kFile, true},
      {"a/x/bar", kFile, true},
      {"a/x/y/bar", kFile, false},
  });
}

TEST(IgnoreRules, TrailingDoubleStarMatchesEverythingInside) {
  ExpectCases("abc/**\n", {
      {"abc/x", kFile, true},
      {"abc/x/y", kFile, true},
      {"abc", kDir, false},
      {"a/abc/x", kFile, false},
  }, /*full=*/false);
}

TEST(IgnoreRules, MiddleDoubleStarMatchesZeroOrMoreDirectories) {
  ExpectCases("a/**/b\n", {
      {"a/b", kFile, true},
      {"a/x/b", kFile, true},
      {"a/x/y/b", kFile, true},
      {"a/xb", kFile, false},
      {"c/a/b", kFile, false},
  });
}

TEST(IgnoreRules, OtherConsecutiveStarsAreRegularStars) {
  ExpectCases("a**b\n/x/**y\n", {
      {"aXYb", kFile, true},
      {"a/b", kFile, false},
      {"x/zy", kFile, true},
      {"x/z/y", kFile, false},
  }, /*full=*/false);
}

TEST(IgnoreRules, NegationReincludesAndLastMatchWins) {
  ExpectCases("*.log\n!important.log\n", {
      {"debug.log", kFile, true},
      {"important.log", kFile, false},
      {"sub/important.log", kFile, false},
  });
  ExpectCases("!important.log\n*.log\n", {{"important.log", kFile, true}});
}

TEST(IgnoreRules, CannotReincludeFileInsideExcludedDirectory) {
  ExpectCases("build/\n!build/keep.txt\n", {
      {"build", kDir, true},
      {"build/keep.txt", kFile, true},
  });
}

TEST(IgnoreRules, DocumentedExampleExcludeAllButFooBar) {
  ExpectCases("/*\n!/foo\n/foo/*\n!/foo/bar\n", {
      {"top.txt", kFile, true},
      {"foo", kDir, false},
      {"foo/baz", kFile, true},
      {"foo/bar", kDir, false},
      {"foo/bar/deep.py", kFile, false},
  });
}

TEST(IgnoreRules, NestedFileAppliesOnlyUnderItsDirectory) {
  IgnoreRules rules;
  ASSERT_TRUE(rules.AddFile("sub", "*.log\n/only\nx/y\n", "sub/.gitignore").ok());
  EXPECT_TRUE(rules.IsIgnored("sub/a.log", kFile));
  EXPECT_TRUE(rules.IsIgnored("sub/deep/a.log", kFile));
  EXPECT_FALSE(rules.IsIgnored("a.log", kFile));
  EXPECT_FALSE(rules.IsIgnored("subx/a.log", kFile));
  EXPECT_TRUE(rules.IsIgnored("sub/only", kFile));
  EXPECT_FALSE(rules.IsIgnored("sub/deep/only", kFile));
  EXPECT_TRUE(rules.IsIgnored("sub/x/y", kFile));
  EXPECT_FALSE(rules.IsIgnored("x/y", kFile));
}

TEST(IgnoreRules, DeeperFileOverridesShallowerRegardlessOfAddOrder) {
  IgnoreRules rules;
  ASSERT_TRUE(rules.AddFile("sub", "!keep.txt\n", "sub/.gitignore").ok());
  ASSERT_TRUE(rules.AddFile("", "*.txt\n", ".gitignore").ok());
  EXPECT_FALSE(rules.IsIgnored("sub/keep.txt", kFile));
  EXPECT_TRUE(rules.IsIgnored("keep.txt", kFile));
  EXPECT_TRUE(rules.IsIgnored("sub/other.txt", kFile));
}

TEST(IgnoreRules, LaterFileInSameDirectoryWins) {
  IgnoreRules rules;
  ASSERT_TRUE(rules.AddFile("", "data.csv\n", ".gitignore").ok());
  ASSERT_TRUE(rules.AddFile("", "!data.csv\n", ".latticeignore").ok());
  EXPECT_FALSE(rules.IsIgnored("data.csv", kFile));
}

TEST(IgnoreRules, BaseDirectoryIsNormalisedAndMustStayInside) {
  IgnoreRules rules;
  ASSERT_TRUE(rules.AddFile("./a//b/", "x\n", "a/b/.gitignore").ok());
  EXPECT_TRUE(rules.IsIgnored("a/b/x", kFile));
  EXPECT_EQ(rules.AddFile("../up", "x\n", "bad").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(rules.AddFile("/abs", "x\n", "bad").error().code, ErrorCode::kInvalidArgument);
}

TEST(IgnoreRules, ExplainNamesDecidingPatternOrExcludedParent) {
  IgnoreRules rules;
  ASSERT_TRUE(rules.AddFile("", "*.pt\nbuild/\n", ".gitignore").ok());
  ASSERT_TRUE(rules.AddFile("src", "# x\n!keep.pt\n", "src/.latticeignore").ok());
  EXPECT_EQ(rules.Explain("m.pt", kFile), ".gitignore:1: *.pt");
  EXPECT_EQ(rules.Explain("src/keep.pt", kFile), "src/.latticeignore:2: !keep.pt");
  EXPECT_EQ(rules.Explain("build/a.py", kFile),
            ".gitignore:2: build/ (excludes parent directory build)");
  EXPECT_EQ(rules.Explain("a.py", kFile), "");
  EXPECT_EQ(rules.pattern_count(), 3u);
}

TEST(Glob, PathologicalPatternRunsInLinearTime) {
  const Glob glob("*a*a*a*a*a*a*a*a*a*a*a*a*b");
  const std::string text(5000, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(glob.Matches(text));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

}  // namespace
}  // namespace lattice::snapshot
