// POST /api/v1/runs/{run}/rerun: the submission of a new run made from an
// old one. Pure: the old run and the request in, a SubmitRequest out.
#pragma once

#include "common/result.h"
#include "model/codec.h"
#include "model/types.h"

namespace lattice {

// A rerun may expand to at most this many experiments, as many as
// `lattice run` allows by default, or as many as the old run had.
constexpr size_t kDefaultRerunMaxExperiments = 10'000;

// Copies the old run's spec (snapshot, script, resources, env with values,
// python, environment, restarts, grace, priority, parallelism, nodes,
// launcher, cluster, sweep strategy and seed) and expands the request's args
// (the old run's when absent) into experiments as `lattice run` does. A bad
// sweep expression or too many points is kInvalidArgument, field "args",
// with the sweep parser's message.
Result<SubmitRequest> BuildRerun(const Run& old, const RerunRequest& request);

}  // namespace lattice
