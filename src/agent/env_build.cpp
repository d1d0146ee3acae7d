#include "agent/env_build.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <map>
#include <sstream>

#include "agent/launcher.h"
#include "common/fs.h"
#include "common/redact.h"
#include "common/subprocess.h"
#include "common/text.h"

namespace lattice::agent {
namespace {

constexpr const char* kDefaultPath = "/usr/local/bin:/usr/bin:/bin";
constexpr int64_t kStopGraceMs = 2000;
constexpr int kPollMs = 100;
constexpr size_t kMaxLine = 64 * 1024;      // a longer run without '\n' is passed on in pieces
constexpr size_t kTailLines = 40;           // kept for the error message
constexpr size_t kSummaryChars = 300;       // the error message's share of the output

int64_t MonoMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

bool Cancelled(const std::atomic<bool>* cancel) { return cancel != nullptr && cancel->load(); }

// uv draws its error chains with box-drawing characters ("╰─▶ Because
// ..."); on one line they are noise.
std::string_view StripTreeDrawing(std::string_view line) {
  for (bool again = true; again;) {
    again = false;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    for (std::string_view glyph : {"╰", "├", "│", "─", "▶"}) {
      if (line.starts_with(glyph)) {
        line.remove_prefix(glyph.size());
        again = true;
      }
    }
  }
  return line;
}

std::string Heading(std::string_view what) { return "lattice: ── " + std::string(what) + " ──\n"; }

// Splits a child's output into lines, masks credentials in each, passes them
// on and keeps the last few for the error message.
class LineSink final {
 public:
  explicit LineSink(const std::function<void(std::string_view)>& output) : output_(output) {}

  void Feed(std::string_view bytes) {
    pending_.append(bytes);
    size_t start = 0;
    for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1)
      Emit(std::string_view(pending_).substr(start, nl - start));
    pending_.erase(0, start);
    while (pending_.size() > kMaxLine) {
      // Cut at a blank, so a URL (and its credentials) stays in one piece.
      size_t cut = pending_.find_last_of(" \t", kMaxLine);
      cut = cut == std::string::npos || cut == 0 ? kMaxLine : cut;
      Emit(std::string_view(pending_).substr(0, cut));
      pending_.erase(0, cut);
    }
  }

  void Finish() {
    if (!pending_.empty()) Emit(pending_);
    pending_.clear();
  }

  // A step's heading; the lines kept for the error message start over.
  void Heading(std::string_view line) {
    output_(line);
    tail_.clear();
  }

  // The most useful of the last lines, on one line: from the first line
  // that opens an error report ("ERROR:", "error:", "×", "Traceback") among
  // the last ones, else as many of the last lines as fit.
  std::string Summary() const {
    std::vector<std::string> lines;
    for (const auto& l : tail_) {
      std::string t = TrimBlanks(StripTreeDrawing(l));
      if (!t.empty()) lines.push_back(std::move(t));
    }
    if (lines.empty()) return {};
    size_t first = lines.size();
    for (size_t i = lines.size() > 20 ? lines.size() - 20 : 0; i < lines.size(); ++i) {
      const std::string& l = lines[i];
      if (l.starts_with("ERROR:") || l.starts_with("error:") || l.starts_with("×") || l.starts_with("Traceback")) {
        first = i;
        break;
      }
    }
    if (first == lines.size()) {
      size_t used = 0;
      first = lines.size() - 1;
      used = lines[first].size();
      while (first > 0 && used + 1 + lines[first - 1].size() <= kSummaryChars) used += 1 + lines[--first].size();
    }
    std::string text;
    for (size_t i = first; i < lines.size(); ++i) text += (text.empty() ? "" : " ") + lines[i];
    if (text.size() > kSummaryChars) {
      size_t cut = kSummaryChars - 3;
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // whole UTF-8 characters
      text.resize(cut);
      text += "…";
    }
    return text;
  }

 private:
  void Emit(std::string_view line) {
    std::string clean = RedactCredentials(line);
    clean += '\n';
    output_(clean);
    clean.pop_back();
    if (clean.size() > 1000) clean.resize(1000);
    tail_.push_back(std::move(clean));
    if (tail_.size() > kTailLines) tail_.pop_front();
  }

