// SQLite implementation of Store. Single connection, used from the server's
// loop thread only.
#include <sqlite3.h>

#include "common/json.h"
#include "model/codec.h"
#include "store/migrations.h"
#include "store/store.h"

namespace lattice {
namespace {

// Decodes a JSON column; a row of the wrong shape is an error, not an exception.
template <typename T>
Result<T> StoredJson(const std::string& text, const std::string& what) {
  LATTICE_ASSIGN_OR_RETURN(Json j, ParseJson(text, what));
  try {
    return j.get<T>();
  } catch (const Json::exception& e) {
    return Error(ErrorCode::kInternal, what + " has the wrong shape: " + e.what());
  }
}

class Statement final {
 public:
  Statement(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  bool ok() const { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() { return stmt_; }
  void Reset() { sqlite3_reset(stmt_); sqlite3_clear_bindings(stmt_); }
  void Bind(int i, const std::string& s) { sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT); }
  void Bind(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void Bind(int i, double v) { sqlite3_bind_double(stmt_, i, v); }
  void BindNull(int i) { sqlite3_bind_null(stmt_, i); }
  void Bind(int i, const std::optional<int>& v) { v ? Bind(i, static_cast<int64_t>(*v)) : BindNull(i); }
  std::string Text(int col) {
    const unsigned char* t = sqlite3_column_text(stmt_, col);
    return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }
  double Real(int col) { return sqlite3_column_double(stmt_, col); }
  bool IsNull(int col) { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override {
    // Finalize the cached statements first: sqlite3_close() refuses (SQLITE_BUSY)
    // while any are alive, which would leak the connection and its descriptors.
    run_stmt_.reset();
    exp_stmt_.reset();
    attempt_stmt_.reset();
    node_stmt_.reset();
    cluster_stmt_.reset();
    cluster_delete_stmt_.reset();
    artifact_insert_.reset();
    artifact_max_.reset();
    checkpoint_insert_.reset();
    sqlite3_close(db_);
  }

  Status Init() {
    LATTICE_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    LATTICE_RETURN_IF_ERROR(Exec("PRAGMA synchronous=NORMAL"));
    LATTICE_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON"));
    sqlite3_busy_timeout(db_, 5000);
    LATTICE_RETURN_IF_ERROR(Exec(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"));
    int current = SchemaVersion();
    const auto& migrations = Migrations();
    for (size_t i = 0; i < migrations.size(); ++i) {
      int version = static_cast<int>(i) + 1;
      if (version <= current) continue;
      LATTICE_RETURN_IF_ERROR(Exec("BEGIN"));
      Status st = Exec(migrations[i].sql);
      if (st.ok()) {
        Statement s(db_, "INSERT INTO schema_migrations(version, name) VALUES (?, ?)");
        s.Bind(1, static_cast<int64_t>(version));
        s.Bind(2, std::string(migrations[i].name));
        st = Step(s, "recording migration");
      }
      if (!st.ok()) {
        (void)Exec("ROLLBACK");
        return st.error().Wrap("applying migration " + std::to_string(version) + " (" + migrations[i].name + ")");
      }
      LATTICE_RETURN_IF_ERROR(Exec("COMMIT"));
    }
    return OkStatus();
  }

  int SchemaVersion() override {
    Statement s(db_, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
    if (!s.ok() || sqlite3_step(s.get()) != SQLITE_ROW) return 0;
    return static_cast<int>(s.Int(0));
  }

  Result<StoreData> Load() override {
    StoreData data;
    std::map<std::string, size_t> run_index;
    {
      Statement s(db_, "SELECT name, description, created_at_ms, spec FROM runs ORDER BY created_at_ms, name");
      if (!s.ok()) return SqlError("loading runs");
      while (sqlite3_step(s.get()) == SQLITE_ROW) {
        Run run;
        run.name = s.Text(0);
        run.description = s.Text(1);
        run.created_at_ms = s.Int(2);
        LATTICE_ASSIGN_OR_RETURN(Json spec_json, ParseJson(s.Text(3), "stored spec of run " + run.name));
        LATTICE_ASSIGN_OR_RETURN(run.spec, SpecFromJson(spec_json));
        run_index[run.name] = data.runs.size();
        data.runs.push_back(std::move(run));
      }
    }
    {
      Statement s(db_,
                  "SELECT run, idx, state, args, exit_code, attempts, restarts, node, current_attempt, "
                  "cancel_requested, reason, params FROM experiments ORDER BY run, idx");
      if (!s.ok()) return SqlError("loading experiments");
      while (sqlite3_step(s.get()) == SQLITE_ROW) {
        auto it = run_index.find(s.Text(0));
        if (it == run_index.end()) continue;
        Experiment e;
        e.index = static_cast<int>(s.Int(1));
        if (!ParseExperimentState(s.Text(2), &e.state))
          return Error(ErrorCode::kInternal, "stored experiment has unknown state '" + s.Text(2) + "'");
        LATTICE_ASSIGN_OR_RETURN(e.args, StoredJson<std::vector<std::string>>(s.Text(3), "stored experiment args"));
        if (!s.IsNull(4)) e.exit_code = static_cast<int>(s.Int(4));
        e.attempts = static_cast<int>(s.Int(5));
        e.restarts = static_cast<int>(s.Int(6));
        e.node = s.Text(7);
        e.current_attempt = s.Int(8);
        e.cancel_requested = s.Int(9) != 0;
        e.reason = s.Text(10);
        LATTICE_ASSIGN_OR_RETURN(e.params, StoredJson<std::vector<std::string>>(s.Text(11), "stored experiment params"));
        auto& exps = data.runs[it->second].experiments;
        if (static_cast<size_t>(e.index) >= exps.size()) exps.resize(static_cast<size_t>(e.index) + 1);
        exps[static_cast<size_t>(e.index)] = std::move(e);
      }
    }
    {
      Statement s(db_,
                  "SELECT id, run, experiment, number, node, state, exit_code, started_at_ms, ended_at_ms, "
                  "gpus, final_log_bytes, nnodes, gang, node_rank, reason, rate_per_hour FROM attempts ORDER BY id");
      if (!s.ok()) return SqlError("loading attempts");
      while (sqlite3_step(s.get()) == SQLITE_ROW) {
        Attempt a;
        a.id = s.Int(0);
        a.run = s.Text(1);
        a.experiment = static_cast<int>(s.Int(2));
        a.number = static_cast<int>(s.Int(3));
        a.node = s.Text(4);
        if (!ParseAttemptState(s.Text(5), &a.state))
          return Error(ErrorCode::kInternal, "stored attempt has unknown state '" + s.Text(5) + "'");
        if (!s.IsNull(6)) a.exit_code = static_cast<int>(s.Int(6));
        a.started_at_ms = s.Int(7);
        a.ended_at_ms = s.Int(8);
        LATTICE_ASSIGN_OR_RETURN(a.gpu_indices, StoredJson<std::vector<int>>(s.Text(9), "stored attempt gpus"));
        if (!s.IsNull(10)) a.final_log_bytes = static_cast<uint64_t>(s.Int(10));
        a.nnodes = static_cast<int>(s.Int(11));
        a.gang = s.Int(12);
        a.node_rank = static_cast<int>(s.Int(13));
        a.reason = s.Text(14);
        a.rate_per_hour = s.Real(15);
        data.attempts.push_back(std::move(a));
      }
    }
    {
      Statement s(db_,
                  "SELECT id, hostname, cpus, memory_bytes, gpus, state, registered_at_ms, last_seen_ms, address, "
                  "cluster, allocation, reason FROM nodes ORDER BY id");
      if (!s.ok()) return SqlError("loading nodes");
      while (sqlite3_step(s.get()) == SQLITE_ROW) {
        Node n;
        n.id = s.Text(0);
        n.hostname = s.Text(1);
        n.cpus = s.Real(2);
        n.memory_bytes = static_cast<uint64_t>(s.Int(3));
        LATTICE_ASSIGN_OR_RETURN(Json gpus, ParseJson(s.Text(4), "stored node gpus"));
        LATTICE_RETURN_IF_ERROR(ParseGpus(gpus, "gpus", &n.gpus));
        if (!ParseNodeState(s.Text(5), &n.state)) n.state = NodeState::kLost;
        n.registered_at_ms = s.Int(6);
        n.last_seen_ms = s.Int(7);
        n.address = s.Text(8);
        n.cluster = s.Text(9);
        n.allocation = s.Text(10);
        n.reason = s.Text(11);
        data.nodes.push_back(std::move(n));
      }
    }
    {
      Statement s(db_, "SELECT name, settings, is_default, created_at_ms FROM clusters ORDER BY name");
      if (!s.ok()) return SqlError("loading clusters");
      while (sqlite3_step(s.get()) == SQLITE_ROW) {
        LATTICE_ASSIGN_OR_RETURN(Json settings, ParseJson(s.Text(1), "stored settings of cluster " + s.Text(0)));
        LATTICE_ASSIGN_OR_RETURN(Cluster c, ParseCluster(settings));
        c.is_default = s.Int(2) != 0;
        c.created_at_ms = s.Int(3);
        data.clusters.push_back(std::move(c));
      }
    }
    return data;
  }

  Status AddArtifacts(std::vector<ArtifactRecord>* records) override {
    if (records->empty()) return OkStatus();
    if (!artifact_insert_) {
      artifact_insert_ = std::make_unique<Statement>(db_,
          "INSERT INTO artifacts(id, run, experiment, attempt, attempt_number, kind, path, sha256, size, mode, grp, "
          "created_at_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(attempt, kind, path, sha256) DO NOTHING");
      artifact_max_ = std::make_unique<Statement>(db_, "SELECT COALESCE(MAX(id), 0) FROM artifacts");
      checkpoint_insert_ = std::make_unique<Statement>(db_,
          "INSERT INTO checkpoints(id, run, experiment, attempt, files, created_at_ms) "
          "VALUES ((SELECT COALESCE(MAX(id), 0) + 1 FROM checkpoints),?,?,?,?,?)");
      if (!artifact_insert_->ok() || !artifact_max_->ok() || !checkpoint_insert_->ok())
        return SqlError("preparing artifact statements");
    }
    LATTICE_RETURN_IF_ERROR(Exec("BEGIN"));
    Status st = [&]() -> Status {
      artifact_max_->Reset();
      if (sqlite3_step(artifact_max_->get()) != SQLITE_ROW) return SqlError("reading artifact ids");
      int64_t next = artifact_max_->Int(0) + 1;
      const int64_t group = next;
      for (ArtifactRecord& r : *records) {
        r.id = next++;
        r.group = group;
        Statement& s = *artifact_insert_;
        s.Reset();
        s.Bind(1, r.id);
        s.Bind(2, r.run);
        s.Bind(3, static_cast<int64_t>(r.experiment));
        s.Bind(4, r.attempt);
        s.Bind(5, static_cast<int64_t>(r.attempt_number));
        s.Bind(6, r.kind);
        s.Bind(7, r.path);
        s.Bind(8, r.sha256);
        s.Bind(9, static_cast<int64_t>(r.size));
        s.Bind(10, static_cast<int64_t>(r.mode));
        s.Bind(11, r.group);
        s.Bind(12, r.created_at_ms);
        LATTICE_RETURN_IF_ERROR(Step(s, "recording artifact " + r.path));
      }
      if (records->front().kind == "checkpoint") {
        Json files = Json::array();
        for (const ArtifactRecord& r : *records)
          files.push_back(Json{{"id", r.id}, {"path", r.path}, {"sha256", r.sha256}, {"size", r.size}, {"mode", r.mode}});
        const ArtifactRecord& first = records->front();
        Statement& c = *checkpoint_insert_;
        c.Reset();
        c.Bind(1, first.run);
        c.Bind(2, static_cast<int64_t>(first.experiment));
        c.Bind(3, first.attempt);
        c.Bind(4, files.dump());
        c.Bind(5, first.created_at_ms);
        LATTICE_RETURN_IF_ERROR(Step(c, "recording a checkpoint of " + first.run));
      }
      return OkStatus();
    }();
    if (!st.ok()) {
      (void)Exec("ROLLBACK");
      return st;
    }
    return Exec("COMMIT");
  }

  Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run, int experiment,
                                                    const std::string& kind) override {
    Statement s(db_,
                "SELECT id, run, experiment, attempt, attempt_number, kind, path, sha256, size, mode, grp, created_at_ms "
                "FROM artifacts WHERE run = ? AND (? < 0 OR experiment = ?) AND (? = '' OR kind = ?) ORDER BY id");
    if (!s.ok()) return SqlError("preparing the artifact query");
    s.Bind(1, run);
    s.Bind(2, static_cast<int64_t>(experiment));
    s.Bind(3, static_cast<int64_t>(experiment));
    s.Bind(4, kind);
    s.Bind(5, kind);
    return ReadArtifacts(s);
  }

  Result<std::vector<ArtifactRecord>> LatestCheckpoint(const std::string& run, int experiment) override {
    Statement s(db_,
                "SELECT attempt, files, created_at_ms, id FROM checkpoints WHERE run = ? AND experiment = ? "
                "ORDER BY id DESC LIMIT 1");
    if (!s.ok()) return SqlError("preparing the checkpoint query");
    s.Bind(1, run);
    s.Bind(2, static_cast<int64_t>(experiment));
    std::vector<ArtifactRecord> out;
    int rc = sqlite3_step(s.get());
    if (rc == SQLITE_DONE) return out;
    if (rc != SQLITE_ROW) return SqlError("reading the newest checkpoint");
    auto files = ParseJson(s.Text(1), "checkpoint " + std::to_string(s.Int(3)) + " of " + run);
    if (!files.ok()) return files.error();
    try {
      for (const Json& f : *files) {
        ArtifactRecord r;
        r.id = f.at("id").get<int64_t>();
        r.run = run;
        r.experiment = experiment;
        r.attempt = s.Int(0);
        r.kind = "checkpoint";
        r.path = f.at("path").get<std::string>();
        r.sha256 = f.at("sha256").get<std::string>();
        r.size = f.at("size").get<uint64_t>();
        r.mode = f.at("mode").get<uint32_t>();
        r.group = s.Int(3);
        r.created_at_ms = s.Int(2);
        out.push_back(std::move(r));
      }
    } catch (const std::exception& e) {
      return Error(ErrorCode::kInternal, "stored checkpoint of " + run + " has the wrong shape: " + e.what());
    }
    return out;
  }

  Status Commit(const StoreBatch& batch) override {
    if (batch.empty()) return OkStatus();
    LATTICE_RETURN_IF_ERROR(Exec("BEGIN"));
    Status st = WriteBatch(batch);
    if (!st.ok()) {
      (void)Exec("ROLLBACK");
      return st;
    }
    return Exec("COMMIT");
  }

 private:
  Status WriteBatch(const StoreBatch& batch) {
    if (!run_stmt_) {
      run_stmt_ = std::make_unique<Statement>(db_,
          "INSERT INTO runs(name, description, created_at_ms, spec) VALUES (?,?,?,?) "
          "ON CONFLICT(name) DO UPDATE SET description=excluded.description, spec=excluded.spec");
      exp_stmt_ = std::make_unique<Statement>(db_,
          "INSERT INTO experiments(run, idx, state, args, exit_code, attempts, restarts, node, current_attempt, "
          "cancel_requested, reason, params) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
          "ON CONFLICT(run, idx) DO UPDATE SET state=excluded.state, exit_code=excluded.exit_code, "
          "attempts=excluded.attempts, restarts=excluded.restarts, node=excluded.node, "
          "current_attempt=excluded.current_attempt, cancel_requested=excluded.cancel_requested, "
          "reason=excluded.reason");
      attempt_stmt_ = std::make_unique<Statement>(db_,
          "INSERT INTO attempts(id, run, experiment, number, node, state, exit_code, started_at_ms, ended_at_ms, "
          "gpus, final_log_bytes, nnodes, gang, node_rank, reason, rate_per_hour) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "
          "ON CONFLICT(id) DO UPDATE SET state=excluded.state, exit_code=excluded.exit_code, "
          "started_at_ms=excluded.started_at_ms, ended_at_ms=excluded.ended_at_ms, "
          "final_log_bytes=excluded.final_log_bytes, reason=excluded.reason");
      node_stmt_ = std::make_unique<Statement>(db_,
          "INSERT INTO nodes(id, hostname, cpus, memory_bytes, gpus, state, registered_at_ms, last_seen_ms, address, "
          "cluster, allocation, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
          "hostname=excluded.hostname, address=excluded.address, "
          "cpus=excluded.cpus, memory_bytes=excluded.memory_bytes, gpus=excluded.gpus, state=excluded.state, "
          "registered_at_ms=excluded.registered_at_ms, last_seen_ms=excluded.last_seen_ms, cluster=excluded.cluster, "
          "allocation=excluded.allocation, reason=excluded.reason");
      cluster_stmt_ = std::make_unique<Statement>(db_,
          "INSERT INTO clusters(name, backend, settings, is_default, created_at_ms) VALUES (?,?,?,?,?) "
          "ON CONFLICT(name) DO UPDATE SET backend=excluded.backend, settings=excluded.settings, "
          "is_default=excluded.is_default");
      cluster_delete_stmt_ = std::make_unique<Statement>(db_, "DELETE FROM clusters WHERE name = ?");
      if (!run_stmt_->ok() || !exp_stmt_->ok() || !attempt_stmt_->ok() || !node_stmt_->ok() || !cluster_stmt_->ok() ||
          !cluster_delete_stmt_->ok())
        return SqlError("preparing statements");
    }
    for (const Run& run : batch.runs) {
      Statement& s = *run_stmt_;
      s.Reset();
      s.Bind(1, run.name);
      s.Bind(2, run.description);
      s.Bind(3, run.created_at_ms);
      s.Bind(4, SpecToJson(run.spec).dump());
      LATTICE_RETURN_IF_ERROR(Step(s, "writing run " + run.name));
      for (const Experiment& e : run.experiments) LATTICE_RETURN_IF_ERROR(WriteExperiment(run.name, e));
    }
    for (const auto& [run, e] : batch.experiments) LATTICE_RETURN_IF_ERROR(WriteExperiment(run, e));
    for (const Attempt& a : batch.attempts) {
      Statement& s = *attempt_stmt_;
      s.Reset();
      s.Bind(1, a.id);
      s.Bind(2, a.run);
      s.Bind(3, static_cast<int64_t>(a.experiment));
      s.Bind(4, static_cast<int64_t>(a.number));
      s.Bind(5, a.node);
      s.Bind(6, std::string(ToString(a.state)));
      s.Bind(7, a.exit_code);
      s.Bind(8, a.started_at_ms);
      s.Bind(9, a.ended_at_ms);
      s.Bind(10, Json(a.gpu_indices).dump());
      if (a.final_log_bytes) s.Bind(11, static_cast<int64_t>(*a.final_log_bytes)); else s.BindNull(11);
      s.Bind(12, static_cast<int64_t>(a.nnodes));
      s.Bind(13, a.gang);
      s.Bind(14, static_cast<int64_t>(a.node_rank));
      s.Bind(15, a.reason);
      s.Bind(16, a.rate_per_hour);
      LATTICE_RETURN_IF_ERROR(Step(s, "writing attempt " + std::to_string(a.id)));
    }
    for (const Node& n : batch.nodes) {
      Statement& s = *node_stmt_;
      s.Reset();
      Json gpus = Json::array();
      for (const auto& g : n.gpus) gpus.push_back(ToJson(g));
      s.Bind(1, n.id);
      s.Bind(2, n.hostname);
      s.Bind(3, n.cpus);
      s.Bind(4, static_cast<int64_t>(n.memory_bytes));
      s.Bind(5, gpus.dump());
      s.Bind(6, std::string(ToString(n.state)));
      s.Bind(7, n.registered_at_ms);
      s.Bind(8, n.last_seen_ms);
      s.Bind(9, n.address);
      s.Bind(10, n.cluster);
      s.Bind(11, n.allocation);
      s.Bind(12, n.reason);
      LATTICE_RETURN_IF_ERROR(Step(s, "writing node " + n.id));
    }
    for (const Cluster& c : batch.clusters) {
      Statement& s = *cluster_stmt_;
      s.Reset();
      s.Bind(1, c.name);
      s.Bind(2, c.backend);
      s.Bind(3, ToJson(c).dump());
      s.Bind(4, static_cast<int64_t>(c.is_default ? 1 : 0));
      s.Bind(5, c.created_at_ms);
      LATTICE_RETURN_IF_ERROR(Step(s, "writing cluster " + c.name));
    }
    for (const std::string& name : batch.deleted_clusters) {
      Statement& s = *cluster_delete_stmt_;
      s.Reset();
      s.Bind(1, name);
      LATTICE_RETURN_IF_ERROR(Step(s, "deleting cluster " + name));
    }
    return OkStatus();
  }

  Result<std::vector<ArtifactRecord>> ReadArtifacts(Statement& s) {
    std::vector<ArtifactRecord> out;
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW) {
      ArtifactRecord r;
      r.id = s.Int(0);
      r.run = s.Text(1);
      r.experiment = static_cast<int>(s.Int(2));
      r.attempt = s.Int(3);
      r.attempt_number = static_cast<int>(s.Int(4));
      r.kind = s.Text(5);
      r.path = s.Text(6);
      r.sha256 = s.Text(7);
      r.size = static_cast<uint64_t>(s.Int(8));
      r.mode = static_cast<uint32_t>(s.Int(9));
      r.group = s.Int(10);
      r.created_at_ms = s.Int(11);
      out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return SqlError("reading artifacts");
    return out;
  }

  Status WriteExperiment(const std::string& run, const Experiment& e) {
    Statement& s = *exp_stmt_;
    s.Reset();
    s.Bind(1, run);
    s.Bind(2, static_cast<int64_t>(e.index));
    s.Bind(3, std::string(ToString(e.state)));
    s.Bind(4, Json(e.args).dump());
    s.Bind(5, e.exit_code);
    s.Bind(6, static_cast<int64_t>(e.attempts));
    s.Bind(7, static_cast<int64_t>(e.restarts));
    s.Bind(8, e.node);
    s.Bind(9, e.current_attempt);
    s.Bind(10, static_cast<int64_t>(e.cancel_requested ? 1 : 0));
    s.Bind(11, e.reason);
    s.Bind(12, Json(e.params).dump());
    return Step(s, "writing experiment " + run + "/" + std::to_string(e.index));
  }

  Status Step(Statement& s, const std::string& what) {
    int rc = sqlite3_step(s.get());
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return SqlError(what);
    return OkStatus();
  }

  Status Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::string msg = err ? err : "unknown error";
      sqlite3_free(err);
      return Error(ErrorCode::kIo, "sqlite: " + msg + " (in: " + sql.substr(0, 80) + ")");
    }
    return OkStatus();
  }

  Error SqlError(const std::string& what) {
    return Error(ErrorCode::kIo, what + ": sqlite: " + sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  std::unique_ptr<Statement> run_stmt_, exp_stmt_, attempt_stmt_, node_stmt_, cluster_stmt_, cluster_delete_stmt_;
  std::unique_ptr<Statement> artifact_insert_, artifact_max_, checkpoint_insert_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Error(ErrorCode::kIo, "cannot open database " + path + ": " + msg);
  }
  auto store = std::make_unique<SqliteStore>(db);
  LATTICE_RETURN_IF_ERROR(store->Init());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace lattice
