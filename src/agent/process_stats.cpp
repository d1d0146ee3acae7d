#include "agent/process_stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <unordered_map>

namespace lattice::agent {
namespace {

Error Malformed(const std::string& what) {
  return Error(ErrorCode::kInvalidArgument, "malformed /proc stat line: " + what);
}

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

// Reads a small file whole; false if it vanished or cannot be read.
bool ReadSmallFile(const std::string& path, std::string* out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  out->clear();
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return false;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
    if (out->size() > (1 << 16)) break;  // a stat line is far shorter
  }
  ::close(fd);
  return true;
}

bool AllDigits(const char* name) {
  if (!*name) return false;
  for (const char* p = name; *p; ++p) {
    if (*p < '0' || *p > '9') return false;
  }
  return true;
}

}  // namespace

Result<ProcStat> ParseProcStat(std::string_view content) {
  ProcStat st;
  const size_t open = content.find('(');
  const size_t close = content.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return Malformed("no command name in parentheses");
  }
  std::string_view pid_text = content.substr(0, open);
  while (!pid_text.empty() && pid_text.back() == ' ') pid_text.remove_suffix(1);
  if (!ParseNumber(pid_text, &st.pid) || st.pid <= 0) return Malformed("bad pid");
  st.comm = std::string(content.substr(open + 1, close - open - 1));

  // Fields from 3 (state) on, split on spaces.
  std::vector<std::string_view> fields;
  std::string_view rest = content.substr(close + 1);
  size_t i = 0;
  while (i < rest.size() && fields.size() < 24) {
    while (i < rest.size() && (rest[i] == ' ' || rest[i] == '\n')) ++i;
    if (i >= rest.size()) break;
    size_t j = i;
    while (j < rest.size() && rest[j] != ' ' && rest[j] != '\n') ++j;
    fields.push_back(rest.substr(i, j - i));
    i = j;
  }
  // fields[k] is field number k + 3.
  if (fields.size() < 22) return Malformed("only " + std::to_string(fields.size() + 2) + " fields");
  auto field = [&](int number) { return fields[static_cast<size_t>(number - 3)]; };
  if (field(3).size() != 1) return Malformed("bad state");
  st.state = field(3)[0];
  if (!ParseNumber(field(4), &st.ppid) || !ParseNumber(field(5), &st.pgrp) ||
      !ParseNumber(field(6), &st.session)) {
    return Malformed("bad ppid, pgrp or session");
  }
  if (!ParseNumber(field(14), &st.utime_ticks) || !ParseNumber(field(15), &st.stime_ticks)) {
    return Malformed("bad utime or stime");
  }
  // cutime and cstime are signed longs in the kernel's format.
  int64_t cutime = 0, cstime = 0, rss = 0;
  if (!ParseNumber(field(16), &cutime) || !ParseNumber(field(17), &cstime)) {
    return Malformed("bad cutime or cstime");
  }
  st.cutime_ticks = cutime > 0 ? static_cast<uint64_t>(cutime) : 0;
  st.cstime_ticks = cstime > 0 ? static_cast<uint64_t>(cstime) : 0;
  if (!ParseNumber(field(22), &st.start_ticks)) return Malformed("bad start time");
  if (!ParseNumber(field(24), &rss)) return Malformed("bad rss");
  st.rss_pages = rss > 0 ? static_cast<uint64_t>(rss) : 0;
  return st;
}

ProcessTreeSampler::ProcessTreeSampler(pid_t session_leader, std::filesystem::path proc_root)
    : leader_(session_leader),
      proc_root_(std::move(proc_root)),
      ticks_per_second_(::sysconf(_SC_CLK_TCK)),
      page_size_(::sysconf(_SC_PAGESIZE)) {
  if (ticks_per_second_ <= 0) ticks_per_second_ = 100;
  if (page_size_ <= 0) page_size_ = 4096;
}

