#include "common/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lattice {
namespace {

using ::testing::HasSubstr;

Json J(const char* text) { return Json::parse(text); }

// --- ParseJson ---------------------------------------------------------------

TEST(ParseJson, ValidText_Parses) {
  auto r = ParseJson(R"({"a": [1, "x", null]})");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ((*r)["a"][1], "x");
}

TEST(ParseJson, SyntaxError_InvalidArgumentWithByteOffset) {
  auto r = ParseJson(R"({"a": 1,})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().message, "request body is not valid JSON: syntax error at byte 9");
}

TEST(ParseJson, ErrorNamesWhatWasParsed) {
  auto r = ParseJson("{", "stored spec of run x");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.error().message, HasSubstr("stored spec of run x is not valid JSON"));
  EXPECT_THAT(r.error().message, HasSubstr("at byte"));
}

TEST(ParseJson, OffsetPointsPastLeadingText) {
  auto a = ParseJson("   x");
  auto b = ParseJson("x");
  ASSERT_FALSE(a.ok());
  ASSERT_FALSE(b.ok());
  EXPECT_THAT(a.error().message, HasSubstr("at byte 4"));
  EXPECT_THAT(b.error().message, HasSubstr("at byte 1"));
}

TEST(ParseJson, EmptyAndTruncatedText_Rejected) {
  for (const char* bad : {"", "   ", "[1,2", R"({"a":tru})", R"("unterminated)", "{} trailing"}) {
    auto r = ParseJson(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad;
    }
  }
}

TEST(ParseJson, NulByteAfterValidText_RejectedNotTruncated) {
  // nlohmann alone would stop at the NUL and accept {"a":1}.
  std::string text("{\"a\":1}\0{\"b\":2}", 15);
  auto r = ParseJson(text);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "request body is not valid JSON: NUL byte at byte 8");
}

TEST(ParseJson, EscapedNulInsideString_Accepted) {
  auto r = ParseJson(R"({"a":"x\u0000y"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)["a"].get<std::string>(), std::string("x\0y", 3));
}

TEST(ParseJson, NumberTooLargeForADouble_RejectedNotThrown) {
  // nlohmann throws out_of_range (not parse_error) for these; found by fuzz_submit_request.
  for (const char* text : {"1e4649", R"({"cpus":-1e400})"}) {
    auto r = ParseJson(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(r.error().message, "request body is not valid JSON: number out of range");
  }
}

// --- JsonReader: structure -----------------------------------------------------

TEST(JsonReader, NotAnObjectAtTop_SaysBodyMustBeObject) {
  Json arr = J("[1]");
  JsonReader r(arr, "");
  std::string s;
  r.Optional("a", &s);
  Status st = r.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "body must be a JSON object");
}

TEST(JsonReader, NotAnObjectNested_NamesThePath) {
  Json n = J("3");
  JsonReader r(n, "spec.resources");
  Status st = r.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "spec.resources must be a JSON object");
  EXPECT_EQ(st.error().field, "spec.resources");
}

