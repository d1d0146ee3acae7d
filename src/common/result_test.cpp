#include "common/result.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <set>
#include <string>

namespace lattice {
namespace {

Status FailWith(ErrorCode code, const std::string& message) { return Error(code, message, "f"); }

Result<int> Number(bool ok, int value = 7) {
  if (!ok) return Error(ErrorCode::kNotFound, "no number");
  return value;
}

// Counts how often the macros evaluate their argument.
int g_calls = 0;
Result<int> Counted(bool ok) {
  ++g_calls;
  return Number(ok);
}

Status ReturnIfError(Status inner, bool* reached_end) {
  LATTICE_RETURN_IF_ERROR(inner);
  *reached_end = true;
  return OkStatus();
}

Result<int> AssignOrReturn(bool ok) {
  LATTICE_ASSIGN_OR_RETURN(int v, Number(ok, 20));
  return v + 1;
}

// Two uses in one function must not collide (the temporary is named by line).
Result<int> AssignTwice(bool first_ok, bool second_ok) {
  LATTICE_ASSIGN_OR_RETURN(int a, Number(first_ok, 1));
  LATTICE_ASSIGN_OR_RETURN(int b, Number(second_ok, 2));
  return a + b;
}

// Assigning into an existing lvalue, as the store does with run.spec.
Result<std::string> AssignIntoExisting(bool ok) {
  std::string out = "unchanged";
  struct Holder {
    int n = 0;
  } h;
  LATTICE_ASSIGN_OR_RETURN(h.n, Number(ok, 5));
  out = std::to_string(h.n);
  return out;
}

Result<std::unique_ptr<int>> MakeUnique(bool ok) {
  if (!ok) return Error(ErrorCode::kInternal, "nope");
  return std::make_unique<int>(42);
}

Result<int> MoveOnly(bool ok) {
  LATTICE_ASSIGN_OR_RETURN(std::unique_ptr<int> p, MakeUnique(ok));
  return *p;
}

Status CountedReturnIfError(bool ok) {
  LATTICE_RETURN_IF_ERROR(Counted(ok));
  return OkStatus();
}

TEST(Result, Value_OkAndAccessible) {
  Result<int> r = 3;
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(*r, 3);
  EXPECT_EQ(r.value(), 3);
  *r = 4;
  EXPECT_EQ(r.value(), 4);
}

TEST(Result, Error_NotOkAndCarriesCodeMessageField) {
  Result<std::string> r = Error(ErrorCode::kInvalidArgument, "bad thing", "resources.gpus");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "bad thing");
  EXPECT_EQ(r.error().field, "resources.gpus");
}

TEST(Result, ArrowOperator_ReachesMembers) {
  Result<std::string> r = std::string("abc");
  EXPECT_EQ(r->size(), 3u);
}

TEST(Result, MoveOnlyValue_MovesOut) {
  Result<std::unique_ptr<int>> r = MakeUnique(true);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 42);
}

TEST(Result, MoveOutError_KeepsEverything) {
  Result<int> r = Error(ErrorCode::kIo, "disk full", "path");
  Error e = std::move(r).error();
  EXPECT_EQ(e.code, ErrorCode::kIo);
  EXPECT_EQ(e.message, "disk full");
  EXPECT_EQ(e.field, "path");
}

TEST(Status, OkStatus_IsOk) {
  Status st = OkStatus();
  EXPECT_TRUE(st.ok());
}

TEST(Error, Wrap_PrefixesContextAndKeepsCodeAndField) {
  Error e(ErrorCode::kNotFound, "no such file", "script");
  Error w = e.Wrap("reading train.py");
  EXPECT_EQ(w.message, "reading train.py: no such file");
  EXPECT_EQ(w.code, ErrorCode::kNotFound);
  EXPECT_EQ(w.field, "script");
  // The original is untouched.
  EXPECT_EQ(e.message, "no such file");
}

TEST(Error, WrapTwice_NestsOutermostFirst) {
  Error e = Error(ErrorCode::kIo, "EIO").Wrap("writing log").Wrap("attempt 3");
  EXPECT_EQ(e.message, "attempt 3: writing log: EIO");
}

TEST(ReturnIfError, OkStatus_FallsThrough) {
  bool reached = false;
  EXPECT_TRUE(ReturnIfError(OkStatus(), &reached).ok());
  EXPECT_TRUE(reached);
}

