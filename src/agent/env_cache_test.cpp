#include "agent/env_cache.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "common/fs.h"
#include "common/test_util.h"

namespace lattice::agent {
namespace {

using lattice::testing::TempDir;

const std::string kKey(64, 'a');

EnvBuilder Writes(const std::string& name, std::atomic<int>* builds) {
  return [name, builds](const std::filesystem::path& dir) {
    ++*builds;
    return fs::WriteFileAtomic(dir / name, "built");
  };
}

TEST(EnvKey, CommentsOrderAndBlanksDoNotMatterButPinsAndInterpreterDo) {
  EnvSpec a{"3.11.7", "linux-x86_64", "torch==1.13\n# the model\nnumpy>=1.24  # arrays\n\n", false, ""};
  EnvSpec b{"3.11.7", "linux-x86_64", "numpy>=1.24\ntorch==1.13\n", false, ""};
  EXPECT_EQ(EnvKey(a), EnvKey(b));
  EnvSpec pin = b;
  pin.requirements = "numpy>=1.25\ntorch==1.13\n";
  EXPECT_NE(EnvKey(pin), EnvKey(b));
  EnvSpec py = b;
  py.python_version = "3.12.1";
  EXPECT_NE(EnvKey(py), EnvKey(b));
  EnvSpec site = b;
  site.system_site_packages = true;
  EXPECT_NE(EnvKey(site), EnvKey(b));
  EnvSpec setup = b;
  setup.setup = "pip install -e .";
  EXPECT_NE(EnvKey(setup), EnvKey(b));
  EXPECT_EQ(EnvKey(b).size(), 64u);
}

TEST(CanonicalRequirements, JoinsContinuationsAndKeepsHashesInsideUrls) {
  EXPECT_EQ(CanonicalRequirements("pkg @ https://x/y.whl#sha256=ab \\\n  --hash=sha256:cd\n"),
            "pkg @ https://x/y.whl#sha256=ab --hash=sha256:cd\n");
}

TEST(EnvCache, TheSecondAcquireReusesTheEnvironmentWithoutBuilding) {
  TempDir dir;
  EnvCache cache(dir.path());
  ASSERT_TRUE(cache.Init().ok());
  std::atomic<int> builds{0};
  auto first = cache.Acquire(kKey, Writes("python", &builds));
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = cache.Acquire(kKey, Writes("python", &builds));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(first->path(), second->path());
  EXPECT_TRUE(first->built());
  EXPECT_FALSE(second->built());
  EXPECT_EQ(builds.load(), 1);
  EXPECT_TRUE(cache.IsReady(kKey));
}

TEST(EnvCache, ConcurrentAcquiresOfANewKeyBuildItOnce) {
  TempDir dir;
  EnvCache cache(dir.path());
  ASSERT_TRUE(cache.Init().ok());
  std::atomic<int> builds{0};
  auto slow = [&](const std::filesystem::path& d) {
    ++builds;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    return fs::WriteFileAtomic(d / "python", "built");
  };
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      auto r = cache.Acquire(kKey, slow);
      if (r.ok() && fs::ReadFile(r->path() / "python").ok()) ++ready;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(builds.load(), 1);
  EXPECT_EQ(ready.load(), 4);
}

TEST(EnvCache, AFailedBuildIsNeverReadyAndTheNextAcquireStartsOver) {
  TempDir dir;
  EnvCache cache(dir.path());
  ASSERT_TRUE(cache.Init().ok());
  auto failing = [](const std::filesystem::path& d) -> Status {
    (void)fs::WriteFileAtomic(d / "half", "x");
    return Error(ErrorCode::kFailedPrecondition, "ERROR: No matching distribution found for torchh");
  };
  auto r = cache.Acquire(kKey, failing);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("torchh"), std::string::npos);
  EXPECT_FALSE(cache.IsReady(kKey));
  EXPECT_TRUE(cache.List().empty());
  std::atomic<int> builds{0};
  auto again = cache.Acquire(kKey, Writes("python", &builds));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(builds.load(), 1);
  EXPECT_FALSE(std::filesystem::exists(again->path() / "half"));
}

TEST(EnvCache, ABuildKilledHalfWayIsNeverUsedAndReleasesItsLock) {
  TempDir dir;
  {
    EnvCache cache(dir.path());
    ASSERT_TRUE(cache.Init().ok());
  }
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    EnvCache cache(dir.path());
    (void)cache.Acquire(kKey, [](const std::filesystem::path& d) -> Status {
      (void)fs::WriteFileAtomic(d / "half", "x");
      ::kill(::getpid(), SIGKILL);  // the agent dies mid-build
      return OkStatus();
    });
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EnvCache cache(dir.path());
  EXPECT_FALSE(cache.IsReady(kKey));
  std::atomic<int> builds{0};
  auto r = cache.Acquire(kKey, Writes("python", &builds));  // does not block on the dead builder
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(builds.load(), 1);
  EXPECT_FALSE(std::filesystem::exists(r->path() / "half"));
}

TEST(EnvCache, ListShowsSizeAndLastUseAndPruneKeepsEnvironmentsInUse) {
  TempDir dir;
  EnvCache cache(dir.path());
  ASSERT_TRUE(cache.Init().ok());
  const std::string other(64, 'b');
  std::atomic<int> builds{0};
  auto held = cache.Acquire(kKey, [](const std::filesystem::path& d) {
    return fs::WriteFileAtomic(d / "lib", std::string(5000, 'x'));
  });
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(cache.Acquire(other, Writes("python", &builds)).ok());  // released at once
  auto list = cache.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].key, kKey);
  EXPECT_GE(list[0].size_bytes, 5000u);
  EXPECT_GT(list[0].last_used_ms, 0);
  // Another process (a `lattice env prune`) sees the lease too.
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    EnvCache in_child(dir.path());
    auto removed = in_child.Prune(INT64_MAX);
    _exit(removed.ok() && removed->size() == 1 && (*removed)[0].key == other ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_TRUE(cache.IsReady(kKey));
  EXPECT_FALSE(cache.IsReady(other));
}

TEST(EnvCache, PruneByAgeKeepsRecentlyUsedOnes) {
  TempDir dir;
  EnvCache cache(dir.path());
  ASSERT_TRUE(cache.Init().ok());
  std::atomic<int> builds{0};
  ASSERT_TRUE(cache.Acquire(kKey, Writes("python", &builds)).ok());
  auto kept = cache.Prune(/*unused_since_ms=*/0);
  ASSERT_TRUE(kept.ok());
  EXPECT_TRUE(kept->empty());
  EXPECT_TRUE(cache.IsReady(kKey));
  auto removed = cache.Prune(INT64_MAX);
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed->size(), 1u);
  EXPECT_TRUE(cache.List().empty());
}

TEST(EnvCache, AMalformedKeyIsRefused) {
  TempDir dir;
  EnvCache cache(dir.path());
  ASSERT_TRUE(cache.Init().ok());
  std::atomic<int> builds{0};
  EXPECT_FALSE(cache.Acquire("../escape", Writes("x", &builds)).ok());
  EXPECT_EQ(builds.load(), 0);
}

}  // namespace
}  // namespace lattice::agent
