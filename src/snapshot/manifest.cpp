#include "snapshot/manifest.h"

#include <charconv>
#include <set>
#include <unordered_map>

namespace lattice::snapshot {
namespace {

Error Bad(size_t line, const std::string& why) {
  return Error(ErrorCode::kInvalidArgument, "snapshot manifest line " + std::to_string(line) + ": " + why);
}

// Decimal without sign or leading zeros, at most 19 digits (no overflow).
bool ParseCanonicalU64(std::string_view s, uint64_t* v) {
  if (s.empty() || s.size() > 19 || (s.size() > 1 && s[0] == '0')) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && p == s.data() + s.size();
}

bool IsLowerHexSha256(std::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Hands out the text's lines; a last line without '\n' is an error.
class Lines final {
 public:
  explicit Lines(std::string_view text) : text_(text) {}
  // False at the end of the text.
  Result<bool> Next(std::string_view* line) {
    if (text_.empty()) return false;
    ++number_;
    const size_t nl = text_.find('\n');
    if (nl == std::string_view::npos) return Bad(number_, "does not end with a newline (truncated?)");
    *line = text_.substr(0, nl);
    text_.remove_prefix(nl + 1);
    return true;
  }
  size_t number() const { return number_; }

 private:
  std::string_view text_;
  size_t number_ = 0;
};

// Reads "<key> <number>" on the next line.
Result<uint64_t> HeaderNumber(Lines& lines, std::string_view key) {
  std::string_view line;
  LATTICE_ASSIGN_OR_RETURN(bool more, lines.Next(&line));
  const std::string want = std::string(key) + " <number>";
  if (!more) return Bad(lines.number() + 1, "missing; expected '" + want + "' (truncated?)");
  uint64_t v = 0;
  if (line.size() <= key.size() + 1 || line.substr(0, key.size()) != key || line[key.size()] != ' ' ||
      !ParseCanonicalU64(line.substr(key.size() + 1), &v)) {
    return Bad(lines.number(), "expected '" + want + "'");
  }
  return v;
}

}  // namespace

uint64_t Manifest::StreamBytes() const {
  uint64_t sum = 0;
  for (const ManifestChunk& c : chunks) sum += c.raw_size;
  return sum;
}

std::vector<std::string> Manifest::DistinctChunks() const {
  std::vector<std::string> out;
  std::set<std::string_view> seen;
  for (const ManifestChunk& c : chunks) {
    if (seen.insert(c.sha256).second) out.push_back(c.sha256);
  }
  return out;
}

std::string FormatManifest(const Manifest& m) {
  std::string out;
  out.reserve(80 + m.chunks.size() * 80);
  out += kManifestMagic;
  out += "\nfiles " + std::to_string(m.file_count) + "\nbytes " + std::to_string(m.total_bytes) +
         "\nchunks " + std::to_string(m.chunks.size()) + "\n";
  for (const ManifestChunk& c : m.chunks) {
    out += c.sha256;
    out += ' ';
    out += std::to_string(c.compressed_size);
    out += ' ';
    out += std::to_string(c.raw_size);
    out += '\n';
  }
  return out;
}

Result<Manifest> ParseManifest(std::string_view text, const ManifestLimits& limits) {
  if (text.rfind("\x28\xb5\x2f\xfd", 0) == 0) {
    return Error(ErrorCode::kInvalidArgument,
                 "not a snapshot manifest but a zstd archive (a snapshot from an older lattice?); "
                 "submit the code again with this version");
  }
  Lines lines(text);
  std::string_view line;
  LATTICE_ASSIGN_OR_RETURN(bool more, lines.Next(&line));
  if (!more || line != kManifestMagic) {
    return Error(ErrorCode::kInvalidArgument,
                 "not a snapshot manifest: the first line is not '" + std::string(kManifestMagic) + "'");
  }
  Manifest m;
  LATTICE_ASSIGN_OR_RETURN(m.file_count, HeaderNumber(lines, "files"));
  LATTICE_ASSIGN_OR_RETURN(m.total_bytes, HeaderNumber(lines, "bytes"));
  LATTICE_ASSIGN_OR_RETURN(uint64_t count, HeaderNumber(lines, "chunks"));
  if (count == 0) return Bad(lines.number(), "a snapshot has at least one chunk");
  if (count > limits.max_chunks) {
    return Error(ErrorCode::kResourceExhausted, "snapshot manifest lists " + std::to_string(count) +
                                                    " chunks, over the limit of " +
                                                    std::to_string(limits.max_chunks));
  }
  m.chunks.reserve(static_cast<size_t>(count));
  std::unordered_map<std::string, size_t> first_use;  // name -> index in m.chunks
  for (uint64_t i = 0; i < count; ++i) {
    LATTICE_ASSIGN_OR_RETURN(more, lines.Next(&line));
    if (!more) {
      return Bad(lines.number() + 1, "missing; the manifest announced " + std::to_string(count) +
                                         " chunks and lists " + std::to_string(i) + " (truncated?)");
    }
    const size_t s1 = line.find(' ');
    const size_t s2 = s1 == std::string_view::npos ? s1 : line.find(' ', s1 + 1);
    if (s2 == std::string_view::npos) {
      return Bad(lines.number(), "expected '<sha256> <compressed size> <raw size>'");
    }
    ManifestChunk c;
    const std::string_view sha = line.substr(0, s1);
    if (!IsLowerHexSha256(sha)) return Bad(lines.number(), "chunk name is not a lowercase hex SHA-256");
    c.sha256 = std::string(sha);
    if (!ParseCanonicalU64(line.substr(s1 + 1, s2 - s1 - 1), &c.compressed_size) ||
        !ParseCanonicalU64(line.substr(s2 + 1), &c.raw_size)) {
      return Bad(lines.number(), "expected '<sha256> <compressed size> <raw size>' with decimal sizes");
    }
    if (c.raw_size == 0 || c.raw_size > kMaxManifestChunkRaw) {
      return Bad(lines.number(), "raw size " + std::to_string(c.raw_size) + " is outside 1.." +
                                     std::to_string(kMaxManifestChunkRaw));
    }
    if (c.compressed_size == 0 || c.compressed_size > kMaxManifestChunkCompressed) {
      return Bad(lines.number(), "compressed size " + std::to_string(c.compressed_size) +
                                     " is outside 1.." + std::to_string(kMaxManifestChunkCompressed));
    }
    const auto [it, fresh] = first_use.emplace(c.sha256, m.chunks.size());
    if (!fresh && !(m.chunks[it->second] == c)) {
      return Bad(lines.number(), "chunk " + c.sha256 + " is listed again with other sizes");
    }
    m.chunks.push_back(std::move(c));
  }
  LATTICE_ASSIGN_OR_RETURN(more, lines.Next(&line));
  if (more) return Bad(lines.number(), "unexpected text after the last chunk");
  return m;
}

}  // namespace lattice::snapshot
