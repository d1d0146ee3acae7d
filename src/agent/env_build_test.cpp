// Real builds: real interpreters, uv and pip, real venvs, from the local
// wheels of tests/wheels/requirements.txt (scripts/install-deps.sh downloads
// them and installs uv into .venv); no network. Skipped, saying why, where
// the wheels or uv are missing.
#include "agent/env_build.h"

#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "common/fs.h"
#include "common/test_util.h"

namespace lattice::agent {
namespace {

using lattice::testing::TempDir;

std::string SystemPath() {
  const char* p = ::getenv("PATH");
  return p && *p ? p : "/usr/local/bin:/usr/bin:/bin";
}

std::string Python() {
  auto venv = lattice::testing::ProjectVenvBin("python");
  return venv.empty() ? "/usr/bin/python3" : venv.string();
}

bool HasWheels() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(lattice::testing::TestWheelsDir(), ec))
    if (e.path().extension() == ".whl") return true;
  return false;
}

// Runs a shell command; its exit status and stdout.
std::pair<int, std::string> Shell(const std::string& command) {
  std::string out;
  FILE* f = ::popen(command.c_str(), "r");
  if (!f) return {-1, out};
  char buf[4096];
  size_t n;
  while ((n = ::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  const int status = ::pclose(f);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

const char* kTenWheels =
    "requests==2.32.3\nidna==3.10\ncertifi==2024.8.30\nurllib3==2.2.3\ncharset-normalizer==3.4.0\n"
    "six==1.16.0\npython-dateutil==2.9.0.post0\nattrs==24.2.0\npackaging==24.1\ntomli==2.0.2\n";

class EnvBuild : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!HasWheels())
      GTEST_SKIP() << "no test wheels in " << lattice::testing::TestWheelsDir()
                   << " (scripts/install-deps.sh downloads them; LATTICE_TEST_WHEELS names another place)";
    ASSERT_TRUE(fs::MakeDirs(tmp_ / "code").ok());
    ASSERT_TRUE(fs::MakeDirs(tmp_ / "home").ok());
    ASSERT_TRUE(fs::MakeDirs(tmp_ / "env").ok());
    in_.workdir = tmp_ / "code";
    in_.cache_dir = tmp_ / "cache";
    // Hermetic: no user or site configuration of pip and uv, no retries
    // against the unreachable index of the credentials test.
    in_.env = {"PATH=" + SystemPath(), "HOME=" + (tmp_ / "home").string(), "UV_HTTP_RETRIES=0", "PIP_RETRIES=0",
               "PIP_TIMEOUT=2", "PIP_CONFIG_FILE=/dev/null", "LATTICE_TOKEN=not-for-children"};
    in_.spec.python_version = "3";
    in_.spec.platform = PlatformTag();
  }

  // Tools with uv (skips the test when there is none) or without.
  EnvTools Tools(bool uv) {
    auto tools = FindEnvTools(Python(), "", uv ? SystemPath() : "");
    EXPECT_TRUE(tools.ok()) << tools.error().message;
    if (!tools.ok()) return {};
    if (!uv) tools->uv.clear();
    return *tools;
  }

  std::string Wheels() const {
    return "--no-index\n--find-links " + lattice::testing::TestWheelsDir().string() + "\n";
  }

  Status Build(const EnvTools& tools, const std::atomic<bool>* cancel = nullptr) {
    output_.clear();
    return BuildEnv(dir(), in_, tools, [this](std::string_view line) { output_ += line; }, cancel);
  }

  std::filesystem::path dir() const { return tmp_ / "env"; }

  TempDir tmp_;
  EnvBuildInput in_;
  std::string output_;
};

#define SKIP_WITHOUT_UV(tools)                                                                               \
  if ((tools).uv.empty())                                                                                    \
  GTEST_SKIP() << "no uv beside " << Python() << " or on PATH (scripts/install-deps.sh installs it into .venv)"

TEST_F(EnvBuild, WithUv_TenWheels_AreTheOnlyDistributionsAndImport) {
  EnvTools tools = Tools(true);
  SKIP_WITHOUT_UV(tools);
  in_.spec.requirements = Wheels() + kTenWheels;
  Status st = Build(tools);
  ASSERT_TRUE(st.ok()) << st.error().message << "\n" << output_;
  EXPECT_NE(output_.find("lattice: ── environment: installing 10 requirements with uv ──\n"), std::string::npos)
      << output_;
  auto [rc, out] = Shell(dir().string() + "/bin/python -c 'import requests, dateutil, attrs, packaging, tomli, six; "
                                          "import importlib.metadata as m; print(len(list(m.distributions())))'");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "10\n");
  // The requirements file was temporary.
  for (const auto& e : std::filesystem::directory_iterator(in_.workdir)) ADD_FAILURE() << "left behind: " << e.path();
}

