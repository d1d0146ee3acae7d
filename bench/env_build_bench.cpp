// env_build_bench: the agent's environment path without the agent, for
// bench/env_build.py. Builds a requirement file's environment through
// EnvCache::Acquire and BuildEnv exactly as the agent does (the spec from
// the interpreter's version and the platform, the key, the cache lock, the
// ready marker), and times getting an environment that is already ready.
// Prints one JSON object on stdout; the build's output goes to stderr
// unless --quiet.
//
//   env_build_bench build   --root DIR --requirements FILE [--workdir DIR] [--cache DIR]
//                           [--python P] [--uv U] [--quiet]
//   env_build_bench acquire --root DIR --requirements FILE [--python P] [--repeat N]
//
// build:   {"op":"build","key":K,"built":true,"ms":M,"path":P}; exit 1 with
//          the error on stderr when the build fails.
// acquire: {"op":"acquire","repeat":N,"median_ms":..,"max_ms":..,
//          "python_version_ms":..}: N Acquire calls on the ready key (each
//          with EnvKey), and, apart, the one PythonVersion call the agent
//          makes per interpreter.
// --uv "" builds with python -m venv and pip; without --uv, uv is found as
// the agent finds it (beside the interpreter, else on PATH).
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "agent/env_build.h"
#include "agent/env_cache.h"
#include "common/fs.h"

extern char** environ;

namespace {

using namespace lattice;
using namespace lattice::agent;
using Clock = std::chrono::steady_clock;

double Ms(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

[[noreturn]] void Usage() {
  std::fprintf(stderr,
               "usage: env_build_bench build --root DIR --requirements FILE [--workdir DIR] [--cache DIR] "
               "[--python P] [--uv U] [--quiet]\n"
               "       env_build_bench acquire --root DIR --requirements FILE [--python P] [--repeat N]\n");
  std::exit(2);
}

[[noreturn]] void Fail(const std::string& what, const Error& e) {
  std::fprintf(stderr, "env_build_bench: %s: %s\n", what.c_str(), e.message.c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) Usage();
  const std::string op = argv[1];
  std::map<std::string, std::string> opt = {{"--python", "python3"}, {"--repeat", "20"}};
  bool quiet = false, uv_given = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quiet") {
      quiet = true;
    } else if (i + 1 < argc && (a == "--root" || a == "--requirements" || a == "--workdir" || a == "--cache" ||
                                a == "--python" || a == "--uv" || a == "--repeat")) {
      opt[a] = argv[++i];
      uv_given = uv_given || a == "--uv";
    } else {
      Usage();
    }
  }
  if ((op != "build" && op != "acquire") || !opt.count("--root") || !opt.count("--requirements")) Usage();

  const char* path_env = ::getenv("PATH");
  auto tools = FindEnvTools(opt["--python"], uv_given ? opt["--uv"] : "", path_env ? path_env : "");
  if (!tools.ok()) Fail("finding the tools", tools.error());
  if (uv_given && opt["--uv"].empty()) tools->uv.clear();
  auto requirements = fs::ReadFile(opt["--requirements"]);
  if (!requirements.ok()) Fail("reading the requirements", requirements.error());

  EnvCache cache(opt["--root"]);
  if (Status st = cache.Init(); !st.ok()) Fail("creating the cache", st.error());

  auto t0 = Clock::now();
  auto version = PythonVersion(tools->python);
  const double version_ms = Ms(t0);
  if (!version.ok()) Fail("asking the interpreter", version.error());
  EnvSpec spec{*version, PlatformTag(), *requirements, false, ""};

  if (op == "build") {
    EnvBuildInput in;
    in.spec = spec;
    in.workdir = opt.count("--workdir") ? opt["--workdir"] : std::filesystem::current_path().string();
    for (char** e = environ; *e; ++e) in.env.push_back(*e);
    if (opt.count("--cache")) in.cache_dir = opt["--cache"];
    auto output = [quiet](std::string_view line) {
      if (!quiet) std::fwrite(line.data(), 1, line.size(), stderr);
    };
    t0 = Clock::now();
    const std::string key = EnvKey(spec);
    auto lease = cache.Acquire(key, [&](const std::filesystem::path& dir) {
      return BuildEnv(dir, in, *tools, output, nullptr);
    });
    const double ms = Ms(t0);
    if (!lease.ok()) Fail("building", lease.error());
    std::printf("{\"op\":\"build\",\"key\":\"%s\",\"built\":%s,\"ms\":%.3f,\"path\":\"%s\",\"tool\":\"%s\"}\n",
                key.c_str(), lease->built() ? "true" : "false", ms, lease->path().c_str(),
                tools->uv.empty() ? "pip" : "uv");
    return 0;
  }

  const int repeat = std::max(1, std::atoi(opt["--repeat"].c_str()));
  std::vector<double> times;
  for (int i = 0; i < repeat; ++i) {
    t0 = Clock::now();
    auto lease = cache.Acquire(EnvKey(spec), [](const std::filesystem::path&) {
      return Status(Error(ErrorCode::kFailedPrecondition, "the environment is not built yet (run build first)"));
    });
    times.push_back(Ms(t0));
    if (!lease.ok()) Fail("acquiring", lease.error());
  }
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  std::printf("{\"op\":\"acquire\",\"repeat\":%d,\"median_ms\":%.3f,\"max_ms\":%.3f,\"python_version_ms\":%.3f}\n",
              repeat, sorted[sorted.size() / 2], sorted.back(), version_ms);
  return 0;
}
