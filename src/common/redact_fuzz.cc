// libFuzzer entry point for RedactCredentials. Named .cc so the layer's *.cpp
// glob leaves it out of the library; built as fuzz_redact with
// -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// The input is the text, bytes as they are. Beyond "no crash", it checks that
// the result is stable (redacting it again changes nothing), that text
// without '@' is unchanged, that the result grows by at most the mask per
// '@', that no URL in the result keeps a userinfo other than the mask, and
// that the input's bytes used as a userinfo ("https://" + bytes + "@host/p",
// the bytes that end an authority dropped) are always fully masked.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/redact.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

bool EndsAuthority(unsigned char c) {
  return c == '/' || c == '?' || c == '#' || c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '`' || c == '\\';
}

bool IsSchemeChar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' || c == '-' ||
         c == '.';
}

// Every URL's userinfo in text is the mask (or there is none).
bool OnlyMaskedUserinfo(std::string_view text) {
  for (size_t sep = text.find("://"); sep != std::string_view::npos; sep = text.find("://", sep + 1)) {
    if (sep == 0 || !IsSchemeChar(static_cast<unsigned char>(text[sep - 1]))) continue;
    const size_t start = sep + 3;
    size_t end = start, at = std::string_view::npos;
    for (; end < text.size() && !EndsAuthority(static_cast<unsigned char>(text[end])); ++end)
      if (text[end] == '@') at = end;
    if (at != std::string_view::npos && at != start && text.substr(start, at - start) != "****") return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string once = lattice::RedactCredentials(text);
  Check(lattice::RedactCredentials(once) == once);
  size_t ats = 0;
  for (char c : text) ats += c == '@';
  if (ats == 0) Check(once == text);
  Check(once.size() <= text.size() + 4 * ats);
  Check(OnlyMaskedUserinfo(once));

  std::string userinfo;
  for (char c : text)
    if (!EndsAuthority(static_cast<unsigned char>(c))) userinfo += c;
  if (!userinfo.empty())
    Check(lattice::RedactCredentials("https://" + userinfo + "@host/p") == "https://****@host/p");
  return 0;
}