TEST_F(EnvBuild, WithPip_TenWheels_Import) {
  EnvTools tools = Tools(false);
  in_.spec.requirements = Wheels() + kTenWheels;
  Status st = Build(tools);
  ASSERT_TRUE(st.ok()) << st.error().message << "\n" << output_;
  EXPECT_NE(output_.find("installing 10 requirements with pip"), std::string::npos) << output_;
  auto [rc, out] = Shell(dir().string() + "/bin/python -c 'import requests, dateutil, attrs, packaging, tomli, six; "
                                          "print(requests.__version__)'");
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out, "2.32.3\n");
}

// The resolver's own words reach both the error (short) and the output.
void ExpectResolverFailure(const Status& st, const std::string& output, const std::string& words) {
  ASSERT_FALSE(st.ok());
  const std::string& msg = st.error().message;
  EXPECT_EQ(msg.rfind("installing requirements failed (exit 1): ", 0), 0u) << msg;
  EXPECT_NE(msg.find("No solution found"), std::string::npos) << msg;
  EXPECT_NE(msg.find(words), std::string::npos) << msg;
  EXPECT_LE(msg.size(), 400u) << msg;
  EXPECT_NE(output.find(words), std::string::npos) << output;
}

TEST_F(EnvBuild, TypoedPackageName_FailsWithTheResolversMessage) {
  EnvTools tools = Tools(true);
  SKIP_WITHOUT_UV(tools);
  in_.spec.requirements = Wheels() + "requets==2.32.3\n";
  ExpectResolverFailure(Build(tools), output_, "requets was not found");
}

TEST_F(EnvBuild, UnresolvablePin_FailsWithTheResolversMessage) {
  EnvTools tools = Tools(true);
  SKIP_WITHOUT_UV(tools);
  in_.spec.requirements = Wheels() + "six>=99\n";
  ExpectResolverFailure(Build(tools), output_, "you require six>=99");
}

TEST_F(EnvBuild, ConflictingPair_FailsWithTheResolversMessage) {
  EnvTools tools = Tools(true);
  SKIP_WITHOUT_UV(tools);
  in_.spec.requirements = Wheels() + "python-dateutil==2.9.0.post0\nsix<1.5\n";
  ExpectResolverFailure(Build(tools), output_, "python-dateutil==2.9.0.post0 depends on six>=1.5");
}

TEST_F(EnvBuild, SetUp_RunsInWorkdirInsideTheEnvironmentWithPipForUv) {
  EnvTools tools = Tools(true);
  SKIP_WITHOUT_UV(tools);
  // No requirements: only the set-up, whose `pip` installs into the env.
  in_.spec.setup = "pwd > where; echo \"$VIRTUAL_ENV\" >> where; command -v python >> where; env > seen\n"
                   "pip install --no-index --find-links " + lattice::testing::TestWheelsDir().string() +
                   " six==1.16.0 && python -c 'import six'";
  Status st = Build(tools);
  ASSERT_TRUE(st.ok()) << st.error().message << "\n" << output_;
  EXPECT_NE(output_.find("lattice: ── set-up: pwd > where;"), std::string::npos) << output_;
  EXPECT_EQ(output_.find("installing"), std::string::npos) << output_;
  auto where = fs::ReadFile(in_.workdir / "where");
  ASSERT_TRUE(where.ok());
  EXPECT_EQ(*where, in_.workdir.string() + "\n" + dir().string() + "\n" + dir().string() + "/bin/python\n");
  auto seen = fs::ReadFile(in_.workdir / "seen");
  ASSERT_TRUE(seen.ok());
  EXPECT_EQ(seen->find("LATTICE_"), std::string::npos);
  EXPECT_NE(seen->find("PIP_NO_INPUT=1"), std::string::npos);
  EXPECT_NE(seen->find("UV_CACHE_DIR=" + in_.cache_dir.string()), std::string::npos);
}

