#include "agent/process_stats.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/test_util.h"

namespace lattice::agent {
namespace {

// A stat line shaped like the kernel's, with the fields the sampler reads.
std::string StatLine(int pid, const std::string& comm, int ppid, int pgrp, int session,
                     uint64_t utime, uint64_t stime, uint64_t rss_pages, uint64_t start = 100,
                     int64_t cutime = 0, int64_t cstime = 0) {
  return std::to_string(pid) + " (" + comm + ") S " + std::to_string(ppid) + " " +
         std::to_string(pgrp) + " " + std::to_string(session) + " 34816 " +
         std::to_string(pgrp) + " 4194304 1234 0 0 0 " + std::to_string(utime) + " " +
         std::to_string(stime) + " " + std::to_string(cutime) + " " + std::to_string(cstime) +
         " 20 0 1 0 " + std::to_string(start) + " 123456789 " + std::to_string(rss_pages) +
         " 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n";
}

TEST(ParseProcStat, ReadsTheFieldsTheSamplerUses) {
  Result<ProcStat> st = ParseProcStat(StatLine(42, "python3", 7, 40, 30, 150, 25, 1000, 555, 3, 4));
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->pid, 42);
  EXPECT_EQ(st->comm, "python3");
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 7);
  EXPECT_EQ(st->pgrp, 40);
  EXPECT_EQ(st->session, 30);
  EXPECT_EQ(st->utime_ticks, 150u);
  EXPECT_EQ(st->stime_ticks, 25u);
  EXPECT_EQ(st->cutime_ticks, 3u);
  EXPECT_EQ(st->cstime_ticks, 4u);
  EXPECT_EQ(st->start_ticks, 555u);
  EXPECT_EQ(st->rss_pages, 1000u);
}

TEST(ParseProcStat, CommandNamesWithSpacesAndParenthesesParse) {
  for (const std::string comm : {"a) b (c", "x y", ")", "((", ") S 1 2 3", ""}) {
    Result<ProcStat> st = ParseProcStat(StatLine(9, comm, 1, 9, 9, 11, 12, 13));
    ASSERT_TRUE(st.ok()) << comm << ": " << st.error().message;
    EXPECT_EQ(st->comm, comm);
    EXPECT_EQ(st->ppid, 1);
    EXPECT_EQ(st->utime_ticks, 11u);
    EXPECT_EQ(st->rss_pages, 13u);
  }
}

TEST(ParseProcStat, TheRealSelfParses) {
  Result<std::string> text = fs::ReadFile("/proc/self/stat");
  ASSERT_TRUE(text.ok());
  Result<ProcStat> st = ParseProcStat(*text);
  ASSERT_TRUE(st.ok()) << st.error().message;
  EXPECT_EQ(st->pid, ::getpid());
  EXPECT_EQ(st->ppid, ::getppid());
  EXPECT_EQ(st->session, ::getsid(0));
  EXPECT_GT(st->rss_pages, 0u);
}

TEST(ParseProcStat, MalformedInputIsAnErrorNeverACrash) {
  const std::string good = StatLine(42, "a) b", 7, 40, 30, 150, 25, 1000);
  for (size_t n = 0; n < good.size() - 1; ++n) {
    // Every truncation that cuts into the first 24 fields must fail cleanly.
    Result<ProcStat> st = ParseProcStat(std::string_view(good).substr(0, n));
    if (st.ok()) {
      EXPECT_GT(n, good.find(" 1000 "));
    }
  }
  for (const char* bad : {"", "(", ")", ")(", "x (a) S", "-1 (a) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22",
                          "12 (a) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22"}) {
    EXPECT_FALSE(ParseProcStat(bad).ok()) << bad;
  }
  std::mt19937 rng(7);
  const std::string alphabet = "0123456789 ()-S\n\xff";
  for (int round = 0; round < 20000; ++round) {
    std::string s = good;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % s.size();
      switch (rng() % 3) {
        case 0: s[at] = alphabet[rng() % alphabet.size()]; break;
        case 1: s.erase(at, 1 + rng() % 5); break;
        default: s.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
      }
      if (s.empty()) s = "(";
    }
    (void)ParseProcStat(s);  // no crash, no exception, no sanitizer report
  }
}

class FakeProc {
 public:
  void Put(int pid, const std::string& line) {
    ASSERT_TRUE(fs::MakeDirs(dir_ / std::to_string(pid)).ok());
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / (std::to_string(pid) + "/stat"), line).ok());
  }
  void Remove(int pid) { std::filesystem::remove_all(dir_ / std::to_string(pid)); }
  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  testing::TempDir dir_;
};

TEST(ProcessTreeSampler, CountsTheSessionItsGroupsAndDescendantsButNothingElse) {
  FakeProc proc;
  proc.Put(100, StatLine(100, "supervisor", 1, 100, 100, 0, 0, 10));
  proc.Put(101, StatLine(101, "python3", 100, 101, 100, 0, 0, 20));
  proc.Put(102, StatLine(102, "worker", 101, 101, 100, 0, 0, 30));
  proc.Put(103, StatLine(103, "escaped", 102, 103, 103, 0, 0, 40));  // called setsid
  proc.Put(104, StatLine(104, "grandchild", 103, 103, 103, 0, 0, 50));
  proc.Put(200, StatLine(200, "bash", 1, 200, 200, 0, 0, 1000));      // someone else
  proc.Put(201, StatLine(201, "vim", 200, 201, 200, 0, 0, 1000));
  ASSERT_TRUE(fs::MakeDirs(proc.path() / "self").ok());  // non-numeric: skipped
  ASSERT_TRUE(fs::MakeDirs(proc.path() / "300").ok());   // vanished: no stat file
  ProcessTreeSampler sampler(100, proc.path());
  sampler.SetPageSize(4096);
  Result<ProcessSample> s = sampler.Sample(1000);
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->processes, 5);
  EXPECT_EQ(s->pids, (std::vector<pid_t>{100, 101, 102, 103, 104}));
  EXPECT_EQ(s->rss_bytes, (10u + 20 + 30 + 40 + 50) * 4096);
  EXPECT_EQ(s->cpu_percent, 0);  // the first sample is the baseline
}

