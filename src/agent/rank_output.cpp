#include "agent/rank_output.h"

#include <charconv>

namespace lattice::agent {

std::string RankPrefix(int rank) { return "[rank " + std::to_string(rank) + "] "; }

int RankOfLine(std::string_view line, size_t* prefix_length) {
  constexpr std::string_view kOpen = "[rank ";
  if (line.substr(0, kOpen.size()) != kOpen) return -1;
  size_t close = line.find("] ", kOpen.size());
  if (close == std::string_view::npos || close == kOpen.size() || close > kOpen.size() + 9) return -1;
  int rank = -1;
  auto [end, ec] = std::from_chars(line.data() + kOpen.size(), line.data() + close, rank);
  if (ec != std::errc() || end != line.data() + close || rank < 0) return -1;
  if (prefix_length) *prefix_length = close + 2;
  return rank;
}

RankLines::RankLines(int rank, int torchrun_base, int node_rank)
    : rank_(rank), torchrun_base_(torchrun_base), node_rank_(node_rank) {}

void RankLines::Feed(std::string_view data, std::string* out) {
  while (!data.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      held_.append(data);
      if (held_.size() >= kMaxLine) {
        Emit(held_, out);
        held_.clear();
      }
      return;
    }
    if (held_.empty()) {
      Emit(data.substr(0, nl), out);
    } else {
      held_.append(data.substr(0, nl));
      Emit(held_, out);
      held_.clear();
    }
    data.remove_prefix(nl + 1);
  }
}

void RankLines::Finish(std::string* out) {
  if (held_.empty()) return;
  Emit(held_, out);
  held_.clear();
}

void RankLines::Emit(std::string_view line, std::string* out) {
  if (torchrun_base_ >= 0) {
    // "[default3]:text" from torchrun's tee of local rank 3.
    constexpr std::string_view kWorker = "[default";
    if (line.substr(0, kWorker.size()) == kWorker) {
      size_t close = line.find("]:", kWorker.size());
      int local = -1;
      if (close != std::string_view::npos && close > kWorker.size()) {
        auto [end, ec] = std::from_chars(line.data() + kWorker.size(), line.data() + close, local);
        if (ec == std::errc() && end == line.data() + close && local >= 0) {
          out->append(RankPrefix(torchrun_base_ + local));
          out->append(line.substr(close + 2));
          out->push_back('\n');
          return;
        }
      }
    }
    out->append("[node " + std::to_string(node_rank_) + "] ");
  } else if (rank_ >= 0) {
    out->append(RankPrefix(rank_));
  }
  out->append(line);
  out->push_back('\n');
}

}  // namespace lattice::agent
