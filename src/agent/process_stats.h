// CPU and resident memory of one attempt's whole process tree, from /proc.
// The tree is every process in the supervisor's session (the supervisor
// calls setsid, so its pid is the session id), or in a process group led by
// it, plus any descendant of those by parent pid (a process that called
// setsid itself still has the supervisor, a child subreaper, as an ancestor).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace lattice::agent {

// The fields of /proc/<pid>/stat that the sampler uses.
struct ProcStat {
  pid_t pid = 0;
  std::string comm;  // without the parentheses; may hold spaces and ')'
  char state = '?';
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  uint64_t utime_ticks = 0;   // field 14
  uint64_t stime_ticks = 0;   // field 15
  uint64_t cutime_ticks = 0;  // field 16: waited-for children
  uint64_t cstime_ticks = 0;  // field 17
  uint64_t start_ticks = 0;   // field 22: start time after boot
  uint64_t rss_pages = 0;     // field 24
};

// Parses one /proc/<pid>/stat line. The command name is everything between
// the first '(' and the last ')', so names like "a) b (c" parse. Any input
// gives a ProcStat or an invalid_argument error; it never crashes.
Result<ProcStat> ParseProcStat(std::string_view content);

struct ProcessSample {
  int processes = 0;         // processes in the tree now
  double cpu_percent = 0;    // 100 = one core busy, since the previous sample
  uint64_t rss_bytes = 0;    // sum of resident sizes (shared pages count once per process)
  std::vector<pid_t> pids;   // ascending
};

class ProcessTreeSampler {
 public:
  explicit ProcessTreeSampler(pid_t session_leader, std::filesystem::path proc_root = "/proc");

  // Scans proc_root. The first sample's cpu_percent is 0 (it sets the
  // baseline); later ones cover the time since the previous call. CPU of a
  // process that exited between samples counts: the kernel adds it to its
  // reaper's cutime/cstime, and the reaper is in the tree (the supervisor
  // is a child subreaper). A process not yet reaped (a zombie, or one whose
  // parent has not waited) is counted in the sample that sees it reaped. A
  // tree that has exited gives a sample of 0 processes. Errors only when
  // proc_root cannot be listed.
  Result<ProcessSample> Sample(int64_t mono_ms);

  // For tests on a fake proc_root; default to sysconf's values.
  void SetClockTicksPerSecond(long ticks) { ticks_per_second_ = ticks; }
  void SetPageSize(long bytes) { page_size_ = bytes; }

 private:
  pid_t leader_;
  std::filesystem::path proc_root_;
  long ticks_per_second_;
  long page_size_;
  bool have_previous_ = false;
  int64_t previous_ms_ = 0;
  // (pid, start time) -> total ticks (own + waited-for children) last seen.
  std::map<std::pair<pid_t, uint64_t>, uint64_t> previous_ticks_;
};

}  // namespace lattice::agent