TEST(ReturnIfError, Error_ReturnsItUnchanged) {
  bool reached = false;
  Status st = ReturnIfError(FailWith(ErrorCode::kUnavailable, "peer down"), &reached);
  EXPECT_FALSE(reached);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(st.error().message, "peer down");
  EXPECT_EQ(st.error().field, "f");
}

TEST(ReturnIfError, WorksOnResultOfOtherType_EvaluatesOnce) {
  g_calls = 0;
  EXPECT_TRUE(CountedReturnIfError(true).ok());
  EXPECT_EQ(g_calls, 1);
  Status st = CountedReturnIfError(false);
  EXPECT_EQ(g_calls, 2);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kNotFound);
}

TEST(AssignOrReturn, Ok_DeclaresValue) {
  Result<int> r = AssignOrReturn(true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 21);
}

TEST(AssignOrReturn, Error_PropagatesAcrossValueTypes) {
  Result<int> r = AssignOrReturn(false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().message, "no number");
}

TEST(AssignOrReturn, TwiceInOneFunction_BothWorkAndFirstErrorWins) {
  EXPECT_EQ(*AssignTwice(true, true), 3);
  EXPECT_FALSE(AssignTwice(false, true).ok());
  EXPECT_FALSE(AssignTwice(true, false).ok());
}

TEST(AssignOrReturn, IntoExistingLvalue_Assigns) {
  EXPECT_EQ(*AssignIntoExisting(true), "5");
  EXPECT_FALSE(AssignIntoExisting(false).ok());
}

TEST(AssignOrReturn, MoveOnlyValue_Moves) {
  EXPECT_EQ(*MoveOnly(true), 42);
  ASSERT_FALSE(MoveOnly(false).ok());
  EXPECT_EQ(MoveOnly(false).error().code, ErrorCode::kInternal);
}

TEST(ErrorCodeName, EveryCode_HasADistinctSnakeCaseName) {
  const ErrorCode all[] = {ErrorCode::kInvalidArgument, ErrorCode::kNotFound,          ErrorCode::kAlreadyExists,
                           ErrorCode::kFailedPrecondition, ErrorCode::kResourceExhausted,
                           ErrorCode::kUnauthenticated, ErrorCode::kUnavailable,       ErrorCode::kDeadlineExceeded,
                           ErrorCode::kIo,              ErrorCode::kInternal};
  std::set<std::string> names;
  for (ErrorCode c : all) {
    std::string n = ErrorCodeName(c);
    EXPECT_FALSE(n.empty());
    EXPECT_EQ(n.find_first_not_of("abcdefghijklmnopqrstuvwxyz_"), std::string::npos) << n;
    names.insert(n);
  }
  EXPECT_EQ(names.size(), std::size(all));
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kInvalidArgument), "invalid_argument");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kNotFound), "not_found");
  EXPECT_STREQ(ErrorCodeName(ErrorCode::kUnauthenticated), "unauthenticated");
}

struct ErrnoCase {
  int err;
  ErrorCode code;
};

class ErrnoErrorMapping : public ::testing::TestWithParam<ErrnoCase> {};

TEST_P(ErrnoErrorMapping, MapsCodeAndKeepsContextAndStrerror) {
  const ErrnoCase& c = GetParam();
  Error e = ErrnoError("cannot open /x/y", c.err);
  EXPECT_EQ(e.code, c.code) << c.err;
  EXPECT_EQ(e.message, std::string("cannot open /x/y: ") + std::strerror(c.err));
  EXPECT_TRUE(e.field.empty());
}

INSTANTIATE_TEST_SUITE_P(Errnos, ErrnoErrorMapping,
                         ::testing::Values(ErrnoCase{ENOENT, ErrorCode::kNotFound},
                                           ErrnoCase{EEXIST, ErrorCode::kAlreadyExists},
                                           ErrnoCase{EACCES, ErrorCode::kFailedPrecondition},
                                           ErrnoCase{EPERM, ErrorCode::kFailedPrecondition},
                                           ErrnoCase{EIO, ErrorCode::kIo}, ErrnoCase{ENOSPC, ErrorCode::kIo},
                                           ErrnoCase{EISDIR, ErrorCode::kIo}, ErrnoCase{EINVAL, ErrorCode::kIo}));

}  // namespace
}  // namespace lattice
