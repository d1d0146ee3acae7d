// TensorBoard event files (events.out.tfevents.*): TFRecord framing around
// `Event` protocol buffers, decoded by hand (no protobuf dependency). Only
// scalars come out: `simple_value`, or a one-element numeric tensor (the
// "new style" of TF2 and torch.utils.tensorboard); images, histograms, text
// and other non-scalar values are skipped silently.
//
// A TFRecord is: uint64 LE length, uint32 LE masked CRC-32C of those 8
// bytes, the data, uint32 LE masked CRC-32C of the data. Damage is reported
// as warnings and reading goes on: a bad data CRC skips that record, a bad
// length CRC makes the reader scan forward for the next header whose CRC
// checks out, and a malformed Event inside a sound record is skipped.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/result.h"

namespace lattice::metrics {

struct ScalarEvent {
  std::string tag;
  int64_t step = 0;
  double wall_time = 0;  // seconds since the Unix epoch
  double value = 0;
};

// Records longer than this are taken for garbage (a header that happens to
// pass its CRC inside damaged bytes would otherwise stall the reader).
inline constexpr uint64_t kMaxTfRecordBytes = 64ull << 20;

namespace tfevents_internal {
struct TagHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TagSet = std::unordered_set<std::string, TagHash, std::equal_to<>>;
}  // namespace tfevents_internal

// Incremental reader of one growing event file (the writer may still be
// appending). Not thread-safe; one per file.
class TfEventsTail {
 public:
  // name: used in warnings; start_offset: the file offset of the first byte
  // that Feed will see (where reading (re)starts, e.g. a saved consumed()).
  explicit TfEventsTail(std::string name, uint64_t start_offset = 0);

  // Feeds the next bytes of the file, in any chunking. Appends the scalars
  // of the complete records to *out and human-readable warnings (naming the
  // file and a byte offset) to *warnings. An incomplete record at the end
  // stays buffered until more bytes come.
  void Feed(std::string_view bytes, std::vector<ScalarEvent>* out, std::vector<std::string>* warnings);

  // The writer is done: an incomplete record left over becomes a warning
  // ("truncated tail of N bytes at byte X") and is dropped.
  void Finish(std::vector<std::string>* warnings);

  // File offset just past the last whole record processed (or garbage
  // discarded): where a restarted reader resumes.
  uint64_t consumed() const { return consumed_; }

  // Bytes held back waiting for the rest of a record.
  size_t buffered() const { return buffer_.size(); }

 private:
  // Processes data[0..) which starts at file offset consumed_; returns how
  // many bytes were used up.
  size_t Process(std::string_view data, std::vector<ScalarEvent>* out, std::vector<std::string>* warnings);
  void DecodeRecord(std::string_view data, uint64_t offset, std::vector<ScalarEvent>* out,
                    std::vector<std::string>* warnings);

  std::string name_;
  uint64_t consumed_;
  std::string buffer_;       // bytes of an incomplete record, from consumed_ on
  bool resyncing_ = false;   // scanning for a header after a bad length CRC
  uint64_t resync_from_ = 0; // where the scan began
  // Tags seen with a non-scalar plugin: their later values (which writers
  // send without metadata) are not taken for scalars.
  tfevents_internal::TagSet non_scalar_tags_;
};

// Whole-file reader for tools and benchmarks (maps the file).
struct TfEventsFile {
  std::vector<ScalarEvent> scalars;
  std::vector<std::string> warnings;
};
Result<TfEventsFile> ReadTfEventsFile(const std::filesystem::path& path);

// Frames `data` as one TFRecord.
std::string FrameTfRecord(std::string_view data);

// Writer (tests, benchmarks, fuzz corpus): one framed Event holding one
// scalar, as `simple_value` (tensor_form false) or as a DT_FLOAT tensor with
// the "scalars" plugin metadata, as torch and TF2 write it.
std::string EncodeScalarRecord(const std::string& tag, int64_t step, double wall_time, double value,
                               bool tensor_form);
// The first record of every event file: file_version "brain.Event:2".
std::string EncodeFileVersionRecord(double wall_time);

}  // namespace lattice::metrics
