#include "server/rerun.h"

#include <algorithm>

#include "sweep/sweep.h"

namespace lattice {
namespace {

// The sweep parser names one argument ("args[2]"); a rerun's caller sent a
// single list, so the field is that list, and the message says which.
Error ArgsError(const Error& e) { return Error(ErrorCode::kInvalidArgument, e.message, "args"); }

}  // namespace

Result<SubmitRequest> BuildRerun(const Run& old, const RerunRequest& request) {
  SubmitRequest out;
  out.name = request.name;
  out.description = request.description.value_or(old.description);
  out.spec = old.spec;
  out.spec.args = request.args.value_or(old.spec.args);

  const SweepInfo& sweep = old.spec.sweep;
  auto spec = sweep::ParseSweep(out.spec.args, sweep.seed);
  if (!spec.ok()) return ArgsError(spec.error());
  auto strategy = sweep::ParseStrategy(sweep.strategy);
  if (!strategy.ok()) return Error(ErrorCode::kInvalidArgument, strategy.error().message, "sweep.strategy");
  sweep::ExpandOptions options;
  options.strategy = *strategy;
  if (sweep.trials > 0) options.trials = sweep.trials;
  options.seed = sweep.seed;
  options.max_experiments = std::max<uint64_t>(kDefaultRerunMaxExperiments, old.experiments.size());
  auto expansion = sweep::Expand(*spec, options);
  if (!expansion.ok()) return ArgsError(expansion.error());

  out.spec.sweep.parameters.clear();
  for (const auto& d : spec->dims) out.spec.sweep.parameters.push_back(d.name);
  if (spec->dims.empty()) return out;  // one experiment with the args as given
  out.experiments.reserve(expansion->points.size());
  for (auto& p : expansion->points) out.experiments.push_back({std::move(p.args), std::move(p.values)});
  return out;
}

}  // namespace lattice
