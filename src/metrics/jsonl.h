// The metrics JSON-lines format: what the Python SDK (and any language)
// writes to LATTICE_METRICS_FILE. One JSON object per line:
//
//   {"step": 10, "time": 1732590000.25, "loss": 0.3, "train": {"acc": 0.9}}
//
// Nested objects are flattened with '/' ("train/acc"). Reserved top-level
// keys: "step" (an integer; when missing, the previous line's step + 1,
// starting at 0) and "time" (seconds since the epoch; when missing, the
// caller's `now`); null counts as missing. Numbers become points,
// true/false 1/0; the literals NaN, Infinity, -Infinity (as Python's
// json.dumps writes them) and the strings "NaN", "nan", "Infinity", "inf",
// "-Infinity", "-inf" become NaN/+-Inf; null is skipped; other strings and arrays are skipped with a warning. Keys
// must pass ValidateKey. A malformed line is skipped with a warning; the
// lines around it are kept.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/result.h"
#include "metrics/point.h"

namespace lattice::metrics {

inline constexpr int kMaxJsonDepth = 32;
// A line longer than this is dropped (with a warning) without buffering it.
inline constexpr size_t kMaxJsonlLineBytes = 16u << 20;

namespace jsonl_internal {

// One value of a line before its step and time are known.
struct Item {
  uint32_t key_offset;  // into LineParser::keys()
  uint32_t key_size;
  double value;
};

// A skipped value or bad key: which key, and what is wrong with it.
struct KeyIssue {
  std::string key;
  std::string what;
};

// Reusable parser of one line (keeps its buffers between lines).
class LineParser {
 public:
  // On success *step/*time are the line's (or the defaults) and items() /
  // keys() hold its values. On failure the message says what is wrong and
  // at which column (1-based).
  Status Parse(std::string_view line, double now, int64_t default_step, int64_t* step, double* time,
               std::vector<KeyIssue>* issues);
  const std::vector<Item>& items() const { return items_; }
  std::string_view key(const Item& item) const { return {keys_.data() + item.key_offset, item.key_size}; }

 private:
  std::vector<Item> items_;
  std::string keys_;
  std::string scratch_;
};

}  // namespace jsonl_internal

class JsonlMetricsTail {
 public:
  // label: names the file in warnings; start_offset/start_line/next_step:
  // the resume state of an earlier reader (consumed(), next_line(),
  // next_step()).
  explicit JsonlMetricsTail(std::string label, uint64_t start_offset = 0, int64_t start_line = 1,
                            int64_t next_step = 0);

  // Appends points (grouped by key, each key's in file order; a key already
  // in *out gets its points appended there) and warnings. A final line
  // without '\n' is kept for the next call.
  void Feed(std::string_view bytes, double now, std::vector<SeriesBatch>* out, std::vector<std::string>* warnings);
  // The writer is done: parses a last unterminated line.
  void Finish(double now, std::vector<SeriesBatch>* out, std::vector<std::string>* warnings);

  uint64_t consumed() const { return consumed_; }  // file offset past the last whole line
  int64_t next_line() const { return next_line_; }  // 1-based number of the next line
  int64_t next_step() const { return next_step_; }  // the step of a next line without "step"

 private:
  struct KeyState {
    bool valid = true;
    bool warned = false;       // a skipped value of this key was reported
    uint64_t generation = 0;   // the Feed call that last indexed `batch`
    size_t batch = 0;          // index into that call's *out
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  void Line(std::string_view line, double now, std::vector<SeriesBatch>* out, std::vector<std::string>* warnings);
  KeyState& Key(std::string_view key, std::vector<SeriesBatch>* out, std::vector<std::string>* warnings);
  void BeginCall(std::vector<SeriesBatch>* out);
  void StartDropping(std::vector<std::string>* warnings);

  std::string label_;
  uint64_t consumed_;
  int64_t next_line_;
  int64_t next_step_;
  std::string partial_;           // an unterminated last line
  bool dropping_long_line_ = false;  // skipping to the end of an overlong line
  uint64_t dropped_ = 0;             // bytes of it skipped so far
  uint64_t generation_ = 0;
  std::unordered_map<std::string, KeyState, Hash, std::equal_to<>> keys_;
  jsonl_internal::LineParser parser_;
  std::vector<jsonl_internal::KeyIssue> issues_;
};

// One line, for tests and fuzzing. On success appends the line's points to
// *out (key, point) and a message per skipped value or bad key to
// *key_warnings, and advances *next_step past the line's step. A blank line
// is OK and changes nothing.
Status ParseMetricsLine(std::string_view line, double now, int64_t* next_step,
                        std::vector<std::pair<std::string, Point>>* out, std::vector<std::string>* key_warnings);

}  // namespace lattice::metrics