  const std::function<void(std::string_view)>& output_;
  std::string pending_;
  std::deque<std::string> tail_;
};

struct StepOutcome {
  int exit_code = -1;
  bool cancelled = false;
};

int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

// Runs argv[0] (absolute) under a supervisor, streaming its output into
// sink until it exits; stops it when *cancel turns true.
Result<StepOutcome> RunStep(const std::vector<std::string>& argv, const std::filesystem::path& cwd,
                            const std::vector<std::string>& env, LineSink& sink, const std::atomic<bool>* cancel) {
  LaunchSpec spec;
  spec.executable = argv.front();
  spec.argv = argv;
  spec.env = env;
  spec.cwd = cwd.string();
  spec.grace_ms = kStopGraceMs;
  LATTICE_ASSIGN_OR_RETURN(Launched launched, Launch(spec));
  const int fd = launched.output_fd;
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  StepOutcome outcome;
  bool exited = false, eof = false;
  int64_t exited_at = 0;
  char buf[64 * 1024];
  while (!eof) {
    if (!outcome.cancelled && Cancelled(cancel)) {
      outcome.cancelled = true;
      RequestStop(launched.supervisor);
    }
    pollfd p{fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, kPollMs);
    if (ready > 0) {
      // Up to 1 MiB per round, so a flood of output does not delay a cancel.
      for (int reads = 0; reads < 16; ++reads) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) {
          sink.Feed(std::string_view(buf, static_cast<size_t>(n)));
          continue;
        }
        if (n == 0) eof = true;
        else if (errno == EINTR) continue;
        else if (errno != EAGAIN) eof = true;
        break;
      }
    }
    if (!exited) {
      int status = 0;
      const pid_t r = ::waitpid(launched.supervisor, &status, WNOHANG);
      if (r == launched.supervisor || (r < 0 && errno != EINTR)) {
        exited = true;
        exited_at = MonoMs();
        outcome.exit_code = r == launched.supervisor ? ExitCode(status) : 126;
      }
    }
    // A process that left the command's group may hold the pipe open: once
    // the supervisor is gone, read what comes within a second and stop.
    if (exited && (ready == 0 || MonoMs() - exited_at > 1000)) break;
  }
  ::close(fd);
  if (!exited) {
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(launched.supervisor, &status, 0)) < 0 && errno == EINTR) {
    }
    outcome.exit_code = r == launched.supervisor ? ExitCode(status) : 126;
  }
  sink.Finish();
  return outcome;
}

bool HasKey(const std::string& entry, std::string_view key) {
  return entry.size() > key.size() && entry.compare(0, key.size(), key) == 0 && entry[key.size()] == '=';
}

// The children's environment: the base without LATTICE_* and the keys set
// here, then those keys.
std::vector<std::string> ChildEnv(const std::vector<std::string>& base, const std::map<std::string, std::string>& set,
                                  const std::vector<std::string>& drop) {
  std::vector<std::string> out;
  for (const auto& e : base) {
    if (e.starts_with("LATTICE_")) continue;
    bool skip = false;
    for (const auto& [k, v] : set) skip = skip || HasKey(e, k);
    for (const auto& k : drop) skip = skip || HasKey(e, k);
    if (!skip) out.push_back(e);
  }
  for (const auto& [k, v] : set) out.push_back(k + "=" + v);
  return out;
}

std::string EnvValue(const std::vector<std::string>& env, std::string_view key) {
  for (const auto& e : env)
    if (HasKey(e, key)) return e.substr(key.size() + 1);
  return {};
}

// Requirement lines (not options such as --index-url or -r), for the heading.
size_t CountRequirements(const std::string& canonical) {
  size_t n = 0;
  std::istringstream in(canonical);
  for (std::string line; std::getline(in, line);)
    if (!line.starts_with("-") || line.starts_with("-e ") || line.starts_with("--editable")) ++n;
  return n;
}