TEST(ProcessTreeSampler, CpuPercentIsTicksSinceThePreviousSampleOverElapsedTime) {
  FakeProc proc;
  proc.Put(100, StatLine(100, "supervisor", 1, 100, 100, 5, 5, 1));
  proc.Put(101, StatLine(101, "train", 100, 101, 100, 1000, 100, 1));
  ProcessTreeSampler sampler(100, proc.path());
  sampler.SetClockTicksPerSecond(100);
  ASSERT_TRUE(sampler.Sample(10'000).ok());
  // Two seconds later: train used 300 + 100 ticks (4 s of CPU: two cores).
  proc.Put(101, StatLine(101, "train", 100, 101, 100, 1300, 200, 1));
  // A new process started in between: all its 50 ticks count.
  proc.Put(102, StatLine(102, "loader", 101, 101, 100, 40, 10, 1, 900));
  Result<ProcessSample> s = sampler.Sample(12'000);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->cpu_percent, 100.0 * 450 / 100 / 2);
  EXPECT_EQ(s->processes, 3);
}

TEST(ProcessTreeSampler, AReapedChildsTimeMovesToItsParentWithoutDoubleCounting) {
  FakeProc proc;
  proc.Put(100, StatLine(100, "supervisor", 1, 100, 100, 0, 0, 1));
  proc.Put(101, StatLine(101, "train", 100, 101, 100, 0, 0, 1));
  proc.Put(102, StatLine(102, "child", 101, 101, 100, 80, 20, 1, 500));
  ProcessTreeSampler sampler(100, proc.path());
  sampler.SetClockTicksPerSecond(100);
  ASSERT_TRUE(sampler.Sample(0).ok());
  // The child ran 100 more ticks, exited, and train waited for it.
  proc.Remove(102);
  proc.Put(101, StatLine(101, "train", 100, 101, 100, 0, 0, 1, 100, 150, 50));
  Result<ProcessSample> s = sampler.Sample(1000);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->cpu_percent, 100.0);  // 200 - 100 seen before = 100 ticks in 1 s
}

TEST(ProcessTreeSampler, APidReusedByANewProcessIsANewProcess) {
  FakeProc proc;
  proc.Put(100, StatLine(100, "supervisor", 1, 100, 100, 0, 0, 1));
  proc.Put(101, StatLine(101, "old", 100, 101, 100, 5000, 0, 1, 100));
  ProcessTreeSampler sampler(100, proc.path());
  sampler.SetClockTicksPerSecond(100);
  ASSERT_TRUE(sampler.Sample(0).ok());
  // The old one exited and the supervisor reaped it (its 5000 ticks move
  // into the supervisor's cutime); a new process got the same pid.
  proc.Put(100, StatLine(100, "supervisor", 1, 100, 100, 0, 0, 1, 100, 5000, 0));
  proc.Put(101, StatLine(101, "new", 100, 101, 100, 30, 0, 1, 200));
  Result<ProcessSample> s = sampler.Sample(1000);
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->cpu_percent, 30.0);
}

TEST(ProcessTreeSampler, AnExitedTreeIsZeroProcessesAndAMissingRootIsAnError) {
  FakeProc proc;
  ProcessTreeSampler sampler(100, proc.path());
  Result<ProcessSample> s = sampler.Sample(0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->processes, 0);
  EXPECT_EQ(s->rss_bytes, 0u);
  ProcessTreeSampler nowhere(100, proc.path() / "absent");
  EXPECT_FALSE(nowhere.Sample(0).ok());
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

TEST(ProcessTreeSampler, ABusyChildInTheRealProcShowsOverHalfACore) {
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::setsid();
    const char byte = 1;
    if (::write(ready[1], &byte, 1) != 1) ::_exit(1);
    // A grandchild in the same session spins too; the child spins itself.
    const pid_t grandchild = ::fork();
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    volatile uint64_t x = 0;
    while (std::chrono::steady_clock::now() < until) x = x + 1;
    if (grandchild > 0) ::waitpid(grandchild, nullptr, 0);
    ::_exit(0);
  }
  ::close(ready[1]);
  char byte = 0;
  ASSERT_EQ(::read(ready[0], &byte, 1), 1);  // setsid has run
  ::close(ready[0]);
  ProcessTreeSampler sampler(child);
  Result<ProcessSample> first = sampler.Sample(NowMs());
  ASSERT_TRUE(first.ok()) << first.error().message;
  ::usleep(300'000);
  Result<ProcessSample> second = sampler.Sample(NowMs());
  ::kill(-child, SIGKILL);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_GE(second->processes, 1);
  EXPECT_GT(second->cpu_percent, 50.0);
  EXPECT_GT(second->rss_bytes, 0u);
  EXPECT_NE(std::find(second->pids.begin(), second->pids.end(), child), second->pids.end());
}

}  // namespace
}  // namespace lattice::agent
