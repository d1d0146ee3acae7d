#include "cli/requirements_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/test_util.h"

namespace lattice::cli {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using lattice::testing::TempDir;

TEST(PyprojectDependencies, ReadsTheProjectArrayAcrossLinesWithComments) {
  auto deps = PyprojectDependencies(R"(
[build-system]
requires = ["setuptools>=61"]  # not ours

[project]
name = "demo"
description = """A "multi-line"
description with [brackets] and dependencies = ["no"]"""
authors = [{name = "A", email = 'a@b.c'}]
dependencies = [
  "requests==2.32.3",  # pinned
  'six',
  "tomli; python_version < \"3.11\"",
]
version = '1.0'

[project.optional-dependencies]
dev = ["pytest"]
)",
                                    "pyproject.toml");
  ASSERT_TRUE(deps.ok()) << deps.error().message;
  EXPECT_THAT(*deps, ElementsAre("requests==2.32.3", "six", "tomli; python_version < \"3.11\""));
}

TEST(PyprojectDependencies, NoProjectTableOrKeyMeansNone) {
  auto none = PyprojectDependencies("[tool.black]\nline-length = 100\n", "p");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  // An array table named like the project is not the project table.
  auto other = PyprojectDependencies("[[project]]\ndependencies = [\"x\"]\n", "p");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->empty());
}

TEST(PyprojectDependencies, DottedKeyAtTopLevelCounts) {
  auto deps = PyprojectDependencies("project.dependencies = [\"a\", \"b\"]\n", "p");
  ASSERT_TRUE(deps.ok());
  EXPECT_THAT(*deps, ElementsAre("a", "b"));
}

TEST(PyprojectDependencies, EscapesAreDecoded) {
  auto deps = PyprojectDependencies("[project]\ndependencies = [\"caf\\u00e9\\t\"]\n", "p");
  ASSERT_TRUE(deps.ok());
  EXPECT_THAT(*deps, ElementsAre("caf\xc3\xa9\t"));
}

TEST(PyprojectDependencies, MalformedArrayNamesTheLine) {
  auto r = PyprojectDependencies("[project]\nname = \"x\"\ndependencies = [\n  \"a\"\n  \"b\"\n]\n", "pyproject.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("pyproject.toml line 5"));
  EXPECT_THAT(r.error().message, HasSubstr("expected ',' or ']'"));
}

TEST(PyprojectDependencies, NonStringsAndUnclosedThingsAreErrors) {
  EXPECT_FALSE(PyprojectDependencies("[project]\ndependencies = [1]\n", "p").ok());
  EXPECT_FALSE(PyprojectDependencies("[project]\ndependencies = \"a\"\n", "p").ok());
  EXPECT_FALSE(PyprojectDependencies("[project]\ndependencies = [\"a\"\n", "p").ok());
  EXPECT_FALSE(PyprojectDependencies("[project]\nname = \"x\n", "p").ok());
  EXPECT_FALSE(PyprojectDependencies("[project\n", "p").ok());
  EXPECT_FALSE(PyprojectDependencies("[project]\nname \"x\"\n", "p").ok());
  EXPECT_FALSE(PyprojectDependencies("[project]\nx = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                                     "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n",
                                     "p")
                   .ok());
}

TEST(PyprojectDependencies, DynamicDependenciesAskForARequirementsFile) {
  auto r = PyprojectDependencies("[project]\ndynamic = [\"version\", \"dependencies\"]\n", "pyproject.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("--requirements FILE"));
}

TEST(InlineIncludes, IncludedFilesAreInlinedRelativeToTheIncluder) {
  TempDir dir;
  ASSERT_TRUE(fs::MakeDirs(dir.path() / "reqs").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "reqs" / "base.txt", "six==1.16.0\n").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "reqs" / "main.txt", "-r base.txt\nrequests\n").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "requirements.txt", "--requirement=reqs/main.txt\nattrs # x\n").ok());
  auto text = InlineIncludes(dir.path() / "requirements.txt");
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(*text, "six==1.16.0\nrequests\nattrs # x\n");
}

TEST(InlineIncludes, CyclesAndMissingFilesAreNamed) {
  TempDir dir;
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "a.txt", "-r b.txt\n").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "b.txt", "x\n-r a.txt\n").ok());
  auto cycle = InlineIncludes(dir.path() / "a.txt");
  ASSERT_FALSE(cycle.ok());
  EXPECT_THAT(cycle.error().message, HasSubstr("includes itself"));
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "c.txt", "ok\n-r nope.txt\n").ok());
  auto missing = InlineIncludes(dir.path() / "c.txt");
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("c.txt line 2"));
  EXPECT_THAT(missing.error().message, HasSubstr("nope.txt"));
}

TEST(FindRequirements, ExplicitFileThenRequirementsTxtThenPyproject) {
  TempDir dir;
  auto none = FindRequirements(dir.path(), "");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->text.empty());
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "pyproject.toml", "[project]\ndependencies = [\"a\", \"b>=2\"]\n").ok());
  auto py = FindRequirements(dir.path(), "");
  ASSERT_TRUE(py.ok());
  EXPECT_EQ(py->text, "a\nb>=2\n");
  EXPECT_EQ(py->source, "pyproject.toml");
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "requirements.txt", "c\n").ok());
  auto txt = FindRequirements(dir.path(), "");
  ASSERT_TRUE(txt.ok());
  EXPECT_EQ(txt->text, "c\n");
  EXPECT_EQ(txt->source, "requirements.txt");
  ASSERT_TRUE(fs::WriteFileAtomic(dir.path() / "other.txt", "d\n").ok());
  auto given = FindRequirements(dir.path(), (dir.path() / "other.txt").string());
  ASSERT_TRUE(given.ok());
  EXPECT_EQ(given->text, "d\n");
  auto missing = FindRequirements(dir.path(), (dir.path() / "absent.txt").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.error().message, HasSubstr("absent.txt"));
}

}  // namespace
}  // namespace lattice::cli
