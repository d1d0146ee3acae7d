#include "store/migrations.h"

namespace lattice {

const std::vector<Migration>& Migrations() {
  static const std::vector<Migration> kMigrations = {
      {"initial schema", R"SQL(
CREATE TABLE runs (
  name TEXT PRIMARY KEY,
  description TEXT NOT NULL,
  created_at_ms BIGINT NOT NULL,
  spec TEXT NOT NULL
);
CREATE TABLE experiments (
  run TEXT NOT NULL REFERENCES runs(name),
  idx INTEGER NOT NULL,
  state TEXT NOT NULL,
  args TEXT NOT NULL,
  exit_code INTEGER,
  attempts INTEGER NOT NULL,
  restarts INTEGER NOT NULL,
  node TEXT NOT NULL,
  current_attempt BIGINT NOT NULL,
  cancel_requested INTEGER NOT NULL,
  reason TEXT NOT NULL,
  PRIMARY KEY (run, idx)
);
CREATE TABLE attempts (
  id BIGINT PRIMARY KEY,
  run TEXT NOT NULL REFERENCES runs(name),
  experiment INTEGER NOT NULL,
  number INTEGER NOT NULL,
  node TEXT NOT NULL,
  state TEXT NOT NULL,
  exit_code INTEGER,
  started_at_ms BIGINT NOT NULL,
  ended_at_ms BIGINT NOT NULL,
  gpus TEXT NOT NULL,
  final_log_bytes BIGINT
);
CREATE INDEX attempts_by_experiment ON attempts(run, experiment);
CREATE TABLE nodes (
  id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  cpus DOUBLE PRECISION NOT NULL,
  memory_bytes BIGINT NOT NULL,
  gpus TEXT NOT NULL,
  state TEXT NOT NULL,
  registered_at_ms BIGINT NOT NULL,
  last_seen_ms BIGINT NOT NULL
);
)SQL"},
      {"experiment parameters", R"SQL(
ALTER TABLE experiments ADD COLUMN params TEXT NOT NULL DEFAULT '[]';
)SQL"},
      {"artifacts and checkpoints", R"SQL(
CREATE TABLE artifacts (
  id BIGINT PRIMARY KEY,
  run TEXT NOT NULL REFERENCES runs(name),
  experiment INTEGER NOT NULL,
  attempt BIGINT NOT NULL,
  attempt_number INTEGER NOT NULL,
  kind TEXT NOT NULL,
  path TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  size BIGINT NOT NULL,
  mode INTEGER NOT NULL,
  grp BIGINT NOT NULL,
  created_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX artifacts_version ON artifacts(attempt, kind, path, sha256);
CREATE INDEX artifacts_by_experiment ON artifacts(run, experiment, kind, id);
CREATE TABLE checkpoints (
  id BIGINT PRIMARY KEY,
  run TEXT NOT NULL REFERENCES runs(name),
  experiment INTEGER NOT NULL,
  attempt BIGINT NOT NULL,
  files TEXT NOT NULL,
  created_at_ms BIGINT NOT NULL
);
CREATE INDEX checkpoints_by_experiment ON checkpoints(run, experiment, id);
)SQL"},
      {"multi-node gangs", R"SQL(
ALTER TABLE attempts ADD COLUMN nnodes INTEGER NOT NULL DEFAULT 1;
ALTER TABLE attempts ADD COLUMN gang BIGINT NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN node_rank INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN address TEXT NOT NULL DEFAULT '';
)SQL"},
      {"clusters", R"SQL(
CREATE TABLE clusters (
  name TEXT PRIMARY KEY,
  backend TEXT NOT NULL,
  settings TEXT NOT NULL,
  is_default INTEGER NOT NULL,
  created_at_ms BIGINT NOT NULL
);
ALTER TABLE nodes ADD COLUMN cluster TEXT NOT NULL DEFAULT 'local';
ALTER TABLE nodes ADD COLUMN allocation TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN reason TEXT NOT NULL DEFAULT '';
)SQL"},
      {"attempt end reasons", R"SQL(
ALTER TABLE attempts ADD COLUMN reason TEXT NOT NULL DEFAULT '';
)SQL"},
      {"what attempts cost", R"SQL(
ALTER TABLE attempts ADD COLUMN rate_per_hour REAL NOT NULL DEFAULT 0;
)SQL"},
  };
  return kMigrations;
}

}  // namespace lattice
