// Builds a run's Python environment in a directory EnvCache hands over
// (issue: environments): a virtual environment made from a given
// interpreter, the run's requirements installed into it with uv (or, without
// uv, with the venv's own pip), then the run's set-up command. Every child
// runs under the launcher's supervisor (its own process group, killed with
// the agent), its output streamed line by line, credentials masked, to the
// caller; nothing waits on a terminal.
//
// Thread-safe: no shared state; concurrent builds must use different dirs
// (EnvCache's lock sees to that).
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/env_cache.h"
#include "common/result.h"

namespace lattice::agent {

struct EnvTools {
  std::string python;  // absolute interpreter the venv is made from
  std::string uv;      // absolute path of uv; empty: python -m venv, then the venv's pip
};

// Finds the tools for a build. python: a path, or a name looked up on
// path_env (kNotFound when it is not there). uv: uv_hint when given (an
// error when it is not executable), else `uv` beside the interpreter as
// named (e.g. .venv/bin/uv for .venv/bin/python), else `uv` on path_env,
// else none.
Result<EnvTools> FindEnvTools(const std::string& python, const std::string& uv_hint, const std::string& path_env);

// The interpreter's version, e.g. "3.11.7", by running it; an error naming
// the interpreter when it cannot run or answers nonsense.
Result<std::string> PythonVersion(const std::string& python);

// "<os>-<machine>" in lowercase from uname, e.g. "linux-x86_64".
std::string PlatformTag();

struct EnvBuildInput {
  EnvSpec spec;
  // The working directory of every step: the experiment's code, so relative
  // paths in the requirements ("-e .", "-r base.txt", "./wheels") resolve
  // as they do beside the run's requirements.txt.
  std::filesystem::path workdir;
  // The base environment ("K=V") of the children. LATTICE_* entries are
  // dropped; the build sets its own PIP_*/UV_* switches on top.
  std::vector<std::string> env;
  // The package cache (UV_CACHE_DIR with uv, PIP_CACHE_DIR with pip);
  // empty: the tool's default.
  std::filesystem::path cache_dir;
};

// The error code of a build stopped through `cancel` (its message starts
// with "cancelled while"); the caller knows it asked.
inline constexpr ErrorCode kEnvBuildCancelled = ErrorCode::kFailedPrecondition;

// Fills dir (which exists and is empty) with the environment of in.spec:
//   1. `uv venv --no-project --python <python> [--system-site-packages] <dir>`
//      (without uv: `<python> -m venv [--system-site-packages] <dir>`);
//   2. `uv pip install --python <dir>/bin/python -r <file>` (without uv:
//      `<dir>/bin/python -m pip install -r <file>`), where <file> holds the
//      requirement text: a 0600 file in workdir (else $TMPDIR), never part of
//      a command line, removed at the end; skipped when there is no
//      requirement;
//   3. in.spec.setup, if any, run by bash in workdir (from a 0600 script
//      file, so its text is not on a command line), <dir>/bin first on PATH
//      and VIRTUAL_ENV=<dir> (with uv, `pip` there runs `uv pip`).
// Each step starts with a heading line ("lattice: ── environment: installing
// 10 requirements with uv ──"); output gets whole lines, each ending in
// '\n', as they come, credentials masked (RedactCredentials). It is called
// on this thread.
// A failed step is an error naming the step, its exit code and its last
// lines, short enough for a status line, e.g. "installing requirements
// failed (exit 1): × No solution found when resolving dependencies: ...".
// When *cancel turns true (checked at least every 100 ms) the running step
// is stopped (SIGTERM, SIGKILL 2 s later) and the result is
// kEnvBuildCancelled. What is left in dir is the caller's to remove.
Status BuildEnv(const std::filesystem::path& dir, const EnvBuildInput& in, const EnvTools& tools,
                const std::function<void(std::string_view)>& output, const std::atomic<bool>* cancel);

}  // namespace lattice::agent