TEST(JsonReader, AllFieldsRead_FinishOkAndValuesSet) {
  Json j = J(R"({"s":"x","i":-5,"n":7,"u":9,"d":1.5,"b":true,"v":["a","b"],"vi":[1,2],"m":{"k":"v"}})");
  JsonReader r(j, "");
  std::string s;
  int64_t i = 0;
  int n = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
  std::vector<std::string> v;
  std::vector<int> vi;
  std::map<std::string, std::string> m;
  r.Required("s", &s);
  r.Required("i", &i);
  r.Optional("n", &n);
  r.Optional("u", &u);
  r.Optional("d", &d);
  r.Optional("b", &b);
  r.Optional("v", &v);
  r.Optional("vi", &vi);
  r.Optional("m", &m);
  ASSERT_TRUE(r.Finish().ok());
  EXPECT_EQ(s, "x");
  EXPECT_EQ(i, -5);
  EXPECT_EQ(n, 7);
  EXPECT_EQ(u, 9u);
  EXPECT_EQ(d, 1.5);
  EXPECT_TRUE(b);
  EXPECT_EQ(v, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(vi, (std::vector<int>{1, 2}));
  EXPECT_EQ(m, (std::map<std::string, std::string>{{"k", "v"}}));
}

TEST(JsonReader, AbsentOrNullOptional_LeavesDefault) {
  Json j = J(R"({"a": null})");
  JsonReader r(j, "");
  std::string a = "default-a", b = "default-b";
  int64_t c = 42;
  r.Optional("a", &a);
  r.Optional("b", &b);
  r.Optional("c", &c);
  ASSERT_TRUE(r.Finish().ok());
  EXPECT_EQ(a, "default-a");
  EXPECT_EQ(b, "default-b");
  EXPECT_EQ(c, 42);
}

TEST(JsonReader, NestedObjectAndArray_ReturnedOrNull) {
  Json j = J(R"({"o": {"x": 1}, "a": [1]})");
  JsonReader r(j, "");
  const Json* o = r.OptionalObject("o");
  const Json* a = r.OptionalArray("a");
  const Json* missing = r.OptionalObject("missing");
  ASSERT_NE(o, nullptr);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(missing, nullptr);
  EXPECT_EQ((*o)["x"], 1);
  EXPECT_TRUE(r.Finish().ok());
}

// --- JsonReader: unknown and required fields ----------------------------------

TEST(JsonReader, UnknownField_NamedWithKnownFieldsListed) {
  Json j = J(R"({"script": "a.py", "gpu": 1, "args": []})");
  JsonReader r(j, "");
  std::string script;
  std::vector<std::string> args;
  int gpus = 0;
  r.Optional("script", &script);
  r.Optional("args", &args);
  r.Optional("gpus", &gpus);
  Status st = r.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.error().field, "gpu");
  EXPECT_EQ(st.error().message, "unknown field 'gpu' (known fields: args, gpus, script)");
}

TEST(JsonReader, UnknownNestedField_NamesDottedPath) {
  Json j = J(R"({"cpus": 2, "gpuz": 1})");
  JsonReader r(j, "spec.resources");
  double cpus = 0;
  r.Optional("cpus", &cpus);
  Status st = r.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().field, "spec.resources.gpuz");
  EXPECT_THAT(st.error().message, HasSubstr("unknown field 'spec.resources.gpuz'"));
  EXPECT_THAT(st.error().message, HasSubstr("known fields: cpus"));
}

TEST(JsonReader, UnknownFieldButNothingRead_ListsNoKnownFields) {
  Json j = J(R"({"x": 1})");
  JsonReader r(j, "");
  Status st = r.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "unknown field 'x' (known fields: )");
}

TEST(JsonReader, RequiredMissing_NamesField) {
  Json j = J(R"({})");
  JsonReader r(j, "spec");
  std::string script;
  r.Required("script", &script);
  Status st = r.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "field 'spec.script' is required");
  EXPECT_EQ(st.error().field, "spec.script");
}

TEST(JsonReader, RequiredNull_CountsAsMissing) {
  Json j = J(R"({"id": null})");
  JsonReader r(j, "");
  int64_t id = 0;
  r.Required("id", &id);
  Status st = r.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "field 'id' is required");
}

TEST(JsonReader, RequiredWrongType_IsATypeErrorNotMissing) {
  Json j = J(R"({"id": "7"})");
  JsonReader r(j, "");
  int64_t id = 0;
  r.Required("id", &id);
  Status st = r.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "field 'id' must be an integer");
}

TEST(JsonReader, FirstErrorSticks_LaterReadsAreNoOps) {
  Json j = J(R"({"a": 1, "b": "x", "c": "y"})");
  JsonReader r(j, "");
  std::string a, b, c = "untouched";
  r.Optional("a", &a);  // wrong type: the first error
  r.Optional("b", &b);
  r.Required("missing", &c);
  r.Optional("c", &c);
  Status st = r.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().field, "a");
  EXPECT_EQ(b, "");
  EXPECT_EQ(c, "untouched");
}

TEST(JsonReader, FailRecordsOnlyTheFirst) {
  Json j = J(R"({})");
  JsonReader r(j, "");
  r.Fail(Error(ErrorCode::kInvalidArgument, "first", "x"));
  r.Fail(Error(ErrorCode::kInternal, "second"));
  Status st = r.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "first");
}

TEST(JsonReader, FieldPath_JoinsWithDots) {
  Json j = J("{}");
  EXPECT_EQ(JsonReader(j, "").FieldPath("a"), "a");
  EXPECT_EQ(JsonReader(j, "attempts[2]").FieldPath("id"), "attempts[2].id");
}

// --- JsonReader: wrong types name the dotted path -----------------------------

