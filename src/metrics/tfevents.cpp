#include "metrics/tfevents.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "metrics/crc32c.h"

namespace lattice::metrics {
namespace {

static_assert(std::endian::native == std::endian::little, "the TFRecord reader assumes a little-endian host");

uint64_t Load64(const char* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, 8);
  return v;
}
uint32_t Load32(const char* p) {
  uint32_t v = 0;
  std::memcpy(&v, p, 4);
  return v;
}

// ---- protobuf wire format ------------------------------------------------

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// Where decoding failed; the first failure wins.
struct Ctx {
  const uint8_t* base;
  const char* error = nullptr;
  size_t error_at = 0;
  [[gnu::noinline, gnu::cold]] bool Fail(const uint8_t* at, const char* what) {
    if (error == nullptr) {
      error = what;
      error_at = static_cast<size_t>(at - base);
    }
    return false;
  }
};

struct Cursor {
  const uint8_t* p = nullptr;
  const uint8_t* end = nullptr;
  bool more() const { return p < end; }
};

[[gnu::always_inline]] inline bool ReadVarint(Cursor& c, Ctx& x, uint64_t* v) {
  if (c.p < c.end && *c.p < 0x80) {
    *v = *c.p++;
    return true;
  }
  const uint8_t* start = c.p;
  uint64_t r = 0;
  for (int i = 0; i < 10; ++i) {
    if (c.p >= c.end) return x.Fail(start, "varint runs past the end");
    const uint8_t b = *c.p++;
    if (i == 9 && b > 1) return x.Fail(start, "varint longer than 64 bits");
    r |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if (b < 0x80) {
      *v = r;
      return true;
    }
  }
  return x.Fail(start, "varint longer than 64 bits");  // not reached
}

[[gnu::always_inline]] inline bool ReadTag(Cursor& c, Ctx& x, uint32_t* field, uint32_t* wire) {
  const uint8_t* at = c.p;
  uint64_t tag = 0;
  if (!ReadVarint(c, x, &tag)) return false;
  *wire = static_cast<uint32_t>(tag & 7);
  if ((tag >> 3) == 0 || (tag >> 3) > 0x1fffffff) return x.Fail(at, "invalid field number");
  *field = static_cast<uint32_t>(tag >> 3);
  if (*wire == 3 || *wire == 4) return x.Fail(at, "group wire type (deprecated, not supported)");
  if (*wire == 6 || *wire == 7) return x.Fail(at, "invalid wire type");
  return true;
}

[[gnu::always_inline]] inline bool ReadFixed64(Cursor& c, Ctx& x, uint64_t* v) {
  if (c.end - c.p < 8) return x.Fail(c.p, "64-bit field runs past the end");
  std::memcpy(v, c.p, 8);
  c.p += 8;
  return true;
}

[[gnu::always_inline]] inline bool ReadFixed32(Cursor& c, Ctx& x, uint32_t* v) {
  if (c.end - c.p < 4) return x.Fail(c.p, "32-bit field runs past the end");
  std::memcpy(v, c.p, 4);
  c.p += 4;
  return true;
}

[[gnu::always_inline]] inline bool ReadLen(Cursor& c, Ctx& x, Cursor* sub) {
  const uint8_t* at = c.p;
  uint64_t len = 0;
  if (!ReadVarint(c, x, &len)) return false;
  if (len > static_cast<uint64_t>(c.end - c.p)) return x.Fail(at, "length-delimited field runs past the end");
  sub->p = c.p;
  sub->end = c.p + len;
  c.p += len;
  return true;
}

[[gnu::always_inline]] inline bool Skip(Cursor& c, Ctx& x, uint32_t wire) {
  uint64_t v64 = 0;
  uint32_t v32 = 0;
  Cursor sub;
  switch (wire) {
    case kVarint: return ReadVarint(c, x, &v64);
    case kFixed64: return ReadFixed64(c, x, &v64);
    case kLen: return ReadLen(c, x, &sub);
    case kFixed32: return ReadFixed32(c, x, &v32);
    default: return x.Fail(c.p, "invalid wire type");
  }
}

std::string_view View(const Cursor& c) {
  return {reinterpret_cast<const char*>(c.p), static_cast<size_t>(c.end - c.p)};
}

// ---- TensorProto -----------------------------------------------------------

enum DataType : uint64_t {
  kDtFloat = 1, kDtDouble = 2, kDtInt32 = 3, kDtInt64 = 9, kDtBfloat16 = 14, kDtHalf = 19,
};

double HalfToDouble(uint16_t h) {
  const int sign = (h >> 15) & 1;
  const int exp = (h >> 10) & 0x1f;
  const int mant = h & 0x3ff;
  double v;
  if (exp == 0) {
    v = std::ldexp(static_cast<double>(mant), -24);
  } else if (exp == 31) {
    v = mant == 0 ? HUGE_VAL : std::nan("");
  } else {
    v = std::ldexp(static_cast<double>(mant | 0x400), exp - 25);
  }
  return sign ? -v : v;
}

double Bfloat16ToDouble(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// Values of one repeated numeric field: how many, and the last one.
struct Repeated {
  uint64_t count = 0;
  uint64_t last = 0;  // raw bits (fixed) or varint
};

// A repeated field in either encoding: packed (one length-delimited run) or
// one element per tag. `fixed` is the element size of a fixed-width field,
// 0 for varints.
bool ReadRepeated(Cursor& c, Ctx& x, uint32_t wire, int fixed, Repeated* r) {
  if (wire == kLen) {
    Cursor sub;
    if (!ReadLen(c, x, &sub)) return false;
    if (fixed > 0) {
      const size_t n = static_cast<size_t>(sub.end - sub.p);
      if (n % static_cast<size_t>(fixed) != 0) return x.Fail(sub.p, "packed field length is not a multiple of its element size");
      if (n > 0) {
        r->count += n / static_cast<size_t>(fixed);
        r->last = 0;
        std::memcpy(&r->last, sub.end - fixed, static_cast<size_t>(fixed));
      }
      return true;
    }
    while (sub.more()) {
      if (!ReadVarint(sub, x, &r->last)) return false;
      ++r->count;
    }
    return true;
  }
  if (fixed == 8 && wire == kFixed64) {
    if (!ReadFixed64(c, x, &r->last)) return false;
    ++r->count;
    return true;
  }
  if (fixed == 4 && wire == kFixed32) {
    uint32_t v = 0;
    if (!ReadFixed32(c, x, &v)) return false;
    r->last = v;
    ++r->count;
    return true;
  }
  if (fixed == 0 && wire == kVarint) {
    if (!ReadVarint(c, x, &r->last)) return false;
    ++r->count;
    return true;
  }
  return Skip(c, x, wire);  // a wire type that does not fit: an unknown field
}

// Decodes a TensorProto; *is_scalar says whether it holds exactly one number.
bool ParseTensor(Cursor c, Ctx& x, bool* is_scalar, double* value) {
  uint64_t dtype = 0;
  bool shape_scalar = true;
  std::string_view content;
  Repeated floats, doubles, ints, int64s, halves;
  while (c.more()) {
    uint32_t field = 0, wire = 0;
    if (!ReadTag(c, x, &field, &wire)) return false;
    bool ok;
    switch (field) {
      case 1:
        ok = wire == kVarint ? ReadVarint(c, x, &dtype) : Skip(c, x, wire);
        break;
      case 2: {  // TensorShapeProto: dim=2 {size=1}, unknown_rank=3
        if (wire != kLen) {
          ok = Skip(c, x, wire);
          break;
        }
        Cursor shape;
        if (!ReadLen(c, x, &shape)) return false;
        while (shape.more()) {
          uint32_t f = 0, w = 0;
          if (!ReadTag(shape, x, &f, &w)) return false;
          if (f == 2 && w == kLen) {
            Cursor dim;
            if (!ReadLen(shape, x, &dim)) return false;
            uint64_t size = 0;
            while (dim.more()) {
              uint32_t df = 0, dw = 0;
              if (!ReadTag(dim, x, &df, &dw)) return false;
              if (df == 1 && dw == kVarint) {
                if (!ReadVarint(dim, x, &size)) return false;
              } else if (!Skip(dim, x, dw)) {
                return false;
              }
            }
            if (size != 1) shape_scalar = false;
          } else if (f == 3 && w == kVarint) {
            uint64_t unknown = 0;
            if (!ReadVarint(shape, x, &unknown)) return false;
            if (unknown != 0) shape_scalar = false;
          } else if (!Skip(shape, x, w)) {
            return false;
          }
        }
        ok = true;
        break;
      }
      case 4: {
        if (wire != kLen) {
          ok = Skip(c, x, wire);
          break;
        }
        Cursor sub;
        ok = ReadLen(c, x, &sub);
        if (ok) content = View(sub);
        break;
      }
      case 5: ok = ReadRepeated(c, x, wire, 4, &floats); break;
      case 6: ok = ReadRepeated(c, x, wire, 8, &doubles); break;
      case 7: ok = ReadRepeated(c, x, wire, 0, &ints); break;
      case 10: ok = ReadRepeated(c, x, wire, 0, &int64s); break;
      case 13: ok = ReadRepeated(c, x, wire, 0, &halves); break;
      default: ok = Skip(c, x, wire); break;
    }
    if (!ok) return false;
  }
  *is_scalar = false;
  if (!shape_scalar) return true;
  // The element: from tensor_content when present, else the typed field.
  auto take = [&](size_t size, const Repeated& r, uint64_t* bits) {
    if (!content.empty()) {
      if (content.size() != size) return false;
      *bits = 0;
      std::memcpy(bits, content.data(), size);
      return true;
    }
    if (r.count != 1) return false;
    *bits = r.last;
    return true;
  };
  uint64_t bits = 0;
  switch (dtype) {
    case kDtFloat: {
      if (!take(4, floats, &bits)) return true;
      float f;
      const auto b32 = static_cast<uint32_t>(bits);
      std::memcpy(&f, &b32, 4);
      *value = f;
      break;
    }
    case kDtDouble: {
      if (!take(8, doubles, &bits)) return true;
      std::memcpy(value, &bits, 8);
      break;
    }
    case kDtInt32:
      if (!take(4, ints, &bits)) return true;
      *value = static_cast<int32_t>(static_cast<uint32_t>(bits));
      break;
    case kDtInt64:
      if (!take(8, int64s, &bits)) return true;
      *value = static_cast<double>(static_cast<int64_t>(bits));
      break;
    case kDtHalf:
      if (!take(2, halves, &bits)) return true;
      *value = HalfToDouble(static_cast<uint16_t>(bits));
      break;
    case kDtBfloat16:
      if (!take(2, halves, &bits)) return true;
      *value = Bfloat16ToDouble(static_cast<uint16_t>(bits));
      break;
    default:
      return true;  // strings, bools, complex: not a scalar metric
  }
  *is_scalar = true;
  return true;
}

// ---- Event / Summary ---------------------------------------------------------

using NonScalarTags = tfevents_internal::TagSet;

class EventDecoder {
 public:
  EventDecoder(Ctx& x, std::vector<ScalarEvent>* out, NonScalarTags* non_scalar_tags)
      : x_(x), out_(out), non_scalar_tags_(non_scalar_tags) {}

  bool Event(Cursor c) {
    const size_t first = out_->size();
    double wall_time = 0;
    int64_t step = 0;
    while (c.more()) {
      uint32_t field = 0, wire = 0;
      if (!ReadTag(c, x_, &field, &wire)) return Undo(first);
      bool ok;
      if (field == 1 && wire == kFixed64) {
        uint64_t bits = 0;
        ok = ReadFixed64(c, x_, &bits);
        std::memcpy(&wall_time, &bits, 8);
      } else if (field == 2 && wire == kVarint) {
        uint64_t v = 0;
        ok = ReadVarint(c, x_, &v);
        step = static_cast<int64_t>(v);
      } else if (field == 5 && wire == kLen) {
        Cursor summary;
        ok = ReadLen(c, x_, &summary) && Summary(summary);
      } else {
        ok = Skip(c, x_, wire);
      }
      if (!ok) return Undo(first);
    }
    for (size_t i = first; i < out_->size(); ++i) {
      (*out_)[i].step = step;
      (*out_)[i].wall_time = wall_time;
    }
    return true;
  }

 private:
  bool Undo(size_t first) {
    out_->resize(first);
    return false;
  }

  bool Summary(Cursor c) {
    while (c.more()) {
      uint32_t field = 0, wire = 0;
      if (!ReadTag(c, x_, &field, &wire)) return false;
      if (field == 1 && wire == kLen) {
        Cursor value;
        if (!ReadLen(c, x_, &value) || !Value(value)) return false;
      } else if (!Skip(c, x_, wire)) {
        return false;
      }
    }
    return true;
  }

  // Summary.Value: tag=1, simple_value=2, tensor=8, metadata=9.
  bool Value(Cursor c) {
    std::string_view tag, plugin;
    bool has_simple = false, has_tensor = false;
    float simple = 0;
    Cursor tensor{};
    while (c.more()) {
      uint32_t field = 0, wire = 0;
      if (!ReadTag(c, x_, &field, &wire)) return false;
      Cursor sub;
      if (field == 1 && wire == kLen) {
        if (!ReadLen(c, x_, &sub)) return false;
        tag = View(sub);
      } else if (field == 2 && wire == kFixed32) {
        uint32_t bits = 0;
        if (!ReadFixed32(c, x_, &bits)) return false;
        std::memcpy(&simple, &bits, 4);
        has_simple = true;
      } else if (field == 8 && wire == kLen) {
        if (!ReadLen(c, x_, &tensor)) return false;
        has_tensor = true;
      } else if (field == 9 && wire == kLen) {
        if (!ReadLen(c, x_, &sub) || !Metadata(sub, &plugin)) return false;
      } else if (!Skip(c, x_, wire)) {
        return false;
      }
    }
    if (has_simple) return Emit(tag, simple);
    if (!has_tensor) return true;  // images, histograms (old style), audio
    if (!plugin.empty() && plugin != "scalars") {
      if (non_scalar_tags_->size() < 100000) non_scalar_tags_->emplace(tag);
      return true;
    }
    if (plugin.empty() && !non_scalar_tags_->empty() && non_scalar_tags_->contains(tag)) return true;
    bool is_scalar = false;
    double value = 0;
    if (!ParseTensor(tensor, x_, &is_scalar, &value)) return false;
    return is_scalar ? Emit(tag, value) : true;
  }

  // SummaryMetadata: plugin_data=1 {plugin_name=1}.
  bool Metadata(Cursor c, std::string_view* plugin) {
    while (c.more()) {
      uint32_t field = 0, wire = 0;
      if (!ReadTag(c, x_, &field, &wire)) return false;
      if (field == 1 && wire == kLen) {
        Cursor data;
        if (!ReadLen(c, x_, &data)) return false;
        while (data.more()) {
          uint32_t f = 0, w = 0;
          if (!ReadTag(data, x_, &f, &w)) return false;
          if (f == 1 && w == kLen) {
            Cursor name;
            if (!ReadLen(data, x_, &name)) return false;
            *plugin = View(name);
          } else if (!Skip(data, x_, w)) {
            return false;
          }
        }
      } else if (!Skip(c, x_, wire)) {
        return false;
      }
    }
    return true;
  }

  bool Emit(std::string_view tag, double value) {
    ScalarEvent& e = out_->emplace_back();
    e.tag.assign(tag);
    e.value = value;
    return true;
  }

  Ctx& x_;
  std::vector<ScalarEvent>* out_;
  NonScalarTags* non_scalar_tags_;
};

// ---- encoding ----------------------------------------------------------------

void PutVarint(std::string* s, uint64_t v) {
  while (v >= 0x80) {
    s->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s->push_back(static_cast<char>(v));
}
void PutTag(std::string* s, uint32_t field, uint32_t wire) { PutVarint(s, (field << 3) | wire); }
void PutFixed64(std::string* s, uint64_t v) { s->append(reinterpret_cast<const char*>(&v), 8); }
void PutFixed32(std::string* s, uint32_t v) { s->append(reinterpret_cast<const char*>(&v), 4); }
void PutBytes(std::string* s, uint32_t field, std::string_view bytes) {
  PutTag(s, field, kLen);
  PutVarint(s, bytes.size());
  s->append(bytes);
}
void PutDouble(std::string* s, uint32_t field, double v) {
  PutTag(s, field, kFixed64);
  PutFixed64(s, std::bit_cast<uint64_t>(v));
}

}  // namespace

TfEventsTail::TfEventsTail(std::string name, uint64_t start_offset)
    : name_(std::move(name)), consumed_(start_offset) {}

void TfEventsTail::DecodeRecord(std::string_view data, uint64_t offset, std::vector<ScalarEvent>* out,
                                std::vector<std::string>* warnings) {
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  Ctx x{p};
  EventDecoder decoder(x, out, &non_scalar_tags_);
  if (!decoder.Event(Cursor{p, p + data.size()})) {
    warnings->push_back(name_ + ": record at byte " + std::to_string(offset) + ": malformed event (" + x.error +
                        " at byte " + std::to_string(x.error_at) + " of its " + std::to_string(data.size()) +
                        "-byte data); record skipped");
  }
}

size_t TfEventsTail::Process(std::string_view data, std::vector<ScalarEvent>* out,
                             std::vector<std::string>* warnings) {
  const size_t n = data.size();
  size_t pos = 0;
  while (n - pos >= 12) {
    const char* h = data.data() + pos;
    const uint64_t len = Load64(h);
    const bool crc_ok = MaskCrc(Crc32c({h, 8})) == Load32(h + 8);
    if (!crc_ok || len > kMaxTfRecordBytes) {
      if (!resyncing_) {
        resyncing_ = true;
        resync_from_ = consumed_ + pos;
        warnings->push_back(name_ + ": record at byte " + std::to_string(resync_from_) +
                            (crc_ok ? ": implausible length " + std::to_string(len)
                                    : std::string(": length CRC mismatch")) +
                            "; scanning for the next intact record");
      }
      ++pos;
      continue;
    }
    if (resyncing_) {
      resyncing_ = false;
      const uint64_t at = consumed_ + pos;
      warnings->push_back(name_ + ": resynchronised at byte " + std::to_string(at) + " after skipping " +
                          std::to_string(at - resync_from_) + " bytes");
    }
    const size_t total = 16 + static_cast<size_t>(len);
    if (n - pos < total) break;
    const std::string_view body(h + 12, static_cast<size_t>(len));
    if (MaskCrc(Crc32c(body)) != Load32(h + 12 + len)) {
      warnings->push_back(name_ + ": record at byte " + std::to_string(consumed_ + pos) +
                          ": data CRC mismatch; record skipped");
    } else {
      DecodeRecord(body, consumed_ + pos, out, warnings);
    }
    pos += total;
  }
  consumed_ += pos;
  return pos;
}

void TfEventsTail::Feed(std::string_view bytes, std::vector<ScalarEvent>* out, std::vector<std::string>* warnings) {
  if (buffer_.empty()) {
    // The common case: whole records straight from the caller's bytes.
    const size_t used = Process(bytes, out, warnings);
    buffer_.assign(bytes.substr(used));
    return;
  }
  buffer_.append(bytes);
  const size_t used = Process(buffer_, out, warnings);
  buffer_.erase(0, used);
}

void TfEventsTail::Finish(std::vector<std::string>* warnings) {
  if (resyncing_) {
    const uint64_t end = consumed_ + buffer_.size();
    warnings->push_back(name_ + ": no intact record after the damage at byte " + std::to_string(resync_from_) +
                        "; " + std::to_string(end - resync_from_) + " bytes skipped up to the end");
    resyncing_ = false;
  } else if (!buffer_.empty()) {
    warnings->push_back(name_ + ": truncated tail of " + std::to_string(buffer_.size()) + " bytes at byte " +
                        std::to_string(consumed_));
  }
  buffer_.clear();
}

Result<TfEventsFile> ReadTfEventsFile(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("opening " + path.string(), errno);
  struct stat st{};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoError("reading " + path.string(), err);
  }
  TfEventsFile file;
  TfEventsTail tail(path.string());
  const auto size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return ErrnoError("mapping " + path.string(), err);
    }
    ::madvise(map, size, MADV_SEQUENTIAL | MADV_WILLNEED);
    // A scalar record takes at least 39 bytes; pages reserved but never
    // filled cost nothing.
    file.scalars.reserve(size / 39 + 1);
    tail.Feed(std::string_view(static_cast<const char*>(map), size), &file.scalars, &file.warnings);
    ::munmap(map, size);
  }
  ::close(fd);
  tail.Finish(&file.warnings);
  return file;
}