std::string TempBase() {
  const char* t = ::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

// A file or directory removed when this goes out of scope.
class Scratch final {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (!path_.empty()) (void)fs::RemoveAll(path_);
  }
  void Set(std::filesystem::path p) { path_ = std::move(p); }
  void Release() {
    if (!path_.empty()) (void)fs::RemoveAll(path_);
    path_.clear();
  }

 private:
  std::filesystem::path path_;
};

// Writes the requirement text to a new 0600 file in workdir (so that paths
// in it resolve as beside the run's own requirements.txt), else in $TMPDIR.
Result<std::filesystem::path> WriteRequirements(const std::filesystem::path& workdir, const std::string& text) {
  Error last(ErrorCode::kIo, "no place for the requirements file");
  for (const std::string& base : {workdir.string(), TempBase()}) {
    std::string tmpl = base + "/.lattice-requirements-XXXXXX";
    const int fd = ::mkstemp(tmpl.data());  // 0600
    if (fd < 0) {
      last = ErrnoError("creating a requirements file in " + base, errno);
      continue;
    }
    Status written = fs::WriteAll(fd, text.ends_with('\n') ? text : text + "\n");
    ::close(fd);
    if (written.ok()) return std::filesystem::path(tmpl);
    ::unlink(tmpl.c_str());
    last = written.error();
  }
  return last;
}

// The set-up command as a 0600 script in $TMPDIR.
Result<std::filesystem::path> WriteSetupScript(const std::string& command) {
  std::string tmpl = TempBase() + "/lattice-setup-XXXXXX";
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return ErrnoError("creating the set-up script in " + TempBase(), errno);
  Status written = fs::WriteAll(fd, command + "\n");
  ::close(fd);
  if (!written.ok()) {
    ::unlink(tmpl.c_str());
    return written.error();
  }
  return std::filesystem::path(tmpl);
}

// A directory holding `pip` and `pip3` that run `uv pip` (for set-up
// commands in a uv-made venv, which has no pip of its own).
Result<std::filesystem::path> WritePipShims(const std::string& uv) {
  std::string tmpl = TempBase() + "/lattice-pip-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return ErrnoError("creating a directory in " + TempBase(), errno);
  const std::string script = "#!/bin/sh\nexec " + ShellQuote(uv) + " pip \"$@\"\n";
  for (const char* name : {"pip", "pip3"}) {
    Status st = fs::WriteFileAtomic(std::filesystem::path(tmpl) / name, script, 0755);
    if (!st.ok()) {
      (void)fs::RemoveAll(tmpl);
      return st.error();
    }
  }
  return std::filesystem::path(tmpl);
}

Error StepFailed(std::string_view step, const StepOutcome& outcome, const LineSink& sink, ErrorCode code) {
  std::string msg = std::string(step) + " failed (exit " + std::to_string(outcome.exit_code) + ")";
  std::string summary = sink.Summary();
  if (!summary.empty()) msg += ": " + summary;
  return Error(code, std::move(msg));
}

Error CancelledError(std::string_view step) {
  return Error(kEnvBuildCancelled, "cancelled while " + std::string(step));
}

}  // namespace

Result<EnvTools> FindEnvTools(const std::string& python, const std::string& uv_hint, const std::string& path_env) {
  EnvTools tools;
  auto py = ResolveExecutable(python, path_env);
  if (!py.ok()) return Error(py.error().code, "Python interpreter: " + py.error().message);
  tools.python = std::filesystem::absolute(*py).lexically_normal().string();
  if (!uv_hint.empty()) {
    auto uv = ResolveExecutable(uv_hint, path_env);
    if (!uv.ok()) return Error(uv.error().code, "uv: " + uv.error().message);
    tools.uv = std::filesystem::absolute(*uv).lexically_normal().string();
    return tools;
  }
  const auto beside = std::filesystem::path(tools.python).parent_path() / "uv";
  if (::access(beside.c_str(), X_OK) == 0) {
    tools.uv = beside.string();
    return tools;
  }
  if (auto uv = ResolveExecutable("uv", path_env); uv.ok())
    tools.uv = std::filesystem::absolute(*uv).lexically_normal().string();
  return tools;
}

