#include <sqlite3.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "store/migrations.h"
#include "store/store.h"

namespace lattice {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

const std::string kSha(64, 'e');

lattice::Run MakeRun(const std::string& name, int64_t created_at_ms, int experiments = 1) {
  lattice::Run run;
  run.name = name;
  run.description = "description of " + name;
  run.created_at_ms = created_at_ms;
  run.spec.script = "train.py";
  run.spec.snapshot = kSha;
  for (int i = 0; i < experiments; ++i) {
    Experiment e;
    e.index = i;
    e.args = {"--seed", std::to_string(i)};
    e.reason = "waiting to be placed";
    run.experiments.push_back(e);
  }
  return run;
}

Attempt MakeAttempt(int64_t id, const std::string& run, int exp = 0) {
  Attempt a;
  a.id = id;
  a.run = run;
  a.experiment = exp;
  a.node = "n1";
  a.started_at_ms = 1000 + id;
  return a;
}

// Runs one query on the database file with a separate connection.
int64_t QueryInt(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  int64_t out = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW)
    out = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }

  void Open() {
    store_.reset();
    auto s = OpenSqliteStore(path_.string());
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s).value();
  }

  StoreData LoadOk() {
    auto d = store_->Load();
    EXPECT_TRUE(d.ok()) << d.error().message;
    return d.ok() ? std::move(d).value() : StoreData{};
  }

  void CommitOk(const StoreBatch& b) {
    Status st = store_->Commit(b);
    ASSERT_TRUE(st.ok()) << st.error().message;
  }

  TempDir dir_;
  std::filesystem::path path_ = dir_ / "lattice.db";
  std::unique_ptr<Store> store_;
};

// --- migrations -------------------------------------------------------------------

TEST_F(SqliteStoreTest, FreshDatabase_AllMigrationsAppliedAndRecorded) {
  const int n = static_cast<int>(Migrations().size());
  ASSERT_GT(n, 0);
  EXPECT_EQ(store_->SchemaVersion(), n);
  EXPECT_EQ(QueryInt(path_, "SELECT COUNT(*) FROM schema_migrations"), n);
  EXPECT_EQ(QueryInt(path_, "SELECT MIN(version) FROM schema_migrations"), 1);
  EXPECT_EQ(QueryInt(path_, "SELECT MAX(version) FROM schema_migrations"), n);
  EXPECT_EQ(QueryInt(path_, "SELECT COUNT(*) FROM schema_migrations WHERE version = 1 AND name = '" +
                                std::string(Migrations()[0].name) + "'"),
            1);
}

TEST_F(SqliteStoreTest, Reopen_AppliesNothingTwice) {
  const int n = static_cast<int>(Migrations().size());
  Open();
  Open();
  EXPECT_EQ(store_->SchemaVersion(), n);
  EXPECT_EQ(QueryInt(path_, "SELECT COUNT(*) FROM schema_migrations"), n);
}

TEST_F(SqliteStoreTest, FreshDatabase_LoadsEmpty) {
  StoreData d = LoadOk();
  EXPECT_TRUE(d.runs.empty());
  EXPECT_TRUE(d.attempts.empty());
  EXPECT_TRUE(d.nodes.empty());
}

TEST_F(SqliteStoreTest, UsesWriteAheadLog) {
  EXPECT_TRUE(std::filesystem::exists(dir_ / "lattice.db-wal"));
}

TEST(OpenSqliteStore, UnwritableLocation_IoErrorNamesThePath) {
  TempDir dir;
  auto path = dir / "no" / "such" / "dir" / "lattice.db";
  auto s = OpenSqliteStore(path.string());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kIo);
  EXPECT_THAT(s.error().message, HasSubstr(path.string()));
}

TEST(OpenSqliteStore, NotADatabase_Refused) {
  TempDir dir;
  auto path = dir / "garbage.db";
  {
    FILE* f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::string junk(4096, 'x');
    std::fwrite(junk.data(), 1, junk.size(), f);
    std::fclose(f);
  }
  auto s = OpenSqliteStore(path.string());
  EXPECT_FALSE(s.ok());
}

// --- round trips ----------------------------------------------------------------

