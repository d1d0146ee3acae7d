#include "common/json.h"

namespace lattice {
namespace {
// An integer that fits int64_t: nlohmann keeps large non-negative integers as
// unsigned, and get<int64_t>() would silently wrap 2^64-1 to -1.
bool IsInt64(const Json& v) {
  return v.is_number_integer() &&
         !(v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX));
}
}  // namespace

Result<Json> ParseJson(std::string_view text, const std::string& what) {
  // nlohmann stops reading at a NUL byte and ignores whatever follows it; valid
  // JSON text never holds one (inside strings it must be escaped).
  if (size_t nul = text.find('\0'); nul != std::string_view::npos)
    return Error(ErrorCode::kInvalidArgument,
                 what + " is not valid JSON: NUL byte at byte " + std::to_string(nul + 1));
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Re-parse with exceptions only on the error path to get the position.
    try {
      Json ignored = Json::parse(text.begin(), text.end());
      (void)ignored;
    } catch (const Json::parse_error& e) {
      return Error(ErrorCode::kInvalidArgument,
                   what + " is not valid JSON: syntax error at byte " + std::to_string(e.byte));
    } catch (const Json::exception&) {
      // A number too large for a double ("1e400") throws out_of_range instead.
      return Error(ErrorCode::kInvalidArgument, what + " is not valid JSON: number out of range");
    }
    return Error(ErrorCode::kInvalidArgument, what + " is not valid JSON");
  }
  return j;
}

JsonReader::JsonReader(const Json& object, std::string path)
    : object_(object), path_(std::move(path)) {
  if (!object_.is_object()) {
    error_ = Error(ErrorCode::kInvalidArgument,
                   (path_.empty() ? std::string("body") : path_) + " must be a JSON object",
                   path_);
  }
}

std::string JsonReader::FieldPath(const char* key) const {
  return path_.empty() ? std::string(key) : path_ + "." + key;
}

void JsonReader::Fail(Error e) {
  if (!error_) error_ = std::move(e);
}

void JsonReader::TypeError(const char* key, const char* expected) {
  Fail(Error(ErrorCode::kInvalidArgument,
             "field '" + FieldPath(key) + "' must be " + expected, FieldPath(key)));
}

const Json* JsonReader::Find(const char* key, Json::value_t expected, const char* type_name) {
  if (error_) return nullptr;
  seen_.insert(key);
  auto it = object_.find(key);
  if (it == object_.end() || it->is_null()) return nullptr;
  bool ok = it->type() == expected;
  if (expected == Json::value_t::number_integer) ok = IsInt64(*it);
  if (expected == Json::value_t::number_unsigned) ok = it->is_number_unsigned();
  if (expected == Json::value_t::number_float) ok = it->is_number();
  if (!ok) {
    TypeError(key, type_name);
    return nullptr;
  }
  return &*it;
}

bool JsonReader::Present(const char* key) {
  if (error_) return false;
  if (!object_.contains(key) || object_[key].is_null()) {
    Fail(Error(ErrorCode::kInvalidArgument, "field '" + FieldPath(key) + "' is required", FieldPath(key)));
    return false;
  }
  return true;
}

void JsonReader::Required(const char* key, std::string* out) {
  if (Present(key)) Optional(key, out);
}

void JsonReader::Required(const char* key, int64_t* out) {
  if (Present(key)) Optional(key, out);
}

void JsonReader::Optional(const char* key, std::string* out) {
  if (const Json* v = Find(key, Json::value_t::string, "a string")) *out = v->get<std::string>();
}

void JsonReader::Optional(const char* key, int64_t* out) {
  if (const Json* v = Find(key, Json::value_t::number_integer, "an integer")) *out = v->get<int64_t>();
}

void JsonReader::Optional(const char* key, int* out) {
  if (const Json* v = Find(key, Json::value_t::number_integer, "an integer")) {
    int64_t x = v->get<int64_t>();
    if (x < INT32_MIN || x > INT32_MAX) return TypeError(key, "a 32-bit integer");
    *out = static_cast<int>(x);
  }
}

void JsonReader::Optional(const char* key, uint64_t* out) {
  if (const Json* v = Find(key, Json::value_t::number_unsigned, "a non-negative integer"))
    *out = v->get<uint64_t>();
}

void JsonReader::Optional(const char* key, double* out) {
  if (const Json* v = Find(key, Json::value_t::number_float, "a number")) *out = v->get<double>();
}

void JsonReader::Optional(const char* key, bool* out) {
  if (const Json* v = Find(key, Json::value_t::boolean, "true or false")) *out = v->get<bool>();
}

void JsonReader::Optional(const char* key, std::vector<std::string>* out) {
  const Json* v = Find(key, Json::value_t::array, "an array of strings");
  if (!v) return;
  out->clear();
  for (const auto& e : *v) {
    if (!e.is_string()) return TypeError(key, "an array of strings");
    out->push_back(e.get<std::string>());
  }
}

void JsonReader::Optional(const char* key, std::vector<int>* out) {
  const Json* v = Find(key, Json::value_t::array, "an array of integers");
  if (!v) return;
  out->clear();
  for (const auto& e : *v) {
    if (!IsInt64(e) || e.get<int64_t>() < INT32_MIN || e.get<int64_t>() > INT32_MAX)
      return TypeError(key, "an array of integers");
    out->push_back(static_cast<int>(e.get<int64_t>()));
  }
}

void JsonReader::Optional(const char* key, std::map<std::string, std::string>* out) {
  const Json* v = Find(key, Json::value_t::object, "an object of strings");
  if (!v) return;
  out->clear();
  for (const auto& [k, e] : v->items()) {
    if (!e.is_string()) return TypeError(key, "an object whose values are strings");
    (*out)[k] = e.get<std::string>();
  }
}

const Json* JsonReader::OptionalObject(const char* key) {
  return Find(key, Json::value_t::object, "an object");
}

const Json* JsonReader::OptionalArray(const char* key) {
  return Find(key, Json::value_t::array, "an array");
}

Status JsonReader::Finish() {
  if (error_) return *error_;
  for (const auto& [k, v] : object_.items()) {
    if (!seen_.count(k)) {
      std::string known;
      for (const auto& s : seen_) known += (known.empty() ? "" : ", ") + s;
      return Error(ErrorCode::kInvalidArgument,
                   "unknown field '" + FieldPath(k.c_str()) + "' (known fields: " + known + ")",
                   FieldPath(k.c_str()));
    }
  }
  return OkStatus();
}

}  // namespace lattice
