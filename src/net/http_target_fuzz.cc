// libFuzzer entry point for request-target parsing (net::ParseTarget,
// PercentDecode, PercentEncode). Named .cc so the layer's *.cpp glob leaves
// it out of the library; built as fuzz_http_target with -DLATTICE_FUZZ=ON
// (see scripts/fuzz.sh).
//
// The whole input is parsed as a target and decoded as one escaped string.
// It is also split at NUL bytes into a path segment, a query key and a query
// value, which are encoded, joined into a target and parsed back: every
// encoded string must decode to exactly what was encoded.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "net/http_types.h"

namespace {

using lattice::net::ParseTarget;
using lattice::net::PercentDecode;
using lattice::net::PercentEncode;

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

std::string_view NextPart(std::string_view* rest) {
  const size_t nul = rest->find('\0');
  const std::string_view part = rest->substr(0, nul);
  *rest = nul == std::string_view::npos ? std::string_view() : rest->substr(nul + 1);
  return part;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);

  // Arbitrary targets: no crash; a decoded path is never longer than its text.
  std::string path;
  std::map<std::string, std::string> query;
  if (ParseTarget(input, &path, &query)) Check(path.size() <= input.size());

  bool ok = false;
  const std::string decoded = PercentDecode(input, &ok);
  if (ok) {
    Check(decoded.size() <= input.size());
    // Without escapes, decoding is the identity ('+' stays '+').
    if (input.find('%') == std::string::npos) Check(decoded == input);
  } else {
    Check(decoded.empty());
  }

  // Round trips through the encoder.
  std::string_view rest = input;
  const std::string segment(NextPart(&rest));
  const std::string key(NextPart(&rest));
  const std::string value(rest);
  for (const std::string* s : {&segment, &key, &value}) {
    const std::string encoded = PercentEncode(*s);
    // Only unreserved characters and escapes: safe in any target position.
    Check(encoded.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789-_.~%") == std::string::npos);
    Check(PercentDecode(encoded, &ok) == *s && ok);
  }

  const std::string target = "/" + PercentEncode(segment) + "?" + PercentEncode(key) + "=" +
                             PercentEncode(value) + "&" + PercentEncode(key) + "=ignored#frag";
  Check(ParseTarget(target, &path, &query));
  Check(path == "/" + segment);
  // One pair (an empty key, "?=v", still counts); the first occurrence wins.
  Check(query.size() == 1);
  auto it = query.find(key);
  Check(it != query.end() && it->second == value);
  return 0;
}