std::string FrameTfRecord(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 16);
  const uint64_t len = data.size();
  PutFixed64(&out, len);
  PutFixed32(&out, MaskCrc(Crc32c(out)));
  out.append(data);
  PutFixed32(&out, MaskCrc(Crc32c(data)));
  return out;
}

std::string EncodeScalarRecord(const std::string& tag, int64_t step, double wall_time, double value,
                               bool tensor_form) {
  std::string v;
  PutBytes(&v, 1, tag);
  if (tensor_form) {
    std::string tensor;
    PutTag(&tensor, 1, kVarint);
    PutVarint(&tensor, kDtFloat);
    PutBytes(&tensor, 2, {});  // a scalar's shape: no dims
    std::string floats;
    PutFixed32(&floats, std::bit_cast<uint32_t>(static_cast<float>(value)));
    PutBytes(&tensor, 5, floats);
    PutBytes(&v, 8, tensor);
    std::string plugin_data;
    PutBytes(&plugin_data, 1, "scalars");
    std::string metadata;
    PutBytes(&metadata, 1, plugin_data);
    PutBytes(&v, 9, metadata);
  } else {
    PutTag(&v, 2, kFixed32);
    PutFixed32(&v, std::bit_cast<uint32_t>(static_cast<float>(value)));
  }
  std::string summary;
  PutBytes(&summary, 1, v);
  std::string event;
  PutDouble(&event, 1, wall_time);
  PutTag(&event, 2, kVarint);
  PutVarint(&event, static_cast<uint64_t>(step));
  PutBytes(&event, 5, summary);
  return FrameTfRecord(event);
}

std::string EncodeFileVersionRecord(double wall_time) {
  std::string event;
  PutDouble(&event, 1, wall_time);
  PutBytes(&event, 3, "brain.Event:2");
  return FrameTfRecord(event);
}

}  // namespace lattice::metrics