TEST_F(EnvBuild, FailingSetUp_IsReportedWithItsExitCodeAndLastLines) {
  EnvTools tools = Tools(true);
  SKIP_WITHOUT_UV(tools);
  in_.spec.requirements = Wheels() + "six==1.16.0\n";
  in_.spec.setup = "echo preparing data; echo 'data.csv: missing' >&2; exit 3";
  Status st = Build(tools);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message, "set-up failed (exit 3): preparing data data.csv: missing");
  EXPECT_NE(output_.find("preparing data\ndata.csv: missing\n"), std::string::npos) << output_;
}

TEST_F(EnvBuild, Cancel_StopsARunningStepPromptly) {
  EnvTools tools = Tools(true);
  SKIP_WITHOUT_UV(tools);
  in_.spec.setup = "echo started; sleep 30";
  std::atomic<bool> started{false}, cancel{false};
  std::thread canceller([&] {
    for (int i = 0; i < 200 && !started; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    cancel = true;
  });
  const auto t0 = std::chrono::steady_clock::now();
  Status st = BuildEnv(dir(), in_, tools, [&](std::string_view line) { if (line == "started\n") started = true; },
                       &cancel);
  const auto took = std::chrono::steady_clock::now() - t0;
  canceller.join();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(started);
  EXPECT_EQ(st.error().message, "cancelled while running the set-up");
  EXPECT_EQ(st.error().code, kEnvBuildCancelled);
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(EnvBuild, CancelBeforeStart_RunsNothing) {
  EnvTools tools = Tools(false);
  std::atomic<bool> cancel{true};
  in_.spec.requirements = "six\n";
  Status st = Build(tools, &cancel);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(output_, "");
  EXPECT_TRUE(std::filesystem::is_empty(dir()));
}

const char* kSecretIndex = "--index-url https://user:s3cret@127.0.0.1:1/simple\n";

void ExpectNoSecret(const Status& st, const std::string& output) {
  EXPECT_EQ(output.find("s3cret"), std::string::npos) << output;
  EXPECT_EQ(output.find("user:"), std::string::npos) << output;
  if (!st.ok()) {
    EXPECT_EQ(st.error().message.find("s3cret"), std::string::npos) << st.error().message;
    EXPECT_EQ(st.error().message.find("user:"), std::string::npos) << st.error().message;
  }
}

TEST_F(EnvBuild, CredentialsInRequirements_NeverShowWithUv) {
  EnvTools tools = Tools(true);
  SKIP_WITHOUT_UV(tools);
  // Found in the local wheels; then a package only the (unreachable) index
  // could have, so the build fails while using the credentials.
  in_.spec.requirements = std::string(kSecretIndex) + "--find-links " +
                          lattice::testing::TestWheelsDir().string() + "\nsix==1.16.0\nnot-in-the-wheels\n";
  Status st = Build(tools);
  ASSERT_FALSE(st.ok());
  ExpectNoSecret(st, output_);

  // Set-up output that prints a credential, and the command's own text.
  in_.spec.requirements = Wheels() + "six==1.16.0\n";
  in_.spec.setup = "tr '\\0' ' ' < /proc/$$/cmdline > cmdline\n"
                   "echo --extra-index-url=https://user:s3cret@127.0.0.1:1/simple; exit 2 # https://user:s3cret@h";
  ASSERT_TRUE(fs::RemoveAll(dir()).ok());
  ASSERT_TRUE(fs::MakeDirs(dir()).ok());
  st = Build(tools);
  ASSERT_FALSE(st.ok());
  ExpectNoSecret(st, output_);
  EXPECT_NE(output_.find("echo --extra-index-url=https://****@127.0.0.1:1/simple; exit 2 # https://****@h ──\n"),
            std::string::npos)
      << output_;
  EXPECT_EQ(st.error().message, "set-up failed (exit 2): --extra-index-url=https://****@127.0.0.1:1/simple");
  // Nor is the command on the set-up's command line, for process listings.
  auto cmdline = fs::ReadFile(in_.workdir / "cmdline");
  ASSERT_TRUE(cmdline.ok());
  EXPECT_EQ(cmdline->find("s3cret"), std::string::npos) << *cmdline;
  EXPECT_EQ(cmdline->find("echo"), std::string::npos) << *cmdline;
}

TEST_F(EnvBuild, CredentialsInRequirements_NeverShowWithPip) {
  // pip prints the index as "https://user:****@127.0.0.1:1/simple".
  EnvTools tools = Tools(false);
  in_.spec.requirements = std::string(kSecretIndex) + "not-in-the-wheels\n";
  Status st = Build(tools);
  ASSERT_FALSE(st.ok());
  ExpectNoSecret(st, output_);
  EXPECT_NE(output_.find("Looking in indexes: https://****@127.0.0.1:1/simple"), std::string::npos) << output_;
  EXPECT_NE(st.error().message.find("not-in-the-wheels"), std::string::npos) << st.error().message;
}

TEST_F(EnvBuild, CredentialsSplitAcrossWrites_AreJoinedIntoTheirLineBeforeMasking) {
  EnvTools tools = Tools(true);
  SKIP_WITHOUT_UV(tools);
  in_.spec.setup = "printf 'index https://us'; sleep 0.3; printf 'er:s3cret@h/simple\\nlast https://t0ken@h'";
  Status st = Build(tools);
  ASSERT_TRUE(st.ok()) << st.error().message;
  // (The command in the heading holds the secret in two halves, which no
  // masking can recognise; what the command printed is the point here.)
  const std::string printed = output_.substr(output_.find('\n', output_.find("set-up: ")) + 1);
  EXPECT_EQ(printed, "index https://****@h/simple\nlast https://****@h\n");
}

TEST_F(EnvBuild, WithoutEnsurepip_TheErrorSaysWhatToInstall) {
  // An interpreter whose venv module fails as Debian's does without python3-venv.
  ASSERT_TRUE(fs::WriteFileAtomic(tmp_ / "python3",
                                  "#!/bin/sh\necho 'The virtual environment was not created successfully because "
                                  "ensurepip is not'\necho 'available.'\nexit 1\n",
                                  0755)
                  .ok());
  EnvTools tools{(tmp_ / "python3").string(), ""};
  in_.spec.requirements = "six\n";
  Status st = Build(tools);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("creating the virtual environment failed (exit 1): "), std::string::npos)
      << st.error().message;
  EXPECT_NE(st.error().message.find("has no ensurepip"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find("python3-venv"), std::string::npos) << st.error().message;
  EXPECT_NE(output_.find("ensurepip is not"), std::string::npos) << output_;
}

TEST(EnvTools, UvIsTheHintElseBesideThePythonElseOnPath) {
  TempDir tmp;
  auto exe = [&](const std::string& rel) {
    auto p = tmp / rel;
    std::filesystem::create_directories(p.parent_path());
    EXPECT_TRUE(fs::WriteFileAtomic(p, "#!/bin/sh\n", 0755).ok());
    return p.string();
  };
  const std::string python = exe("venv/bin/python"), beside = exe("venv/bin/uv");
  const std::string on_path = exe("path/uv"), hint = exe("other/uv");
  const std::string path = (tmp / "path").string();

  auto t = FindEnvTools(python, hint, path);
  ASSERT_TRUE(t.ok()) << t.error().message;
  EXPECT_EQ(t->python, python);
  EXPECT_EQ(t->uv, hint);
  t = FindEnvTools(python, "", path);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->uv, beside);
  std::filesystem::remove(beside);
  t = FindEnvTools(python, "", path);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->uv, on_path);
  t = FindEnvTools(python, "", "/nonexistent");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->uv, "");

  t = FindEnvTools("python", "", (tmp / "venv" / "bin").string());  // a name on PATH
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->python, python);
  EXPECT_FALSE(FindEnvTools(python, (tmp / "no-uv").string(), path).ok());
  auto missing = FindEnvTools("no-such-python", "", path);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("no-such-python"), std::string::npos);
}

TEST(EnvTools, PythonVersionRunsTheInterpreterAndNamesItWhenItCannot) {
  auto v = PythonVersion(Python());
  ASSERT_TRUE(v.ok()) << v.error().message;
  // "3.N.M", perhaps with a suffix ("3.13.0rc1").
  EXPECT_EQ(v->rfind("3.", 0), 0u) << *v;
  EXPECT_EQ(std::count(v->begin(), v->end(), '.'), 2) << *v;

  auto missing = PythonVersion("/nonexistent/python3");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/python3"), std::string::npos) << missing.error().message;

  TempDir tmp;
  ASSERT_TRUE(fs::WriteFileAtomic(tmp / "python", "#!/bin/sh\necho broken interpreter >&2; exit 1\n", 0755).ok());
  auto broken = PythonVersion((tmp / "python").string());
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message.find((tmp / "python").string()), std::string::npos);
  EXPECT_NE(broken.error().message.find("broken interpreter"), std::string::npos) << broken.error().message;

  EXPECT_EQ(PlatformTag().rfind("linux-", 0), 0u) << PlatformTag();
}

}  // namespace
}  // namespace lattice::agent