TEST_F(SqliteStoreTest, EveryField_SurvivesReopen) {
  lattice::Run run = MakeRun("unicode-run", 1'700'000'000'000);
  run.description = "Lernrate über alles — 学习率 🚀";
  run.spec.script = "src/träin.py";
  run.spec.args = {"--name", "naïve 🚀", "", "a b\tc\n", "--x='y'"};
  run.spec.env = {{"WANDB_API_KEY", "secret"}, {"LANG", "C.UTF-8"}};
  run.spec.python = "/opt/py/bin/python3";
  run.spec.max_restarts = 5;
  run.spec.grace_ms = 12'000;
  run.spec.resources = Resources{2.5, 17'179'869'184ull, 4};
  Experiment e1;
  e1.index = 1;
  e1.state = ExperimentState::kSucceeded;
  e1.exit_code = 0;  // zero, not absent
  run.experiments.push_back(e1);
  Experiment& e0 = run.experiments[0];
  e0.state = ExperimentState::kFailed;
  e0.args = {"--lr", "0.1", "ø"};
  e0.exit_code = -9;
  e0.attempts = 3;
  e0.restarts = 2;
  e0.node = "gpu-node-1";
  e0.current_attempt = 42;
  e0.cancel_requested = true;
  e0.reason = "exited with code -9";

  Attempt a = MakeAttempt(42, run.name);
  a.number = 3;
  a.node = "gpu-node-1";
  a.state = AttemptState::kFailed;
  a.exit_code = -9;
  a.ended_at_ms = 99'999;
  a.gpu_indices = {1, 3, 5, 7};
  a.final_log_bytes = 5'000'000'000ull;  // past 32 bits
  a.reason = "killed by signal 9";
  Attempt b = MakeAttempt(43, run.name, 1);
  b.state = AttemptState::kRunning;  // no exit code, no final log size

  Node n;
  n.id = "gpu-node-1";
  n.hostname = "gpu01.example.org";
  n.cpus = 95.5;
  n.memory_bytes = 2'199'023'255'552ull;
  n.gpus = {Gpu{0, "NVIDIA H100 80GB HBM3", 85'899'345'920ull}, Gpu{3, "NVIDIA H100", 1}};
  n.state = NodeState::kLost;
  n.registered_at_ms = 123;
  n.last_seen_ms = 456;

  StoreBatch batch;
  batch.runs.push_back(run);
  batch.attempts = {a, b};
  batch.nodes.push_back(n);
  CommitOk(batch);
  Open();
  StoreData d = LoadOk();

  ASSERT_EQ(d.runs.size(), 1u);
  const lattice::Run& r = d.runs[0];
  EXPECT_EQ(r.name, run.name);
  EXPECT_EQ(r.description, run.description);
  EXPECT_EQ(r.created_at_ms, run.created_at_ms);
  EXPECT_EQ(r.spec.script, run.spec.script);
  EXPECT_EQ(r.spec.args, run.spec.args);
  EXPECT_EQ(r.spec.snapshot, kSha);
  EXPECT_EQ(r.spec.env, run.spec.env);
  EXPECT_EQ(r.spec.python, run.spec.python);
  EXPECT_EQ(r.spec.max_restarts, 5);
  EXPECT_EQ(r.spec.grace_ms, 12'000);
  EXPECT_EQ(r.spec.resources.cpus, 2.5);
  EXPECT_EQ(r.spec.resources.memory_bytes, 17'179'869'184ull);
  EXPECT_EQ(r.spec.resources.gpus, 4);
  ASSERT_EQ(r.experiments.size(), 2u);
  const Experiment& x0 = r.experiments[0];
  EXPECT_EQ(x0.index, 0);
  EXPECT_EQ(x0.state, ExperimentState::kFailed);
  EXPECT_EQ(x0.args, e0.args);
  EXPECT_EQ(x0.exit_code, std::optional<int>(-9));
  EXPECT_EQ(x0.attempts, 3);
  EXPECT_EQ(x0.restarts, 2);
  EXPECT_EQ(x0.node, "gpu-node-1");
  EXPECT_EQ(x0.current_attempt, 42);
  EXPECT_TRUE(x0.cancel_requested);
  EXPECT_EQ(x0.reason, e0.reason);
  EXPECT_EQ(r.experiments[1].exit_code, std::optional<int>(0));
  EXPECT_EQ(r.experiments[1].state, ExperimentState::kSucceeded);
  EXPECT_FALSE(r.experiments[1].cancel_requested);

  ASSERT_EQ(d.attempts.size(), 2u);
  const Attempt& y = d.attempts[0];
  EXPECT_EQ(y.id, 42);
  EXPECT_EQ(y.run, run.name);
  EXPECT_EQ(y.experiment, 0);
  EXPECT_EQ(y.number, 3);
  EXPECT_EQ(y.node, "gpu-node-1");
  EXPECT_EQ(y.state, AttemptState::kFailed);
  EXPECT_EQ(y.reason, "killed by signal 9");
  EXPECT_EQ(y.exit_code, std::optional<int>(-9));
  EXPECT_EQ(y.started_at_ms, a.started_at_ms);
  EXPECT_EQ(y.ended_at_ms, 99'999);
  EXPECT_EQ(y.gpu_indices, (std::vector<int>{1, 3, 5, 7}));
  EXPECT_EQ(y.final_log_bytes, std::optional<uint64_t>(5'000'000'000ull));
  EXPECT_EQ(y.log_bytes, 0u);  // lives in the log store, not here
  const Attempt& z = d.attempts[1];
  EXPECT_EQ(z.id, 43);
  EXPECT_EQ(z.experiment, 1);
  EXPECT_EQ(z.state, AttemptState::kRunning);
  EXPECT_FALSE(z.exit_code.has_value());
  EXPECT_FALSE(z.final_log_bytes.has_value());
  EXPECT_TRUE(z.gpu_indices.empty());

  ASSERT_EQ(d.nodes.size(), 1u);
  const Node& m = d.nodes[0];
  EXPECT_EQ(m.id, n.id);
  EXPECT_EQ(m.hostname, n.hostname);
  EXPECT_EQ(m.cpus, 95.5);
  EXPECT_EQ(m.memory_bytes, n.memory_bytes);
  ASSERT_EQ(m.gpus.size(), 2u);
  EXPECT_EQ(m.gpus[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(m.gpus[0].memory_bytes, 85'899'345'920ull);
  EXPECT_EQ(m.gpus[1].index, 3);
  EXPECT_EQ(m.state, NodeState::kLost);
  EXPECT_EQ(m.registered_at_ms, 123);
  EXPECT_EQ(m.last_seen_ms, 456);
}

TEST_F(SqliteStoreTest, Upserts_UpdateMutableFieldsAndKeepCreationTime) {
  lattice::Run run = MakeRun("r", 1000);
  Attempt a = MakeAttempt(1, "r");
  a.gpu_indices = {0};
  StoreBatch first;
  first.runs.push_back(run);
  first.attempts.push_back(a);
  CommitOk(first);

  run.description = "changed";
  run.created_at_ms = 5;  // not a mutable field
  Experiment e = run.experiments[0];
  e.state = ExperimentState::kRunning;
  e.node = "n1";
  e.current_attempt = 1;
  a.state = AttemptState::kSucceeded;
  a.exit_code = 0;
  a.ended_at_ms = 2000;
  a.final_log_bytes = 10;
  a.reason = "exited with code 0";
  StoreBatch second;
  second.runs.push_back(run);
  second.experiments.emplace_back("r", e);
  second.attempts.push_back(a);
  CommitOk(second);

  StoreData d = LoadOk();
  ASSERT_EQ(d.runs.size(), 1u);
  EXPECT_EQ(d.runs[0].description, "changed");
  EXPECT_EQ(d.runs[0].created_at_ms, 1000);
  ASSERT_EQ(d.runs[0].experiments.size(), 1u);
  EXPECT_EQ(d.runs[0].experiments[0].state, ExperimentState::kRunning);
  EXPECT_EQ(d.runs[0].experiments[0].current_attempt, 1);
  ASSERT_EQ(d.attempts.size(), 1u);
  EXPECT_EQ(d.attempts[0].state, AttemptState::kSucceeded);
  EXPECT_EQ(d.attempts[0].exit_code, std::optional<int>(0));
  EXPECT_EQ(d.attempts[0].final_log_bytes, std::optional<uint64_t>(10));
  EXPECT_EQ(d.attempts[0].reason, "exited with code 0");

  // An exit code can be cleared again (a requeued experiment starts afresh).
  e.exit_code.reset();
  StoreBatch third;
  third.experiments.emplace_back("r", e);
  CommitOk(third);
  EXPECT_FALSE(LoadOk().runs[0].experiments[0].exit_code.has_value());
}

TEST_F(SqliteStoreTest, Runs_LoadInCreationOrderThenName) {
  StoreBatch b;
  b.runs = {MakeRun("late", 3000), MakeRun("early-b", 1000), MakeRun("early-a", 1000), MakeRun("mid", 2000)};
  CommitOk(b);
  StoreData d = LoadOk();
  std::vector<std::string> names;
  for (const auto& r : d.runs) names.push_back(r.name);
  EXPECT_EQ(names, (std::vector<std::string>{"early-a", "early-b", "mid", "late"}));
}

TEST_F(SqliteStoreTest, ManyExperiments_LoadInIndexOrder) {
  StoreBatch b;
  b.runs.push_back(MakeRun("sweep", 1, 25));
  CommitOk(b);
  StoreData d = LoadOk();
  ASSERT_EQ(d.runs[0].experiments.size(), 25u);
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(d.runs[0].experiments[static_cast<size_t>(i)].index, i);
    EXPECT_EQ(d.runs[0].experiments[static_cast<size_t>(i)].args[1], std::to_string(i));
  }
}

TEST_F(SqliteStoreTest, EmptyBatch_IsANoOp) {
  CommitOk(StoreBatch{});
  EXPECT_TRUE(LoadOk().runs.empty());
}

// --- all or nothing -------------------------------------------------------------

TEST_F(SqliteStoreTest, FailureMidBatch_NothingOfTheBatchVisible) {
  StoreBatch before;
  before.runs.push_back(MakeRun("existing", 1));
  CommitOk(before);

  // The run and the first attempt are fine; the experiment of an unknown run
  // violates the foreign key after both were written.
  StoreBatch batch;
  batch.runs.push_back(MakeRun("new-run", 2));
  Experiment orphan;
  orphan.index = 0;
  batch.experiments.emplace_back("no-such-run", orphan);
  batch.attempts.push_back(MakeAttempt(1, "new-run"));
  Node n;
  n.id = "n1";
  n.cpus = 4;
  batch.nodes.push_back(n);
  Status st = store_->Commit(batch);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kIo);
  EXPECT_THAT(st.error().message, HasSubstr("no-such-run/0"));

  StoreData d = LoadOk();
  ASSERT_EQ(d.runs.size(), 1u);
  EXPECT_EQ(d.runs[0].name, "existing");
  EXPECT_TRUE(d.attempts.empty());
  EXPECT_TRUE(d.nodes.empty());
  // And nothing lingers for a reopened connection either.
  Open();
  EXPECT_EQ(LoadOk().runs.size(), 1u);
}

TEST_F(SqliteStoreTest, FailureInLastItem_EarlierItemsRolledBack) {
  StoreBatch batch;
  batch.runs.push_back(MakeRun("r", 1));
  batch.attempts.push_back(MakeAttempt(1, "r"));
  batch.attempts.push_back(MakeAttempt(2, "ghost"));  // foreign key violation
  ASSERT_FALSE(store_->Commit(batch).ok());
  StoreData d = LoadOk();
  EXPECT_TRUE(d.runs.empty());
  EXPECT_TRUE(d.attempts.empty());
}

TEST_F(SqliteStoreTest, AfterAFailedCommit_NextCommitSucceeds) {
  StoreBatch bad;
  bad.attempts.push_back(MakeAttempt(1, "ghost"));
  ASSERT_FALSE(store_->Commit(bad).ok());
  ASSERT_FALSE(store_->Commit(bad).ok());  // the same prepared statement again

  StoreBatch good;
  good.runs.push_back(MakeRun("r", 1));
  good.attempts.push_back(MakeAttempt(1, "r"));
  CommitOk(good);
  StoreData d = LoadOk();
  EXPECT_EQ(d.runs.size(), 1u);
  EXPECT_EQ(d.attempts.size(), 1u);
}

TEST_F(SqliteStoreTest, AttemptForExistingRunInSameBatch_Accepted) {
  StoreBatch b;
  b.runs.push_back(MakeRun("r", 1));
  b.attempts.push_back(MakeAttempt(7, "r"));
  CommitOk(b);
  EXPECT_EQ(LoadOk().attempts.size(), 1u);
}

// --- corrupt rows are reported, not crashed on ---------------------------------------

TEST_F(SqliteStoreTest, UnknownStoredState_LoadFailsWithInternalError) {
  StoreBatch b;
  b.runs.push_back(MakeRun("r", 1));
  CommitOk(b);
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE experiments SET state = 'exploded'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  Open();
  auto d = store_->Load();
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, ErrorCode::kInternal);
  EXPECT_THAT(d.error().message, HasSubstr("exploded"));
}

TEST_F(SqliteStoreTest, CorruptStoredSpec_LoadFailsNamingTheRun) {
  StoreBatch b;
  b.runs.push_back(MakeRun("r", 1));
  CommitOk(b);
  store_.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE runs SET spec = '{not json'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  Open();
  auto d = store_->Load();
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.error().message, HasSubstr("stored spec of run r"));
}

TEST_F(SqliteStoreTest, StoredListsOfTheWrongShape_LoadFailsInsteadOfThrowing) {
  for (const char* sql : {"UPDATE experiments SET args = '{\"a\": 1}'", "UPDATE experiments SET args = '[1, 2]'",
                          "UPDATE attempts SET gpus = '[\"zero\"]'", "UPDATE attempts SET gpus = '3'"}) {
    SCOPED_TRACE(sql);
    TempDir dir;
    auto path = dir / "db";
    {
      auto s = OpenSqliteStore(path.string());
      ASSERT_TRUE(s.ok());
      StoreBatch b;
      b.runs.push_back(MakeRun("r", 1));
      b.attempts.push_back(MakeAttempt(1, "r"));
      ASSERT_TRUE((*s)->Commit(b).ok());
    }
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    auto s = OpenSqliteStore(path.string());
    ASSERT_TRUE(s.ok());
    auto d = (*s)->Load();
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, ErrorCode::kInternal);
    EXPECT_THAT(d.error().message, HasSubstr("has the wrong shape"));
  }
}

// --- artifacts ----------------------------------------------------------------------

ArtifactRecord MakeArtifact(const std::string& kind, const std::string& path, char sha, int64_t attempt = 7) {
  ArtifactRecord r;
  r.run = "art";
  r.experiment = 1;
  r.attempt = attempt;
  r.attempt_number = 2;
  r.kind = kind;
  r.path = path;
  r.sha256 = std::string(64, sha);
  r.size = 1234;
  r.mode = 0640;
  r.created_at_ms = 99;
  return r;
}

TEST_F(SqliteStoreTest, Artifacts_SurviveReopenWithIdsAndOneGroupPerRegistration) {
  StoreBatch b;
  b.runs.push_back(MakeRun("art", 1, 2));
  CommitOk(b);
  std::vector<ArtifactRecord> first = {MakeArtifact("artifact", "model.pt", 'a'),
                                       MakeArtifact("artifact", "dir/cm.json", 'b')};
  ASSERT_TRUE(store_->AddArtifacts(&first).ok());
  std::vector<ArtifactRecord> second = {MakeArtifact("checkpoint", "epoch=1.ckpt", 'c')};
  ASSERT_TRUE(store_->AddArtifacts(&second).ok());
  EXPECT_EQ(first[0].group, first[1].group);
  EXPECT_NE(first[0].group, second[0].group);
  Open();
  auto all = store_->ListArtifacts("art", -1, "");
  ASSERT_TRUE(all.ok()) << all.error().message;
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[1].path, "dir/cm.json");
  EXPECT_EQ((*all)[1].sha256, std::string(64, 'b'));
  EXPECT_EQ((*all)[1].mode, 0640u);
  EXPECT_EQ((*all)[1].size, 1234u);
  EXPECT_EQ((*all)[1].attempt_number, 2);
  EXPECT_EQ(store_->ListArtifacts("art", 1, "checkpoint")->size(), 1u);
  EXPECT_EQ(store_->ListArtifacts("art", 0, "")->size(), 0u);
}

TEST_F(SqliteStoreTest, Artifacts_ARetriedRegistrationIsNotRecordedTwice) {
  StoreBatch b;
  b.runs.push_back(MakeRun("art", 1, 2));
  CommitOk(b);
  for (int i = 0; i < 2; ++i) {
    std::vector<ArtifactRecord> r = {MakeArtifact("artifact", "model.pt", 'a')};
    ASSERT_TRUE(store_->AddArtifacts(&r).ok());
  }
  std::vector<ArtifactRecord> rewritten = {MakeArtifact("artifact", "model.pt", 'd')};
  ASSERT_TRUE(store_->AddArtifacts(&rewritten).ok());
  EXPECT_EQ(store_->ListArtifacts("art", 1, "artifact")->size(), 2u);
}

TEST_F(SqliteStoreTest, LatestCheckpoint_HoldsEveryFileOfItsRegistrationEvenOnesListedBefore) {
  StoreBatch b;
  b.runs.push_back(MakeRun("art", 1, 2));
  CommitOk(b);
  std::vector<ArtifactRecord> first = {MakeArtifact("checkpoint", "step5/model.pt", 'a')};
  ASSERT_TRUE(store_->AddArtifacts(&first).ok());
  // The whole entry again, now that its second file is complete too.
  std::vector<ArtifactRecord> whole = {MakeArtifact("checkpoint", "step5/model.pt", 'a'),
                                       MakeArtifact("checkpoint", "step5/optim.pt", 'b')};
  ASSERT_TRUE(store_->AddArtifacts(&whole).ok());
  Open();
  auto latest = store_->LatestCheckpoint("art", 1);
  ASSERT_TRUE(latest.ok()) << latest.error().message;
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ((*latest)[0].path, "step5/model.pt");
  EXPECT_EQ((*latest)[1].sha256, std::string(64, 'b'));
  EXPECT_EQ(store_->ListArtifacts("art", 1, "checkpoint")->size(), 2u);  // each file version listed once
}

TEST_F(SqliteStoreTest, LatestCheckpoint_IsTheNewestRegistrationsFilesOnly) {
  StoreBatch b;
  b.runs.push_back(MakeRun("art", 1, 2));
  CommitOk(b);
  EXPECT_TRUE(store_->LatestCheckpoint("art", 1)->empty());
  std::vector<ArtifactRecord> old = {MakeArtifact("checkpoint", "step1/model.pt", 'a'),
                                     MakeArtifact("checkpoint", "step1/optim.pt", 'b')};
  ASSERT_TRUE(store_->AddArtifacts(&old).ok());
  std::vector<ArtifactRecord> artifact = {MakeArtifact("artifact", "late.txt", 'e')};
  ASSERT_TRUE(store_->AddArtifacts(&artifact).ok());
  std::vector<ArtifactRecord> newer = {MakeArtifact("checkpoint", "step2/model.pt", 'c', 8),
                                       MakeArtifact("checkpoint", "step2/optim.pt", 'd', 8)};
  ASSERT_TRUE(store_->AddArtifacts(&newer).ok());
  auto latest = store_->LatestCheckpoint("art", 1);
  ASSERT_TRUE(latest.ok());
  ASSERT_EQ(latest->size(), 2u);
  EXPECT_EQ((*latest)[0].path, "step2/model.pt");
  EXPECT_EQ((*latest)[1].path, "step2/optim.pt");
}

// --- clusters ---------------------------------------------------------------------

TEST_F(SqliteStoreTest, ClustersAndNodeClusterFields_SurviveReopenAndDeletedClustersAreRemoved) {
  Cluster hpc;
  hpc.name = "hpc";
  hpc.backend = "slurm";
  hpc.server_url = "http://head:8080";
  hpc.partition = "gpu";
  hpc.account = "proj";
  hpc.qos = "high";
  hpc.time_limit = "1-00:00:00";
  hpc.max_nodes = 12;
  hpc.is_default = true;
  hpc.created_at_ms = 1'700'000'000'123;
  Cluster lab;
  lab.name = "lab";
  lab.backend = "ssh";
  lab.hosts = {SshHost{"root", "gpu1", 22}, SshHost{"", "gpu2", 2222}};
  lab.identity = "/etc/lattice/id_ed25519";
  lab.created_at_ms = 5;
  Node n;
  n.id = "n1-7";
  n.hostname = "n1";
  n.cluster = "hpc";
  n.allocation = "slurm job 7";
  n.reason = "Slurm job 7 ended (TIMEOUT)";
  n.state = NodeState::kLost;
  Node plain;
  plain.id = "mine";
  plain.hostname = "mine";
  StoreBatch batch;
  batch.clusters = {lab, hpc};
  batch.nodes = {n, plain};
  CommitOk(batch);
  Open();
  StoreData d = LoadOk();

  ASSERT_EQ(d.clusters.size(), 2u);
  const Cluster& h = d.clusters[0];  // by name
  EXPECT_EQ(h.name, "hpc");
  EXPECT_EQ(h.backend, "slurm");
  EXPECT_EQ(h.server_url, "http://head:8080");
  EXPECT_EQ(h.partition, "gpu");
  EXPECT_EQ(h.account, "proj");
  EXPECT_EQ(h.qos, "high");
  EXPECT_EQ(h.time_limit, "1-00:00:00");
  EXPECT_EQ(h.max_nodes, 12);
  EXPECT_TRUE(h.is_default);
  EXPECT_EQ(h.created_at_ms, 1'700'000'000'123);
  const Cluster& l = d.clusters[1];
  EXPECT_EQ(l.name, "lab");
  EXPECT_EQ(l.backend, "ssh");
  ASSERT_EQ(l.hosts.size(), 2u);
  EXPECT_EQ(l.hosts[0].user, "root");
  EXPECT_EQ(l.hosts[0].host, "gpu1");
  EXPECT_EQ(l.hosts[1].user, "");
  EXPECT_EQ(l.hosts[1].port, 2222);
  EXPECT_EQ(l.identity, "/etc/lattice/id_ed25519");
  EXPECT_FALSE(l.is_default);
  EXPECT_EQ(l.created_at_ms, 5);

  ASSERT_EQ(d.nodes.size(), 2u);
  const Node& m = d.nodes[1];  // by id: "mine" < "n1-7"
  EXPECT_EQ(m.id, "n1-7");
  EXPECT_EQ(m.cluster, "hpc");
  EXPECT_EQ(m.allocation, "slurm job 7");
  EXPECT_EQ(m.reason, "Slurm job 7 ended (TIMEOUT)");
  EXPECT_EQ(d.nodes[0].cluster, "local");
  EXPECT_EQ(d.nodes[0].allocation, "");
  EXPECT_EQ(d.nodes[0].reason, "");

  // Upserts change settings and the default but keep the creation time.
  hpc.is_default = false;
  hpc.max_nodes = 3;
  hpc.created_at_ms = 99;
  n.state = NodeState::kReady;
  n.reason.clear();
  n.allocation = "slurm job 8";
  StoreBatch update;
  update.clusters = {hpc};
  update.nodes = {n};
  update.deleted_clusters = {"lab", "never-existed"};
  CommitOk(update);
  Open();
  d = LoadOk();
  ASSERT_EQ(d.clusters.size(), 1u);
  EXPECT_EQ(d.clusters[0].name, "hpc");
  EXPECT_FALSE(d.clusters[0].is_default);
  EXPECT_EQ(d.clusters[0].max_nodes, 3);
  EXPECT_EQ(d.clusters[0].created_at_ms, 1'700'000'000'123);
  EXPECT_EQ(d.nodes[1].allocation, "slurm job 8");
  EXPECT_EQ(d.nodes[1].reason, "");
  EXPECT_EQ(d.nodes[1].state, NodeState::kReady);
}

}  // namespace
}  // namespace lattice
