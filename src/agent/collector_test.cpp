#include "agent/collector.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/fs.h"
#include "common/test_util.h"

namespace lattice::agent {
namespace {

using lattice::testing::TempDir;

class CollectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* d : {"code", "artifacts", "checkpoints"}) ASSERT_TRUE(fs::MakeDirs(dir_.path() / d).ok());
    paths_.metrics_file = dir_.path() / "metrics.jsonl";
    paths_.workspace = dir_.path() / "code";
    paths_.artifacts_dir = dir_.path() / "artifacts";
    paths_.checkpoint_dir = dir_.path() / "checkpoints";
  }
  AttemptCollector Make() { return AttemptCollector(paths_, -1, {}, nullptr, 0, CollectorOptions{.settle_ms = 0}); }
  static const metrics::SeriesBatch* Find(const CollectOutput& out, const std::string& key) {
    for (const auto& s : out.points)
      if (s.key == key) return &s;
    return nullptr;
  }
  void Append(const std::filesystem::path& p, const std::string& text) {
    auto old = fs::ReadFile(p);
    ASSERT_TRUE(fs::WriteFileAtomic(p, (old.ok() ? *old : std::string()) + text).ok());
  }
  TempDir dir_;
  CollectorPaths paths_;
};

TEST_F(CollectorTest, JsonLinesAndEventFilesAnywhereInTheWorkspaceBecomePoints) {
  AttemptCollector c = Make();
  Append(paths_.metrics_file, "{\"step\": 1, \"loss\": 0.5}\n{\"step\": 2, \"loss\": NaN}\n");
  ASSERT_TRUE(fs::MakeDirs(paths_.workspace / "lightning_logs" / "version_0").ok());
  Append(paths_.workspace / "lightning_logs" / "version_0" / "events.out.tfevents.1.host",
         metrics::EncodeFileVersionRecord(1) + metrics::EncodeScalarRecord("val/acc", 7, 1.5, 0.25, false) +
             metrics::EncodeScalarRecord("val/acc", 8, 1.6, 0.5, true));
  CollectOutput out = c.Collect(1000, 100.0, false);
  const auto* loss = Find(out, "loss");
  ASSERT_NE(loss, nullptr);
  ASSERT_EQ(loss->points.size(), 2u);
  EXPECT_EQ(loss->points[0].step, 1);
  EXPECT_TRUE(std::isnan(loss->points[1].value));
  const auto* acc = Find(out, "val/acc");
  ASSERT_NE(acc, nullptr);
  ASSERT_EQ(acc->points.size(), 2u);
  EXPECT_EQ(acc->points[1].step, 8);
  EXPECT_EQ(acc->points[1].value, 0.5);
  // Nothing new: nothing again.
  CollectOutput again = c.Collect(1500, 100.5, false);
  EXPECT_TRUE(again.points.empty());
}

TEST_F(CollectorTest, AnUnterminatedLastLineIsReadOnlyWhenTheAttemptEnds) {
  AttemptCollector c = Make();
  Append(paths_.metrics_file, "{\"step\": 1, \"x\": 1}\n{\"step\": 2, \"x\": 2}");
  EXPECT_EQ(Find(c.Collect(1000, 1, false), "x")->points.size(), 1u);
  CollectOutput last = c.Collect(2000, 2, true);
  ASSERT_NE(Find(last, "x"), nullptr);
  EXPECT_EQ(Find(last, "x")->points[0].step, 2);
  EXPECT_TRUE(c.Collect(3000, 3, true).points.empty());  // finished: nothing more
}

TEST_F(CollectorTest, AMalformedLineIsAWarningAndTheNextLinesStillCount) {
  AttemptCollector c = Make();
  Append(paths_.metrics_file, "{\"a\": 1}\n{\"a\": }\n{\"a\": 3}\n");
  CollectOutput out = c.Collect(1000, 1, false);
  ASSERT_EQ(out.warnings.size(), 1u);
  EXPECT_NE(out.warnings[0].find("line 2"), std::string::npos) << out.warnings[0];
  EXPECT_EQ(Find(out, "a")->points.size(), 2u);
}

TEST_F(CollectorTest, ReadersResumeFromSavedStateWithoutRepeatingPoints) {
  Json state;
  {
    AttemptCollector c = Make();
    Append(paths_.metrics_file, "{\"a\": 1}\n{\"a\": 2}\n");
    EXPECT_EQ(Find(c.Collect(1000, 1, false), "a")->points.size(), 2u);
    state = c.State();
  }
  Append(paths_.metrics_file, "{\"a\": 3}\n");
  AttemptCollector again = Make();
  again.Restore(state);
  CollectOutput out = again.Collect(1000, 1, false);
  ASSERT_NE(Find(out, "a"), nullptr);
  ASSERT_EQ(Find(out, "a")->points.size(), 1u);
  EXPECT_EQ(Find(out, "a")->points[0].value, 3);
  EXPECT_EQ(Find(out, "a")->points[0].step, 2);  // the step count resumed too
}

TEST_F(CollectorTest, CompleteFilesAreOfferedAndTemporaryCheckpointNamesAreNot) {
  AttemptCollector c = Make();
  Append(paths_.artifacts_dir / "model.onnx", "m");
  Append(paths_.checkpoint_dir / "epoch-1.pt", "e1");
  Append(paths_.checkpoint_dir / ".epoch-2.pt.tmp", "partial");
  Append(paths_.checkpoint_dir / "other.tmp", "partial");
  std::vector<std::string> artifacts, checkpoints;
  for (int64_t ms : {1000, 2000, 3000}) {  // each complete version is offered once
    CollectOutput out = c.Collect(ms, 1, false);
    for (const auto& f : out.artifacts) artifacts.push_back(f.relative_path);
    for (const auto& f : out.checkpoints) checkpoints.push_back(f.relative_path);
  }
  EXPECT_EQ(artifacts, std::vector<std::string>{"model.onnx"});
  EXPECT_EQ(checkpoints, std::vector<std::string>{"epoch-1.pt"});
}

}  // namespace
}  // namespace lattice::agent