Result<std::string> PythonVersion(const std::string& python) {
  std::string text;
  const std::function<void(std::string_view)> collect = [&](std::string_view line) { text += line; };
  LineSink sink(collect);
  const std::string path = ::getenv("PATH") ? ::getenv("PATH") : kDefaultPath;
  auto exe = ResolveExecutable(python, path);
  if (!exe.ok()) return Error(exe.error().code, "cannot run the Python interpreter " + python + ": " + exe.error().message);
  const std::vector<std::string> env = {"PATH=" + path, "PYTHONNOUSERSITE=1"};
  // -S -E: no site packages, no PYTHON* variables: several times quicker to
  // start, and the version is all that is asked.
  auto run = RunStep({*exe, "-S", "-E", "-c", "import sys; print(sys.version.split()[0])"}, "/", env, sink, nullptr);
  if (!run.ok()) return run.error().Wrap("cannot run the Python interpreter " + python);
  std::string version = TrimBlanks(text.substr(0, text.find('\n')));
  const bool looks_right = !version.empty() && version.find_first_not_of("0123456789.abrc+") == std::string::npos &&
                           version[0] >= '0' && version[0] <= '9';
  if (run->exit_code != 0 || !looks_right) {
    std::string why = TrimBlanks(sink.Summary());
    return Error(ErrorCode::kFailedPrecondition, "cannot run the Python interpreter " + python + " (exit " +
                                                     std::to_string(run->exit_code) + ")" +
                                                     (why.empty() ? "" : ": " + why));
  }
  return version;
}

std::string PlatformTag() {
  utsname u{};
  if (::uname(&u) != 0) return "unknown";
  std::string tag = std::string(u.sysname) + "-" + u.machine;
  std::transform(tag.begin(), tag.end(), tag.begin(), [](unsigned char c) { return std::tolower(c); });
  return tag;
}

