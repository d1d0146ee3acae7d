// RunCommand (short commands run to completion with their output captured),
// ShellQuote and ShellJoin.
#include "common/subprocess.h"

#include <signal.h>
#include <time.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

namespace lattice {
namespace {

using ::testing::HasSubstr;

int64_t MonoMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

CommandResult Exec(CommandSpec spec) {
  auto r = RunCommand(spec);
  EXPECT_TRUE(r.ok()) << r.error().message;
  return r.ok() ? *r : CommandResult{};
}

CommandResult Sh(const std::string& script) {
  CommandSpec spec;
  spec.argv = {"sh", "-c", script};
  return Exec(spec);
}

// True once `pid` has exited (gone, or a zombie nobody has reaped yet).
bool Dead(int pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && (text[paren + 2] == 'Z' || text[paren + 2] == 'X');
}

bool DiesWithin(int pid, int64_t ms) {
  const int64_t until = MonoMs() + ms;
  while (MonoMs() < until) {
    if (Dead(pid)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return Dead(pid);
}

TEST(RunCommand, CapturesStdoutAndStderrSeparately) {
  CommandResult r = Sh("echo to-out; echo to-err >&2; printf 'no newline'");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.out, "to-out\nno newline");
  EXPECT_EQ(r.err, "to-err\n");
}

TEST(RunCommand, ArgumentsArePassedVerbatimWithoutAShell) {
  CommandSpec spec;
  spec.argv = {"printf", "[%s]", "a b", "$HOME", "", "'q'"};
  CommandResult r = Exec(spec);
  EXPECT_EQ(r.out, "[a b][$HOME][]['q']");
}

TEST(RunCommand, NonZeroExit_IsItsCodeAndNotOk) {
  CommandResult r = Sh("exit 3");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.Why(), "exit code 3");
}

TEST(RunCommand, KilledBySignal_Is128PlusTheSignal) {
  CommandResult r = Sh("kill -TERM $$");
  EXPECT_EQ(r.exit_code, 128 + SIGTERM);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.Why(), "killed by signal 15");
  EXPECT_EQ(Sh("kill -KILL $$").exit_code, 128 + SIGKILL);
}

TEST(RunCommand, Why_PrefersTrimmedStderrThenStdout) {
  EXPECT_EQ(Sh("echo out; echo 'sbatch: error: invalid partition' >&2; exit 1").Why(),
            "sbatch: error: invalid partition");
  EXPECT_EQ(Sh("echo 'only stdout  '; exit 1").Why(), "only stdout");
}

TEST(RunCommand, StdinData_IsDeliveredAndThenClosed) {
  CommandSpec spec;
  spec.argv = {"cat"};
  spec.stdin_data = "line one\nline two\n";
  CommandResult r = Exec(spec);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "line one\nline two\n");
}

TEST(RunCommand, LargeStdin_IsInterleavedWithReadingItsOutput) {
  // More than a pipe holds both ways: a loop that wrote all stdin before
  // reading stdout would deadlock here.
  CommandSpec spec;
  spec.argv = {"cat"};
  spec.stdin_data.reserve(3 << 20);
  for (int i = 0; spec.stdin_data.size() < (3u << 20); ++i) spec.stdin_data += std::to_string(i) + "\n";
  CommandResult r = Exec(spec);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.size(), spec.stdin_data.size());
  EXPECT_TRUE(r.out == spec.stdin_data);
}

TEST(RunCommand, StdinTheCommandNeverReads_DoesNotKillTheCallerWithSigpipe) {
  // The default disposition of SIGPIPE ends the process; gtest would see a crash.
  struct sigaction dfl {}, old {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, &old);
  CommandSpec spec;
  spec.argv = {"true"};
  spec.stdin_data.assign(4 << 20, 'x');
  for (int i = 0; i < 3; ++i) {
    auto r = RunCommand(spec);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->exit_code, 0);
  }
  sigaction(SIGPIPE, &old, nullptr);
}

TEST(RunCommand, NoStdinData_TheCommandSeesEndOfFile) {
  CommandSpec spec;
  spec.argv = {"wc", "-c"};
  spec.timeout_ms = 5000;
  CommandResult r = Exec(spec);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(std::atoi(r.out.c_str()), 0) << r.out;
  EXPECT_NE(r.out.find('0'), std::string::npos) << r.out;
}

TEST(RunCommand, Timeout_KillsTheCommandSoon) {
  CommandSpec spec;
  spec.argv = {"sleep", "100"};
  spec.timeout_ms = 300;
  const int64_t start = MonoMs();
  CommandResult r = Exec(spec);
  const int64_t took = MonoMs() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
  EXPECT_EQ(r.Why(), "timed out");
  EXPECT_GE(took, 250);
  EXPECT_LT(took, 3000);
}