struct TypeCase {
  const char* json;  // value of field "f"
  const char* kind;  // which reader to use
  const char* expected;
};

class JsonReaderTypes : public ::testing::TestWithParam<TypeCase> {};

TEST_P(JsonReaderTypes, WrongType_NamesPathAndExpectedType) {
  const TypeCase& c = GetParam();
  Json j = Json::parse(std::string(R"({"f": )") + c.json + "}");
  JsonReader r(j, "outer.inner");
  std::string kind = c.kind;
  std::string s;
  int64_t i64 = 0;
  int i = 0;
  uint64_t u = 0;
  double d = 0;
  bool b = false;
  std::vector<std::string> vs;
  std::vector<int> vi;
  std::map<std::string, std::string> m;
  if (kind == "string") r.Optional("f", &s);
  if (kind == "int64") r.Optional("f", &i64);
  if (kind == "int") r.Optional("f", &i);
  if (kind == "uint64") r.Optional("f", &u);
  if (kind == "double") r.Optional("f", &d);
  if (kind == "bool") r.Optional("f", &b);
  if (kind == "strings") r.Optional("f", &vs);
  if (kind == "ints") r.Optional("f", &vi);
  if (kind == "map") r.Optional("f", &m);
  if (kind == "object") {
    EXPECT_EQ(r.OptionalObject("f"), nullptr);
  }
  if (kind == "array") {
    EXPECT_EQ(r.OptionalArray("f"), nullptr);
  }
  Status st = r.Finish();
  ASSERT_FALSE(st.ok()) << c.json << " as " << kind;
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.error().field, "outer.inner.f");
  EXPECT_EQ(st.error().message, std::string("field 'outer.inner.f' must be ") + c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    Kinds, JsonReaderTypes,
    ::testing::Values(TypeCase{"1", "string", "a string"}, TypeCase{"\"1\"", "int64", "an integer"},
                      TypeCase{"1.5", "int64", "an integer"}, TypeCase{"true", "int", "an integer"},
                      TypeCase{"4294967296", "int", "a 32-bit integer"},
                      TypeCase{"-2147483649", "int", "a 32-bit integer"},
                      // 2^64-1 must not wrap to -1.
                      TypeCase{"18446744073709551615", "int64", "an integer"},
                      TypeCase{"18446744073709551615", "int", "an integer"},
                      TypeCase{"-1", "uint64", "a non-negative integer"},
                      TypeCase{"1.0", "uint64", "a non-negative integer"},
                      TypeCase{"\"1.5\"", "double", "a number"}, TypeCase{"1", "bool", "true or false"},
                      TypeCase{"\"a\"", "strings", "an array of strings"},
                      TypeCase{"[\"a\", 1]", "strings", "an array of strings"},
                      TypeCase{"[1, \"2\"]", "ints", "an array of integers"},
                      TypeCase{"[1.5]", "ints", "an array of integers"},
                      TypeCase{"[\"k\"]", "map", "an object of strings"},
                      TypeCase{"{\"k\": 1}", "map", "an object whose values are strings"},
                      TypeCase{"[]", "object", "an object"}, TypeCase{"{}", "array", "an array"}));

TEST(JsonReader, IntegersAccepted_AsDoubles) {
  Json j = J(R"({"cpus": 4})");
  JsonReader r(j, "");
  double cpus = 0;
  r.Optional("cpus", &cpus);
  ASSERT_TRUE(r.Finish().ok());
  EXPECT_EQ(cpus, 4.0);
}

TEST(JsonReader, Int32Limits_Accepted) {
  Json j = J(R"({"a": 2147483647, "b": -2147483648, "c": 9223372036854775807})");
  JsonReader r(j, "");
  int a = 0, b = 0;
  int64_t c = 0;
  r.Optional("a", &a);
  r.Optional("b", &b);
  r.Optional("c", &c);
  ASSERT_TRUE(r.Finish().ok());
  EXPECT_EQ(a, INT32_MAX);
  EXPECT_EQ(b, INT32_MIN);
  EXPECT_EQ(c, INT64_MAX);
}

TEST(JsonReader, ArrayOfIntsOutOfInt32Range_Rejected) {
  Json j = J(R"({"gpus": [0, 4294967296]})");
  JsonReader r(j, "");
  std::vector<int> gpus;
  r.Optional("gpus", &gpus);
  EXPECT_FALSE(r.Finish().ok());
}

}  // namespace
}  // namespace lattice