Status BuildEnv(const std::filesystem::path& env_dir, const EnvBuildInput& input, const EnvTools& tools,
                const std::function<void(std::string_view)>& output, const std::atomic<bool>* cancel) {
  // Every step runs in workdir: paths given relative to ours are made absolute.
  const std::filesystem::path dir = std::filesystem::absolute(env_dir);
  EnvBuildInput in = input;
  in.workdir = std::filesystem::absolute(in.workdir.empty() ? "." : in.workdir);
  if (!in.cache_dir.empty()) in.cache_dir = std::filesystem::absolute(in.cache_dir);
  const bool uv = !tools.uv.empty();
  const std::string tool = uv ? "uv" : "pip";
  if (tools.python.empty()) return Error(ErrorCode::kInvalidArgument, "no Python interpreter to build the environment from");
  if (Cancelled(cancel)) return CancelledError("creating the virtual environment");

  // Nothing waits on a terminal, prints progress bars or colours, checks for
  // its own updates, or downloads an interpreter.
  std::map<std::string, std::string> set = {
      {"PIP_NO_INPUT", "1"},       {"PIP_DISABLE_PIP_VERSION_CHECK", "1"}, {"PIP_PROGRESS_BAR", "off"},
      {"PIP_NO_COLOR", "1"},       {"UV_NO_PROGRESS", "1"},                {"NO_COLOR", "1"},
      {"UV_PYTHON_DOWNLOADS", "never"}, {"PYTHONUNBUFFERED", "1"},
  };
  std::string path = EnvValue(in.env, "PATH");
  set["PATH"] = path.empty() ? kDefaultPath : path;
  if (!in.cache_dir.empty()) set[uv ? "UV_CACHE_DIR" : "PIP_CACHE_DIR"] = in.cache_dir.string();
  const std::vector<std::string> drop = {"VIRTUAL_ENV", "PYTHONHOME", "FORCE_COLOR", "CLICOLOR_FORCE"};
  const std::vector<std::string> env = ChildEnv(in.env, set, drop);
  LineSink sink(output);

  // 1. The virtual environment.
  {
    std::vector<std::string> argv;
    if (uv) argv = {tools.uv, "venv", "--no-project", "--python", tools.python};
    else argv = {tools.python, "-m", "venv"};
    if (in.spec.system_site_packages) argv.push_back("--system-site-packages");
    argv.push_back(dir.string());
    sink.Heading(Heading("environment: creating a virtual environment from " + tools.python +
                         (uv ? " with uv" : " with venv")));
    LATTICE_ASSIGN_OR_RETURN(StepOutcome out, RunStep(argv, in.workdir, env, sink, cancel));
    if (out.cancelled) return CancelledError("creating the virtual environment");
    if (out.exit_code != 0) {
      Error err = StepFailed("creating the virtual environment", out, sink, ErrorCode::kFailedPrecondition);
      if (!uv && err.message.find("ensurepip") != std::string::npos)
        err.message = "creating the virtual environment failed (exit " + std::to_string(out.exit_code) + "): " +
                      tools.python +
                      " has no ensurepip, so its venvs get no pip (on Debian and Ubuntu: apt install "
                      "python3-venv), or give the agent uv";
      return err;
    }
  }

  // 2. The requirements.
  const std::string canonical = CanonicalRequirements(in.spec.requirements);
  if (!canonical.empty()) {
    Scratch file;
    LATTICE_ASSIGN_OR_RETURN(std::filesystem::path reqs, WriteRequirements(in.workdir, in.spec.requirements));
    file.Set(reqs);
    const std::string py = (dir / "bin" / "python").string();
    std::vector<std::string> argv;
    if (uv) argv = {tools.uv, "pip", "install", "--python", py, "-r", reqs.string()};
    else argv = {py, "-m", "pip", "install", "--disable-pip-version-check", "-r", reqs.string()};
    const size_t n = CountRequirements(canonical);
    sink.Heading(Heading("environment: installing " +
                         (n == 0 ? std::string("requirements")
                                 : std::to_string(n) + (n == 1 ? " requirement" : " requirements")) +
                         " with " + tool));
    LATTICE_ASSIGN_OR_RETURN(StepOutcome out, RunStep(argv, in.workdir, env, sink, cancel));
    file.Release();
    if (out.cancelled) return CancelledError("installing requirements");
    if (out.exit_code != 0) return StepFailed("installing requirements", out, sink, ErrorCode::kInvalidArgument);
  }

  // 3. The set-up command, inside the environment.
  if (!in.spec.setup.empty()) {
    if (Cancelled(cancel)) return CancelledError("running the set-up");
    Scratch shims;
    std::string bin = (dir / "bin").string();
    if (uv && ::access((dir / "bin" / "pip").c_str(), X_OK) != 0) {
      LATTICE_ASSIGN_OR_RETURN(std::filesystem::path d, WritePipShims(tools.uv));
      shims.Set(d);
      bin += ":" + d.string();
    }
    std::map<std::string, std::string> setup_set = set;
    setup_set["PATH"] = bin + ":" + set["PATH"];
    setup_set["VIRTUAL_ENV"] = dir.string();
    auto bash = ResolveExecutable("bash", set["PATH"]);
    if (!bash.ok()) bash = ResolveExecutable("bash", kDefaultPath);
    if (!bash.ok()) return bash.error().Wrap("running the set-up");
    std::string shown = RedactCredentials(in.spec.setup);
    std::replace(shown.begin(), shown.end(), '\n', ' ');
    if (shown.size() > 200) shown = shown.substr(0, 197) + "...";
    sink.Heading(Heading("set-up: " + shown));
    // From a 0600 file, not `bash -c`: the command may hold credentials,
    // and a command line is visible to every user of the machine.
    Scratch script;
    LATTICE_ASSIGN_OR_RETURN(std::filesystem::path file, WriteSetupScript(in.spec.setup));
    script.Set(file);
    LATTICE_ASSIGN_OR_RETURN(StepOutcome out, RunStep({*bash, file.string()}, in.workdir,
                                                      ChildEnv(in.env, setup_set, drop), sink, cancel));
    if (out.cancelled) return CancelledError("running the set-up");
    if (out.exit_code != 0) return StepFailed("set-up", out, sink, ErrorCode::kInvalidArgument);
  }
  return OkStatus();
}

}  // namespace lattice::agent