TEST(RunCommand, Timeout_KillsWhatTheCommandStartedToo) {
  CommandSpec spec;
  spec.argv = {"sh", "-c", "sleep 100 & echo $!; wait"};
  spec.timeout_ms = 500;
  const int64_t start = MonoMs();
  CommandResult r = Exec(spec);
  const int64_t took = MonoMs() - start;
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(took, 3000);
  const int child = std::atoi(r.out.c_str());
  ASSERT_GT(child, 0) << r.out;
  EXPECT_TRUE(DiesWithin(child, 3000)) << "the background sleep " << child << " still runs";
}

TEST(RunCommand, MissingProgram_IsAnErrorNamingIt) {
  CommandSpec spec;
  spec.argv = {"lattice-no-such-program-here", "--help"};
  auto r = RunCommand(spec);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kIo);
  EXPECT_THAT(r.error().message, HasSubstr("could not start lattice-no-such-program-here"));
  spec.argv = {"/nonexistent/dir/prog"};
  auto abs = RunCommand(spec);
  ASSERT_FALSE(abs.ok());
  EXPECT_THAT(abs.error().message, HasSubstr("/nonexistent/dir/prog"));
}

TEST(RunCommand, EmptyArgv_IsInvalid) {
  auto r = RunCommand(CommandSpec{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
}

TEST(RunCommand, BigOutput_TruncatedAtMaxOutputBytesPerStreamWhileTheCommandRunsToTheEnd) {
  CommandSpec spec;
  spec.argv = {"sh", "-c", "head -c 3000000 /dev/zero; head -c 5000 /dev/zero >&2; echo done >&2"};
  spec.max_output_bytes = 4096;
  CommandResult r = Exec(spec);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out.size(), 4096u);
  EXPECT_EQ(r.err.size(), 4096u);
  EXPECT_EQ(r.out, std::string(4096, '\0'));
}

TEST(RunCommand, EnvAdditions_AreVisibleAndReplaceInheritedValues) {
  ::setenv("LATTICE_SUBPROCESS_TEST_INHERITED", "parent", 1);
  ::setenv("LATTICE_SUBPROCESS_TEST_REPLACED", "old", 1);
  CommandSpec spec;
  spec.argv = {"sh", "-c",
               "printf '%s|%s|%s' \"$LATTICE_SUBPROCESS_TEST_ADDED\" \"$LATTICE_SUBPROCESS_TEST_INHERITED\" "
               "\"$LATTICE_SUBPROCESS_TEST_REPLACED\"; env | grep -c '^LATTICE_SUBPROCESS_TEST_REPLACED=' >&2"};
  spec.env = {{"LATTICE_SUBPROCESS_TEST_ADDED", "a b"}, {"LATTICE_SUBPROCESS_TEST_REPLACED", "new"}};
  CommandResult r = Exec(spec);
  ::unsetenv("LATTICE_SUBPROCESS_TEST_INHERITED");
  ::unsetenv("LATTICE_SUBPROCESS_TEST_REPLACED");
  EXPECT_EQ(r.out, "a b|parent|new");
  EXPECT_EQ(r.err, "1\n") << "the replaced variable is there once";
}

// --- ShellQuote / ShellJoin ---------------------------------------------------------

TEST(ShellQuote, PlainWordsStayAsTheyAre) {
  for (const char* w : {"sbatch", "--parsable", "--array=0-3", "/shared/x.sh", "root@gpu1:22", "a,b", "50%", "+1"})
    EXPECT_EQ(ShellQuote(w), w);
}

TEST(ShellQuote, WordsAShellWouldReadSpeciallyAreSingleQuoted) {
  EXPECT_EQ(ShellQuote(""), "''");
  EXPECT_EQ(ShellQuote("a b"), "'a b'");
  EXPECT_EQ(ShellQuote("$HOME"), "'$HOME'");
  EXPECT_EQ(ShellQuote("--comment=1x{cpus=4}"), "'--comment=1x{cpus=4}'");
  EXPECT_EQ(ShellQuote("a;rm -rf /"), "'a;rm -rf /'");
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
  EXPECT_EQ(ShellQuote("'"), "''\\'''");
}

TEST(ShellJoin, JoinsWithSpacesQuotingOnlyWhatNeedsIt) {
  EXPECT_EQ(ShellJoin({}), "");
  EXPECT_EQ(ShellJoin({"sbatch", "--parsable", "my script.sh"}), "sbatch --parsable 'my script.sh'");
}

TEST(ShellJoin, AShellReadsTheSameWordsBack) {
  const std::vector<std::string> words = {"plain", "", "a b", "it's", "$(id)", "`id`", "\"q\"", "back\\slash",
                                          "new\nline", "tab\there", "*", "~", "!x", "a'b'c"};
  std::vector<std::string> argv = {"printf", "<%s>"};
  argv.insert(argv.end(), words.begin(), words.end());
  CommandResult r = Sh(ShellJoin(argv));
  std::string expected;
  for (const auto& w : words) expected += "<" + w + ">";
  EXPECT_EQ(r.out, expected);
}

}  // namespace
}  // namespace lattice
