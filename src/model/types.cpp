#include "model/types.h"

#include <algorithm>

namespace lattice {
namespace {
template <typename E, size_t N>
bool ParseEnum(const std::string& s, const char* const (&names)[N], E* out) {
  for (size_t i = 0; i < N; ++i) {
    if (s == names[i]) {
      *out = static_cast<E>(i);
      return true;
    }
  }
  return false;
}
const char* const kExperimentStates[] = {"queued", "starting", "running", "succeeded", "failed", "cancelled"};
const char* const kAttemptStates[] = {"starting", "running", "succeeded", "failed", "cancelled", "lost"};
const char* const kRunStates[] = {"queued", "running", "succeeded", "failed", "cancelled"};
const char* const kNodeStates[] = {"ready", "lost"};
}  // namespace

const char* ToString(ExperimentState s) { return kExperimentStates[static_cast<int>(s)]; }
const char* ToString(AttemptState s) { return kAttemptStates[static_cast<int>(s)]; }
const char* ToString(RunState s) { return kRunStates[static_cast<int>(s)]; }
const char* ToString(NodeState s) { return kNodeStates[static_cast<int>(s)]; }
bool ParseExperimentState(const std::string& s, ExperimentState* out) { return ParseEnum(s, kExperimentStates, out); }
bool ParseAttemptState(const std::string& s, AttemptState* out) { return ParseEnum(s, kAttemptStates, out); }
bool ParseNodeState(const std::string& s, NodeState* out) { return ParseEnum(s, kNodeStates, out); }

bool IsTerminal(ExperimentState s) {
  return s == ExperimentState::kSucceeded || s == ExperimentState::kFailed ||
         s == ExperimentState::kCancelled;
}
bool IsTerminal(AttemptState s) {
  return s != AttemptState::kStarting && s != AttemptState::kRunning;
}

RunState RunStateOf(const Run& run) {
  // Any experiment still active keeps the run active; among finished runs a
  // failure outranks a cancellation, which outranks success.
  bool any_running = false, any_queued = false, any_failed = false, any_cancelled = false;
  for (const auto& e : run.experiments) {
    switch (e.state) {
      case ExperimentState::kStarting:
      case ExperimentState::kRunning: any_running = true; break;
      case ExperimentState::kQueued: any_queued = true; break;
      case ExperimentState::kFailed: any_failed = true; break;
      case ExperimentState::kCancelled: any_cancelled = true; break;
      case ExperimentState::kSucceeded: break;
    }
  }
  if (any_running) return RunState::kRunning;
  if (any_queued) {
    // Some finished while others wait: the run as a whole is under way.
    bool any_done = run.experiments.size() > 0 &&
                    std::any_of(run.experiments.begin(), run.experiments.end(),
                                [](const Experiment& e) { return IsTerminal(e.state); });
    return any_done ? RunState::kRunning : RunState::kQueued;
  }
  if (any_failed) return RunState::kFailed;
  if (any_cancelled) return RunState::kCancelled;
  return RunState::kSucceeded;
}

}  // namespace lattice

namespace lattice {

bool IsValidLauncher(const std::string& launcher) {
  return launcher.empty() || launcher == "per-gpu" || launcher == "per-node" || launcher == "torchrun";
}

std::string EffectiveLauncher(const RunSpec& spec) {
  if (!spec.launcher.empty()) return spec.launcher;
  return spec.nodes > 1 ? "per-gpu" : "per-node";
}

int RanksPerNode(const RunSpec& spec) {
  return EffectiveLauncher(spec) == "per-gpu" ? std::max(1, spec.resources.gpus) : 1;
}

}  // namespace lattice
