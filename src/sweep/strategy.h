// Search strategies: which experiments a run starts with, and how it reacts
// to metrics as they arrive. Grid and random search decide everything up
// front; the interface leaves room for early stopping (ASHA: stop the worst
// experiments at each rung, start new ones in their place) without changing
// callers. Pure: the server feeds metrics in and acts on the decisions.
//
// Not thread-safe: one strategy per run, driven from one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "common/result.h"
#include "sweep/sweep.h"

namespace lattice::sweep {

// What a strategy wants done after a metric. Experiment numbers are positions
// in the order points were handed out: Initial() first, then each `add`.
struct Decision {
  std::vector<size_t> stop;  // experiments to stop early
  std::vector<Point> add;    // new experiments to queue
};

class SearchStrategy {
 public:
  virtual ~SearchStrategy() = default;

  // The experiments to start with, and a note for the user if any. Called
  // once; the points move out.
  virtual Expansion Initial() = 0;

  // A metric value reported by an experiment at a training step.
  virtual Decision OnMetric(size_t experiment, int64_t step, double value) = 0;
};

// Every grid point; never stops anything.
class GridSearch final : public SearchStrategy {
 public:
  explicit GridSearch(Expansion expansion) : expansion_(std::move(expansion)) {}
  Expansion Initial() override { return std::move(expansion_); }
  Decision OnMetric(size_t, int64_t, double) override { return {}; }

 private:
  Expansion expansion_;
};

// `trials` random grid points; never stops anything.
class RandomSearch final : public SearchStrategy {
 public:
  explicit RandomSearch(Expansion expansion) : expansion_(std::move(expansion)) {}
  Expansion Initial() override { return std::move(expansion_); }
  Decision OnMetric(size_t, int64_t, double) override { return {}; }

 private:
  Expansion expansion_;
};

// The strategy options.strategy names, its points expanded (and limits
// checked) by Expand().
Result<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(const SweepSpec& spec, const ExpandOptions& options);

}  // namespace lattice::sweep
