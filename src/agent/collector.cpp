#include "agent/collector.h"

#include <fcntl.h>
#include <unistd.h>

#include <cmath>
#include <memory>
#include <optional>
#include <system_error>

#include "common/fs.h"

namespace lattice::agent {
namespace {

constexpr size_t kMaxEventFiles = 256;
constexpr int kMaxEventSearchDepth = 8;
constexpr size_t kMaxEntriesPerSearch = 20'000;

bool IsEventFileName(const std::string& name) { return name.find("tfevents") != std::string::npos; }

bool IsTemporaryName(const std::string& relative_path) {
  const std::string name = relative_path.substr(relative_path.rfind('/') + 1);
  return name.empty() || name[0] == '.' || (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0);
}

void AddPoint(std::vector<metrics::SeriesBatch>* out, const std::string& key, metrics::Point p) {
  for (auto& s : *out) {
    if (s.key == key) {
      s.points.push_back(p);
      return;
    }
  }
  out->push_back(metrics::SeriesBatch{key, {p}});
}

}  // namespace

AttemptCollector::AttemptCollector(CollectorPaths paths, pid_t supervisor, std::vector<int> gpus,
                                   GpuSampler* gpu_sampler, int64_t start_mono_ms, CollectorOptions options)
    : paths_(std::move(paths)),
      supervisor_(supervisor),
      gpus_(std::move(gpus)),
      gpu_sampler_(gpu_sampler),
      start_mono_ms_(start_mono_ms),
      options_(options),
      jsonl_(std::make_unique<metrics::JsonlMetricsTail>(paths_.metrics_file.filename().string())),
      artifacts_(paths_.artifacts_dir, WatchOptions{.settle_ms = options.settle_ms, .label = "artifacts"}),
      checkpoints_(paths_.checkpoint_dir, WatchOptions{.settle_ms = options.settle_ms, .label = "checkpoints"}) {
  if (supervisor_ > 0) processes_ = std::make_unique<ProcessTreeSampler>(supervisor_);
}

std::string AttemptCollector::ReadFrom(const std::filesystem::path& path, uint64_t* fed) const {
  auto bytes = fs::ReadRange(path, *fed, options_.max_read_per_pass);
  if (!bytes.ok()) return {};  // not written yet
  *fed += bytes->size();
  return std::move(bytes).value();
}

void AttemptCollector::Warn(std::string text, CollectOutput* out) { out->warnings.push_back(std::move(text)); }

void AttemptCollector::ReadMetricsFile(double now, bool exited, CollectOutput* out) {
  for (;;) {
    std::string bytes = ReadFrom(paths_.metrics_file, &jsonl_fed_);
    if (bytes.empty()) break;
    jsonl_->Feed(bytes, now, &out->points, &out->warnings);
    if (bytes.size() < options_.max_read_per_pass) break;
  }
  if (exited) jsonl_->Finish(now, &out->points, &out->warnings);
}

void AttemptCollector::FindEventFiles() {
  size_t entries = 0;
  for (const auto& root : {paths_.workspace, paths_.artifacts_dir}) {
    std::error_code ec;
    std::filesystem::recursive_directory_iterator it(root, std::filesystem::directory_options::skip_permission_denied,
                                                     ec);
    for (; !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (++entries > kMaxEntriesPerSearch || event_files_.size() >= kMaxEventFiles) return;
      if (it.depth() >= kMaxEventSearchDepth) it.disable_recursion_pending();
      std::error_code sec;
      if (!it->is_regular_file(sec) || it->is_symlink(sec)) continue;
      if (!IsEventFileName(it->path().filename().string())) continue;
      const std::string path = it->path().string();
      if (event_files_.count(path)) continue;
      EventFile f;
      f.tail = std::make_unique<metrics::TfEventsTail>(it->path().filename().string());
      event_files_.emplace(path, std::move(f));
    }
  }
}

void AttemptCollector::ReadEventFiles(bool exited, CollectOutput* out) {
  std::vector<metrics::ScalarEvent> scalars;
  for (auto& [path, f] : event_files_) {
    for (;;) {
      std::string bytes = ReadFrom(path, &f.fed);
      if (bytes.empty()) break;
      f.tail->Feed(bytes, &scalars, &out->warnings);
      if (bytes.size() < options_.max_read_per_pass) break;
    }
    if (exited) f.tail->Finish(&out->warnings);
  }
  for (const auto& s : scalars) {
    if (Status st = metrics::ValidateKey(s.tag); !st.ok()) {
      if (warned_keys_.insert(s.tag).second) Warn("TensorBoard tag skipped: " + st.error().message, out);
      continue;
    }
    AddPoint(&out->points, s.tag, metrics::Point{s.step, s.wall_time, s.value});
  }
}

void AttemptCollector::SampleSystem(int64_t mono_ms, double now, CollectOutput* out) {
  const int64_t step = (mono_ms - start_mono_ms_) / 1000;
  if (processes_) {
    auto sample = processes_->Sample(mono_ms);
    if (sample.ok()) {
      pids_ = sample->pids;
      if (sample->processes > 0) {
        AddPoint(&out->points, "system/cpu_percent", {step, now, sample->cpu_percent});
        AddPoint(&out->points, "system/memory_rss_bytes", {step, now, static_cast<double>(sample->rss_bytes)});
      }
    }
  }
  if (gpu_sampler_ && !gpus_.empty()) {
    auto gpus = gpu_sampler_->Sample(gpus_);
    if (gpus.ok()) {
      for (const auto& g : *gpus) {
        const std::string prefix = "system/gpu" + std::to_string(g.index) + "/";
        AddPoint(&out->points, prefix + "utilization_percent", {step, now, g.utilization_percent});
        AddPoint(&out->points, prefix + "memory_used_bytes", {step, now, static_cast<double>(g.memory_used_bytes)});
      }
    } else if (warned_keys_.insert("<gpu>").second) {
      Warn("GPU metrics unavailable: " + gpus.error().message, out);
    }
  }
}

CollectOutput AttemptCollector::Collect(int64_t mono_ms, double now, bool exited) {
  CollectOutput out;
  if (finished_) return out;
  ReadMetricsFile(now, exited, &out);
  if (exited || mono_ms - last_event_scan_ms_ >= options_.tfevents_scan_ms) {
    last_event_scan_ms_ = mono_ms;
    FindEventFiles();
  }
  ReadEventFiles(exited, &out);
  if (!exited && options_.system_interval_ms > 0 && mono_ms - last_system_ms_ >= options_.system_interval_ms) {
    last_system_ms_ = mono_ms;
    SampleSystem(mono_ms, now, &out);
  }
  // Files a process of the attempt still writes are not complete; once the
  // attempt has exited nothing is open any more. Which files are open is
  // looked up in /proc only when a scan finds a candidate, once per pass.
  OpenForWrite busy = NothingOpenForWrite();
  if (!exited) {
    auto open = std::make_shared<std::optional<OpenForWrite>>();
    busy = [this, open, mono_ms](dev_t dev, ino_t ino) {
      if (!*open) {
        std::vector<pid_t> pids = pids_;
        if (pids.empty() && processes_) {
          // No sample yet (the interval is long or off): find the processes now.
          auto sample = processes_->Sample(mono_ms);
          if (sample.ok()) pids = sample->pids;
        }
        *open = pids.empty() ? NothingOpenForWrite() : OpenForWriteIn(FilesOpenForWriting(pids));
      }
      return (**open)(dev, ino);
    };
  }
  for (auto [watch, ready] : {std::pair{&artifacts_, &out.artifacts}, std::pair{&checkpoints_, &out.checkpoints}}) {
    ScanResult scan = exited ? watch->ScanFinal(busy, mono_ms) : watch->Scan(busy, mono_ms);
    *ready = std::move(scan.ready);
    for (auto& w : scan.warnings) out.warnings.push_back(std::move(w));
  }
  // A checkpoint written through a temporary name (".x", "x.tmp") and then
  // renamed is complete only under its final name; one left behind by a
  // crash is not a checkpoint.
  std::erase_if(out.checkpoints, [](const ReadyFile& f) { return IsTemporaryName(f.relative_path); });
  if (exited) finished_ = true;
  return out;
}

Json AttemptCollector::State() const {
  Json events = Json::object();
  for (const auto& [path, f] : event_files_) events[path] = f.tail->consumed();
  return Json{{"jsonl", {{"offset", jsonl_->consumed()}, {"line", jsonl_->next_line()}, {"step", jsonl_->next_step()}}},
              {"events", std::move(events)}};
}

void AttemptCollector::Restore(const Json& state) {
  try {
    const Json& j = state.at("jsonl");
    jsonl_fed_ = j.at("offset").get<uint64_t>();
    jsonl_ = std::make_unique<metrics::JsonlMetricsTail>(paths_.metrics_file.filename().string(), jsonl_fed_,
                                                         j.at("line").get<int64_t>(), j.at("step").get<int64_t>());
    for (const auto& [path, offset] : state.at("events").items()) {
      EventFile f;
      f.fed = offset.get<uint64_t>();
      f.tail = std::make_unique<metrics::TfEventsTail>(std::filesystem::path(path).filename().string(), f.fed);
      event_files_[path] = std::move(f);
    }
  } catch (const std::exception&) {
    // A damaged state file: start over; points may be sent twice, none lost.
  }
}

}  // namespace lattice::agent
