#include "metrics/points_codec.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace lattice::metrics {

// Records are copied as they lie in memory: Point's layout is the wire layout
// on a little-endian machine, which is every machine Lattice builds for.
static_assert(std::endian::native == std::endian::little, "the LTP1 codec assumes a little-endian host");
static_assert(sizeof(Point) == kPointRecordBytes && offsetof(Point, step) == 0 && offsetof(Point, time) == 8 &&
                  offsetof(Point, value) == 16,
              "Point must match the 24-byte wire record");

namespace {

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  out->append(b, 4);
}

void PutU16(std::string* out, uint16_t v) {
  char b[2];
  std::memcpy(b, &v, 2);
  out->append(b, 2);
}

uint32_t GetU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

uint16_t GetU16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}

Error Malformed(size_t at, const std::string& what) {
  return Error(ErrorCode::kInvalidArgument, "points stream: at byte " + std::to_string(at) + ": " + what);
}

}  // namespace

void AppendFrame(const std::vector<SeriesBatch>& batch, std::string* out) {
  size_t payload = 4;
  for (const SeriesBatch& s : batch) payload += 2 + s.key.size() + 4 + s.points.size() * kPointRecordBytes;
  out->reserve(out->size() + kFrameHeaderBytes + payload);
  out->append(kFrameMagic, 4);
  PutU32(out, static_cast<uint32_t>(payload));
  PutU32(out, static_cast<uint32_t>(batch.size()));
  for (const SeriesBatch& s : batch) {
    PutU16(out, static_cast<uint16_t>(s.key.size()));
    out->append(s.key);
    PutU32(out, static_cast<uint32_t>(s.points.size()));
    out->append(reinterpret_cast<const char*>(s.points.data()), s.points.size() * kPointRecordBytes);
  }
}

std::string EncodeFrame(const std::vector<SeriesBatch>& batch) {
  std::string out;
  AppendFrame(batch, &out);
  return out;
}

Result<std::vector<SeriesBatch>> DecodeFrames(std::string_view stream) {
  std::vector<SeriesBatch> out;
  const char* base = stream.data();
  size_t pos = 0;
  while (pos < stream.size()) {
    const size_t frame_start = pos;
    if (stream.size() - pos < kFrameHeaderBytes)
      return Malformed(pos, "truncated frame header (" + std::to_string(stream.size() - pos) + " of " +
                                std::to_string(kFrameHeaderBytes) + " bytes)");
    if (std::memcmp(base + pos, kFrameMagic, 4) != 0) return Malformed(pos, "bad frame magic (want \"LTP1\")");
    const uint32_t payload = GetU32(base + pos + 4);
    if (payload > kMaxFramePayload)
      return Malformed(pos + 4, "frame payload of " + std::to_string(payload) + " bytes is over the limit of " +
                                    std::to_string(kMaxFramePayload));
    pos += kFrameHeaderBytes;
    if (stream.size() - pos < payload)
      return Malformed(pos, "truncated frame: payload of " + std::to_string(payload) + " bytes but only " +
                                std::to_string(stream.size() - pos) + " left");
    const size_t end = pos + payload;
    if (payload < 4) return Malformed(pos, "frame payload of " + std::to_string(payload) + " bytes has no series count");
    const uint32_t series = GetU32(base + pos);
    pos += 4;
    // Each series needs at least 6 bytes, which bounds the reservation.
    if (series > (end - pos) / 6)
      return Malformed(pos - 4, std::to_string(series) + " series cannot fit in the frame's payload");
    if (out.capacity() - out.size() < series) out.reserve(std::max(out.size() + series, 2 * out.capacity()));
    for (uint32_t i = 0; i < series; ++i) {
      if (end - pos < 2) return Malformed(pos, "series " + std::to_string(i) + ": key length runs past the frame");
      const uint16_t key_len = GetU16(base + pos);
      pos += 2;
      if (end - pos < key_len)
        return Malformed(pos, "series " + std::to_string(i) + ": key of " + std::to_string(key_len) +
                                  " bytes runs past the frame");
      std::string_view key(base + pos, key_len);
      Status valid = ValidateKey(key);
      if (!valid.ok()) return Malformed(pos, "series " + std::to_string(i) + ": " + valid.error().message);
      pos += key_len;
      if (end - pos < 4) return Malformed(pos, "series " + std::to_string(i) + ": point count runs past the frame");
      const uint32_t count = GetU32(base + pos);
      pos += 4;
      if (count > (end - pos) / kPointRecordBytes)
        return Malformed(pos - 4, "series " + std::to_string(i) + ": " + std::to_string(count) +
                                      " points run past the frame");
      SeriesBatch& s = out.emplace_back();
      s.key.assign(key);
      s.points.resize(count);
      if (count != 0) std::memcpy(s.points.data(), base + pos, size_t{count} * kPointRecordBytes);
      pos += size_t{count} * kPointRecordBytes;
    }
    if (pos != end)
      return Malformed(pos, "frame starting at byte " + std::to_string(frame_start) + " has " +
                                std::to_string(end - pos) + " bytes after its last series");
  }
  return out;
}

size_t WholeFramesPrefix(std::string_view bytes, size_t max_bytes) {
  size_t pos = 0;
  while (bytes.size() - pos >= kFrameHeaderBytes) {
    if (std::memcmp(bytes.data() + pos, kFrameMagic, 4) != 0) break;
    const uint32_t payload = GetU32(bytes.data() + pos + 4);
    if (payload > kMaxFramePayload) break;
    const size_t len = kFrameHeaderBytes + payload;
    if (bytes.size() - pos < len) break;
    if (pos + len > max_bytes && pos != 0) break;
    pos += len;
    if (pos >= max_bytes) break;
  }
  return pos;
}

}  // namespace lattice::metrics
