#include "common/redact.h"

namespace lattice {
namespace {

constexpr std::string_view kMask = "****";

bool IsAsciiAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool IsSchemeChar(unsigned char c) { return IsAsciiAlnum(c) || c == '+' || c == '-' || c == '.'; }

// Where a URL's authority (userinfo@host:port) ends.
bool EndsAuthority(unsigned char c) {
  return c == '/' || c == '?' || c == '#' || c <= 0x20 || c == 0x7f || c == '"' || c == '\'' || c == '<' ||
         c == '>' || c == '`' || c == '\\';
}

// A user name as pip shows it before its own ":****" mask.
bool IsNameChar(unsigned char c) {
  return IsAsciiAlnum(c) || c == '.' || c == '_' || c == '-' || c == '~' || c == '%' || c == '+' || c == ':' ||
         c >= 0x80;
}

// scheme://userinfo@host -> scheme://****@host, for every URL in text.
std::string MaskUrlUserinfo(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t copied = 0;  // text[0, copied) is in out
  size_t from = 0;
  while (true) {
    const size_t sep = text.find("://", from);
    if (sep == std::string_view::npos) break;
    const size_t start = sep + 3;
    from = start;
    if (sep == 0 || !IsSchemeChar(static_cast<unsigned char>(text[sep - 1]))) continue;
    size_t end = start;
    size_t at = std::string_view::npos;
    while (end < text.size() && !EndsAuthority(static_cast<unsigned char>(text[end]))) {
      if (text[end] == '@') at = end;
      ++end;
    }
    if (at == std::string_view::npos || at == start) continue;
    out.append(text.substr(copied, start - copied));
    out.append(kMask);
    copied = at;
    from = at;
  }
  out.append(text.substr(copied));
  return out;
}

// name:****@ -> ****@ (pip's mask keeps the user name).
std::string MaskBareUser(std::string_view text) {
  constexpr std::string_view kPipMask = ":****@";
  std::string out;
  size_t copied = 0;
  size_t from = 0;
  while (true) {
    const size_t colon = text.find(kPipMask, from);
    if (colon == std::string_view::npos) break;
    size_t name = colon;
    while (name > copied && IsNameChar(static_cast<unsigned char>(text[name - 1]))) --name;
    from = colon + 1;
    if (name == colon) continue;
    out.append(text.substr(copied, name - copied));
    copied = colon + 1;  // drops "name:", keeps "****@"
  }
  if (copied == 0) return std::string(text);
  out.append(text.substr(copied));
  return out;
}

}  // namespace

std::string RedactCredentials(std::string_view text) {
  if (text.find('@') == std::string_view::npos) return std::string(text);
  return MaskBareUser(MaskUrlUserinfo(text));
}

}  // namespace lattice
