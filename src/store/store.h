// The store persists the server's state: runs (with their experiments),
// attempts and nodes. One interface, SQLite now and PostgreSQL later, so the
// SQL stays portable (INSERT ... ON CONFLICT, no SQLite-only types).
// Log bytes and blobs live in files (server/log_store, server/blob_store).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/types.h"

namespace lattice {

struct StoreData {
  std::vector<Run> runs;  // with experiments, in creation order
  std::vector<Attempt> attempts;
  std::vector<Node> nodes;
};

// Everything one state change writes; committed in one transaction.
struct StoreBatch {
  std::vector<Run> runs;  // run rows (and all their experiments) to upsert
  std::vector<std::pair<std::string, Experiment>> experiments;  // (run, exp) upserts
  std::vector<Attempt> attempts;
  std::vector<Node> nodes;
  bool empty() const { return runs.empty() && experiments.empty() && attempts.empty() && nodes.empty(); }
};

class Store {
 public:
  virtual ~Store() = default;
  virtual Result<StoreData> Load() = 0;
  // All or nothing.
  virtual Status Commit(const StoreBatch& batch) = 0;
  virtual int SchemaVersion() = 0;
};

// Opens (creating if needed) a SQLite database in WAL mode and applies
// pending migrations, each in its own transaction.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path);

}  // namespace lattice
