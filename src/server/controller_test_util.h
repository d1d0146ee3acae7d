// The controller tests' harness: a real SqliteStore (behind a wrapper that can
// fail commits on demand) and a real LogStore in a temporary directory, a
// FakeClock, and a listener that records every callback. Restart() builds a
// new Controller over the same files, as a server restart (or crash) would.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/log.h"
#include "common/test_util.h"
#include "server/controller.h"
#include "server/log_store.h"
#include "store/store.h"

namespace lattice::testing {

// Passes everything to a real store, but fails the next `fail_commits` commits.
class FaultyStore final : public Store {
 public:
  explicit FaultyStore(std::unique_ptr<Store> inner) : inner_(std::move(inner)) {}
  Result<StoreData> Load() override { return inner_->Load(); }
  Status Commit(const StoreBatch& batch) override {
    ++commits;
    if (fail_commits > 0) {
      --fail_commits;
      return Error(ErrorCode::kIo, "injected: disk full");
    }
    return inner_->Commit(batch);
  }
  int SchemaVersion() override { return inner_->SchemaVersion(); }
  Status AddArtifacts(std::vector<ArtifactRecord>* records) override { return inner_->AddArtifacts(records); }
  Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run, int experiment,
                                                    const std::string& kind) override {
    return inner_->ListArtifacts(run, experiment, kind);
  }
  Result<std::vector<ArtifactRecord>> LatestCheckpoint(const std::string& run, int experiment) override {
    return inner_->LatestCheckpoint(run, experiment);
  }

  int fail_commits = 0;
  int commits = 0;

 private:
  std::unique_ptr<Store> inner_;
};

inline const std::string kSnapshot(64, 'a');
constexpr int64_t kNodeTimeoutMs = 6000;

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kError);  // keep the test output readable
    Restart();
  }

  // A new store, log store and controller over the same files.
  void Restart() {
    controller_.reset();
    logs_.reset();
    store_.reset();
    auto s = OpenSqliteStore((dir_ / "lattice.db").string());
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::make_unique<FaultyStore>(std::move(s).value());
    logs_ = std::make_unique<LogStore>(dir_ / "logs");
    ASSERT_TRUE(logs_->Init().ok());
    ControllerListener listener{[this](const std::string& n) { woken_.push_back(n); },
                                [this](const std::string& r) { changed_.push_back(r); },
                                [this](const std::string& r) { logs_arrived_.push_back(r); }};
    controller_ = std::make_unique<Controller>(*store_, *logs_, clock_, ControllerOptions{kNodeTimeoutMs}, listener);
    Status st = controller_->Load();
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  Controller& c() { return *controller_; }

  // Registers a node whose GPUs carry the given (CUDA) indices.
  void Register(const std::string& id, std::vector<int> gpu_indices = {}, double cpus = 16) {
    NodeRegistration reg;
    reg.id = id;
    reg.hostname = id + ".local";
    reg.address = "10.0.0." + std::to_string(id.size() + static_cast<size_t>(id.back()));
    reg.cpus = cpus;
    reg.memory_bytes = 64ull << 30;
    for (int i : gpu_indices) reg.gpus.push_back(Gpu{i, "Sim GPU", 16ull << 30});
    auto r = c().RegisterNode(reg);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  Result<const lattice::Run*> TrySubmit(const std::string& name, int gpus = 0, int max_restarts = 0) {
    SubmitRequest req;
    req.name = name;
    req.spec.script = "train.py";
    req.spec.args = {"--lr", "0.1"};
    req.spec.snapshot = kSnapshot;
    req.spec.env = {{"WANDB_MODE", "offline"}};
    req.spec.resources.gpus = gpus;
    req.spec.max_restarts = max_restarts;
    return c().Submit(std::move(req), rng_);
  }

  void Submit(const std::string& name, int gpus = 0, int max_restarts = 0) {
    auto r = TrySubmit(name, gpus, max_restarts);
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  const Experiment& Exp(const std::string& run, int index = 0) {
    const lattice::Run* r = c().FindRun(run);
    EXPECT_NE(r, nullptr) << run;
    return r->experiments.at(static_cast<size_t>(index));
  }

  // The newest attempt of run/index, or nullptr.
  const Attempt* Current(const std::string& run, int index = 0) { return c().FindAttempt(run, index, 0); }

  int64_t CurrentId(const std::string& run, int index = 0) {
    const Attempt* a = Current(run, index);
    EXPECT_NE(a, nullptr) << run;
    return a ? a->id : -1;
  }

  static AttemptReport Running(int64_t id, uint64_t log_bytes = 0, int master_port = 0) {
    return AttemptReport{id, ReportedState::kRunning, std::nullopt, log_bytes, "", master_port};
  }
  static AttemptReport Exited(int64_t id, int code, uint64_t log_bytes = 0, std::string message = "") {
    return AttemptReport{id, ReportedState::kExited, code, log_bytes, std::move(message), 0};
  }
  static AttemptReport Lost(int64_t id, uint64_t log_bytes = 0, std::string message = "") {
    return AttemptReport{id, ReportedState::kLost, std::nullopt, log_bytes, std::move(message), 0};
  }

  // POST /agents/{node}/report: a partial report.
  void Report(const std::string& node, std::vector<AttemptReport> reports) {
    Status st = c().ApplyReports(node, reports, /*full=*/false);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  // POST /agents/{node}/sync: the agent's whole truth; returns its work.
  AgentWork Sync(const std::string& node, std::vector<AttemptReport> reports = {}) {
    Status st = c().ApplyReports(node, reports, /*full=*/true);
    EXPECT_TRUE(st.ok()) << st.error().message;
    std::set<int64_t> ids;
    for (const auto& r : reports) ids.insert(r.id);
    return c().PendingWork(node, ids);
  }

  // Submits `run` and takes it to running on `node` (registered already).
  int64_t StartRunning(const std::string& run, const std::string& node, int gpus = 0, int max_restarts = 0) {
    Submit(run, gpus, max_restarts);
    int64_t id = CurrentId(run);
    Sync(node, {Running(id)});
    EXPECT_EQ(Exp(run).state, ExperimentState::kRunning);
    return id;
  }

  const Node* FindNode(const std::string& id) {
    for (const auto& n : c().Nodes())
      if (n.id == id) return &n;
    return nullptr;
  }

  TempDir dir_;
  FakeClock clock_;
  std::mt19937_64 rng_{1};
  std::vector<std::string> woken_;    // node_has_work calls
  std::vector<std::string> changed_;  // run_changed calls
  std::vector<std::string> logs_arrived_;  // logs_arrived calls
  std::unique_ptr<FaultyStore> store_;
  std::unique_ptr<LogStore> logs_;
  std::unique_ptr<Controller> controller_;
};

}  // namespace lattice::testing