Result<ProcessSample> ProcessTreeSampler::Sample(int64_t mono_ms) {
  DIR* dir = ::opendir(proc_root_.c_str());
  if (!dir) return ErrnoError("listing " + proc_root_.string(), errno);
  std::vector<ProcStat> all;
  std::string content;
  const std::string base = proc_root_.string() + "/";
  for (;;) {
    errno = 0;
    const dirent* entry = ::readdir(dir);
    if (!entry) break;
    if (!AllDigits(entry->d_name)) continue;
    // The process may have gone since readdir: skip it quietly.
    if (!ReadSmallFile(base + entry->d_name + "/stat", &content)) continue;
    Result<ProcStat> st = ParseProcStat(content);
    if (st.ok()) all.push_back(std::move(st).value());
  }
  ::closedir(dir);

  // Members: the session or a group led by the leader, then descendants by ppid.
  std::unordered_map<pid_t, size_t> by_pid;
  for (size_t i = 0; i < all.size(); ++i) by_pid[all[i].pid] = i;
  std::vector<char> member(all.size(), 0);
  std::vector<char> decided(all.size(), 0);
  for (size_t i = 0; i < all.size(); ++i) {
    const ProcStat& p = all[i];
    if (p.pid == leader_ || p.session == leader_ || p.pgrp == leader_) member[i] = decided[i] = 1;
  }
  for (size_t i = 0; i < all.size(); ++i) {
    if (decided[i]) continue;
    // Walk up the parent chain (bounded against cycles in a fake /proc).
    std::vector<size_t> chain;
    size_t at = i;
    bool in = false;
    for (int steps = 0; steps < 4096; ++steps) {
      if (decided[at]) {
        in = member[at];
        break;
      }
      chain.push_back(at);
      auto parent = by_pid.find(all[at].ppid);
      if (all[at].ppid == leader_) {
        in = true;
        break;
      }
      if (parent == by_pid.end() || parent->second == at) break;
      at = parent->second;
    }
    for (size_t c : chain) {
      member[c] = in;
      decided[c] = 1;
    }
  }

  ProcessSample sample;
  std::map<std::pair<pid_t, uint64_t>, uint64_t> ticks_now;
  // Signed: a vanished process's time is subtracted below.
  int64_t delta_ticks = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    if (!member[i]) continue;
    const ProcStat& p = all[i];
    sample.processes++;
    sample.pids.push_back(p.pid);
    sample.rss_bytes += p.rss_pages * static_cast<uint64_t>(page_size_);
    const uint64_t total = p.utime_ticks + p.stime_ticks + p.cutime_ticks + p.cstime_ticks;
    const auto key = std::make_pair(p.pid, p.start_ticks);
    ticks_now[key] = total;
    auto prev = previous_ticks_.find(key);
    // A process new since the previous sample started after it: all its
    // time falls in this interval.
    const uint64_t before = prev == previous_ticks_.end() ? 0 : prev->second;
    if (total > before) delta_ticks += static_cast<int64_t>(total - before);
  }
  // A process gone since the previous sample was reaped by its parent, which
  // (the supervisor being a subreaper) is in the tree: the parent's
  // cutime/cstime grew by the child's whole total, of which the previous
  // sample already counted this much.
  for (const auto& [key, ticks] : previous_ticks_) {
    if (!ticks_now.count(key)) delta_ticks -= static_cast<int64_t>(ticks);
  }
  if (delta_ticks < 0) delta_ticks = 0;
  std::sort(sample.pids.begin(), sample.pids.end());
  if (have_previous_ && mono_ms > previous_ms_) {
    const double seconds = static_cast<double>(mono_ms - previous_ms_) / 1000.0;
    sample.cpu_percent =
        100.0 * static_cast<double>(delta_ticks) / static_cast<double>(ticks_per_second_) / seconds;
  }
  have_previous_ = true;
  previous_ms_ = mono_ms;
  previous_ticks_ = std::move(ticks_now);
  return sample;
}

}  // namespace lattice::agent
