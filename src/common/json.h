// JSON (nlohmann) plus a strict object reader that turns untrusted request
// bodies into typed values with errors naming the offending field.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace lattice {

using Json = nlohmann::json;

// Parses text; a syntax error becomes kInvalidArgument with the byte offset.
Result<Json> ParseJson(std::string_view text, const std::string& what = "request body");

// Reads fields of one JSON object. Every field read is remembered, and
// Finish() reports any field the caller did not read ("unknown field").
// The first error sticks; later reads are no-ops.
class JsonReader {
 public:
  JsonReader(const Json& object, std::string path);

  void Required(const char* key, std::string* out);
  void Optional(const char* key, std::string* out);
  void Optional(const char* key, int64_t* out);
  void Optional(const char* key, int* out);
  void Optional(const char* key, uint64_t* out);
  void Optional(const char* key, double* out);
  void Optional(const char* key, bool* out);
  void Optional(const char* key, std::vector<std::string>* out);
  void Optional(const char* key, std::vector<int>* out);
  void Optional(const char* key, std::map<std::string, std::string>* out);
  // For nested objects and arrays of objects the caller recurses; returns
  // nullptr when absent (or on a type error, which is recorded).
  const Json* OptionalObject(const char* key);
  const Json* OptionalArray(const char* key);
  void Required(const char* key, int64_t* out);

  std::string FieldPath(const char* key) const;
  void Fail(Error e);
  Status Finish();

 private:
  const Json* Find(const char* key, Json::value_t expected, const char* type_name);
  // Records "field is required" unless key holds a non-null value.
  bool Present(const char* key);
  void TypeError(const char* key, const char* expected);

  const Json& object_;
  std::string path_;
  std::set<std::string> seen_;
  std::optional<Error> error_;
};

}  // namespace lattice
