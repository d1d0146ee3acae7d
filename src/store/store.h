// The store persists the server's state: runs (with their experiments),
// attempts and nodes. One interface, SQLite now and PostgreSQL later, so the
// SQL stays portable (INSERT ... ON CONFLICT, no SQLite-only types).
// Log bytes and blobs live in files (server/log_store, server/blob_store).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/cluster.h"
#include "model/types.h"

namespace lattice {

struct StoreData {
  std::vector<Run> runs;  // with experiments, in creation order
  std::vector<Attempt> attempts;
  std::vector<Node> nodes;
  std::vector<Cluster> clusters;  // by name
};

// Everything one state change writes; committed in one transaction.
struct StoreBatch {
  std::vector<Run> runs;  // run rows (and all their experiments) to upsert
  std::vector<std::pair<std::string, Experiment>> experiments;  // (run, exp) upserts
  std::vector<Attempt> attempts;
  std::vector<Node> nodes;
  std::vector<Cluster> clusters;  // upserts
  std::vector<std::string> deleted_clusters;
  bool empty() const {
    return runs.empty() && experiments.empty() && attempts.empty() && nodes.empty() && clusters.empty() &&
           deleted_clusters.empty();
  }
};

class Store {
 public:
  virtual ~Store() = default;
  virtual Result<StoreData> Load() = 0;
  // All or nothing.
  virtual Status Commit(const StoreBatch& batch) = 0;
  virtual int SchemaVersion() = 0;

  // Artifacts and checkpoints (kept apart from the state above: they are
  // only ever appended and are read by query, not loaded at start).
  // Records the files of one registration in one transaction; ids and
  // `group` are assigned here. A file equal to one stored before (same
  // attempt, kind, path and sha256) is listed once, so a sender may retry.
  // Checkpoint files registered together are also kept as one checkpoint
  // (LatestCheckpoint gives back all of its files).
  virtual Status AddArtifacts(std::vector<ArtifactRecord>* records) = 0;
  // In id order; experiment < 0: all of the run's; kind "": both kinds.
  virtual Result<std::vector<ArtifactRecord>> ListArtifacts(const std::string& run, int experiment,
                                                            const std::string& kind) = 0;
  // The files of the newest checkpoint registration of an experiment.
  virtual Result<std::vector<ArtifactRecord>> LatestCheckpoint(const std::string& run, int experiment) = 0;
};

// Opens (creating if needed) a SQLite database in WAL mode and applies
// pending migrations, each in its own transaction.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace lattice
