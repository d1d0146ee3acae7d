// Merges the output of several ranks into one log, a line at a time, each
// line prefixed with the rank that printed it ("[rank 3] ..."), as torchrun's
// --tee does, so one log holds a gang's output and a reader can pick one
// rank (`lattice logs --rank 3`). Pure: bytes in, bytes out.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace lattice::agent {

// The prefix of a rank's lines, and the inverse: the rank a log line
// belongs to (nullopt-like -1 for Lattice's own lines and unprefixed ones).
std::string RankPrefix(int rank);
int RankOfLine(std::string_view line, size_t* prefix_length = nullptr);

class RankLines {
 public:
  // Lines longer than this are cut (and the rest continues as a new line)
  // so that one rank printing without newlines cannot hold the log back.
  static constexpr size_t kMaxLine = 64 * 1024;

  // rank >= 0: every line gets RankPrefix(rank). torchrun_base >= 0: the
  // input is a torchrun's console (--tee 3), whose worker lines start with
  // "[default<L>]:"; they become RankPrefix(torchrun_base + L) and
  // torchrun's own lines get "[node N] ".
  RankLines(int rank, int torchrun_base = -1, int node_rank = 0);

  // Appends the complete lines of `data` (prefixed) to *out; keeps a
  // partial last line for the next call.
  void Feed(std::string_view data, std::string* out);
  // The output ended: emits a held partial line (with a newline added).
  void Finish(std::string* out);

 private:
  void Emit(std::string_view line, std::string* out);

  int rank_;
  int torchrun_base_;
  int node_rank_;
  std::string held_;
};

}  // namespace lattice::agent
