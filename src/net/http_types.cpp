#include "net/http_types.h"

namespace lattice::net {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes s[begin, end); '+' means a space only inside a query string
// (application/x-www-form-urlencoded), never in a path.
bool DecodeInto(const std::string& s, size_t begin, size_t end, bool plus_is_space,
                std::string* out) {
  out->clear();
  out->reserve(end - begin);
  for (size_t i = begin; i < end; ++i) {
    char c = s[i];
    if (c == '%') {
      if (end - i < 3) return false;
      int hi = HexValue(s[i + 1]);
      int lo = HexValue(s[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

}  // namespace

const std::string& HttpRequest::Header(const std::string& lower_name) const {
  static const std::string kEmpty;
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return kEmpty;
}

std::string PercentDecode(const std::string& s, bool* ok) {
  std::string out;
  bool good = DecodeInto(s, 0, s.size(), /*plus_is_space=*/false, &out);
  if (ok != nullptr) *ok = good;
  if (!good) out.clear();
  return out;
}

std::string PercentEncode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    bool unreserved = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') ||
                      (u >= '0' && u <= '9') || u == '-' || u == '_' || u == '.' ||
                      u == '~';
    if (unreserved) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

bool ParseTarget(const std::string& target, std::string* path,
                 std::map<std::string, std::string>* query) {
  size_t qpos = target.find('?');
  size_t path_end = qpos == std::string::npos ? target.size() : qpos;
  // A fragment never reaches a server, but tolerate one by ignoring it.
  size_t hash = target.find('#');
  size_t end = hash == std::string::npos ? target.size() : hash;
  if (path_end > end) path_end = end;
  query->clear();
  if (!DecodeInto(target, 0, path_end, /*plus_is_space=*/false, path)) return false;
  if (qpos == std::string::npos || qpos >= end) return true;
  std::string key;
  std::string value;
  size_t pos = qpos + 1;
  while (pos <= end) {
    size_t amp = target.find('&', pos);
    if (amp == std::string::npos || amp > end) amp = end;
    if (amp > pos) {  // "a=1&&b=2" has an empty pair: skip it
      size_t eq = target.find('=', pos);
      if (eq == std::string::npos || eq > amp) eq = amp;
      if (!DecodeInto(target, pos, eq, true, &key)) return false;
      if (eq < amp) {
        if (!DecodeInto(target, eq + 1, amp, true, &value)) return false;
      } else {
        value.clear();
      }
      query->emplace(key, value);  // the first occurrence of a key wins
    }
    pos = amp + 1;
  }
  return true;
}

}  // namespace lattice::net
