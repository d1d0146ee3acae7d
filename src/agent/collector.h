// Collects what one attempt produces besides its output: metric points from
// LATTICE_METRICS_FILE (JSON lines) and from TensorBoard event files
// anywhere in its workspace, system metrics of its process tree and GPUs,
// and the files of its artifacts and checkpoint directories once they are
// complete. The agent's collector thread calls Collect() about twice a
// second for each attempt, then once more with exited = true.
//
// Readers resume where they stopped: State() is saved in the attempt's
// spool after each pass and given back to a new collector after an agent
// restart (points collected after the last save may then be sent twice).
// Not thread-safe: one thread uses a collector.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/file_watch.h"
#include "agent/gpu_stats.h"
#include "agent/process_stats.h"
#include "common/json.h"
#include "metrics/jsonl.h"
#include "metrics/point.h"
#include "metrics/tfevents.h"

namespace lattice::agent {

struct CollectorOptions {
  int64_t system_interval_ms = 5000;  // system metrics every this often; <= 0: never
  int64_t tfevents_scan_ms = 2000;    // look for new event files this often
  int64_t settle_ms = 2000;           // see WatchOptions::settle_ms
  size_t max_read_per_pass = 8 << 20; // bytes read from one source per pass
};

struct CollectorPaths {
  std::filesystem::path metrics_file;    // LATTICE_METRICS_FILE
  std::filesystem::path workspace;       // searched for TensorBoard event files
  std::filesystem::path artifacts_dir;   // LATTICE_ARTIFACTS_DIR
  std::filesystem::path checkpoint_dir;  // LATTICE_CHECKPOINT_DIR
};

struct CollectOutput {
  std::vector<metrics::SeriesBatch> points;
  std::vector<std::string> warnings;  // for the experiment's log, one line each
  std::vector<ReadyFile> artifacts;
  std::vector<ReadyFile> checkpoints;
};

class AttemptCollector final {
 public:
  // supervisor: the session leader of the attempt's processes (<= 0: none,
  // e.g. an attempt recovered after an agent restart). gpus: NVML indices
  // the attempt holds; gpu_sampler may be null (no NVML). start_mono_ms:
  // when the attempt started (system metrics use seconds since then as step).
  AttemptCollector(CollectorPaths paths, pid_t supervisor, std::vector<int> gpus, GpuSampler* gpu_sampler,
                   int64_t start_mono_ms, CollectorOptions options);

  // One pass. exited: the attempt's processes are gone; readers finish their
  // files (an unterminated last line is parsed, a truncated event record
  // reported) and every remaining complete file is returned.
  CollectOutput Collect(int64_t mono_ms, double now, bool exited);

  // Opens a returned file for reading (see DirectoryWatch::Open).
  Result<int> OpenArtifact(const ReadyFile& f) const { return artifacts_.Open(f); }
  Result<int> OpenCheckpoint(const ReadyFile& f) const { return checkpoints_.Open(f); }
  // An upload failed: offer the file again on a later pass.
  void RetryArtifact(const std::string& path) { artifacts_.Forget(path); }
  void RetryCheckpoint(const std::string& path) { checkpoints_.Forget(path); }

  Json State() const;
  void Restore(const Json& state);

 private:
  struct EventFile {
    std::unique_ptr<metrics::TfEventsTail> tail;
    uint64_t fed = 0;  // bytes of the file handed to the tail so far
  };
  void ReadMetricsFile(double now, bool exited, CollectOutput* out);
  void FindEventFiles();
  void ReadEventFiles(bool exited, CollectOutput* out);
  void SampleSystem(int64_t mono_ms, double now, CollectOutput* out);
  // Reads up to max bytes of path from *fed on; empty when nothing new.
  std::string ReadFrom(const std::filesystem::path& path, uint64_t* fed) const;
  void Warn(std::string text, CollectOutput* out);

  const CollectorPaths paths_;
  const pid_t supervisor_;
  const std::vector<int> gpus_;
  GpuSampler* const gpu_sampler_;
  const int64_t start_mono_ms_;
  const CollectorOptions options_;

  std::unique_ptr<metrics::JsonlMetricsTail> jsonl_;
  uint64_t jsonl_fed_ = 0;
  std::map<std::string, EventFile> event_files_;  // by path relative to its root
  int64_t last_event_scan_ms_ = INT64_MIN / 2;
  std::unique_ptr<ProcessTreeSampler> processes_;
  std::vector<pid_t> pids_;  // of the last system sample
  int64_t last_system_ms_ = INT64_MIN / 2;
  DirectoryWatch artifacts_;
  DirectoryWatch checkpoints_;
  std::set<std::string> warned_keys_;
  bool finished_ = false;
};

}  // namespace lattice::agent
