// JSON forms of the model, as the API serves and accepts them
// (api/openapi.yaml is the contract; tests keep both in step).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/json.h"
#include "model/types.h"

namespace lattice {

std::string IsoTime(int64_t ms);  // "2026-11-26T01:02:03.456Z"; "" for 0

Json ToJson(const Resources& r);
Json ToJson(const Gpu& g);
// running: the node's active attempts (Controller::RunningOn).
Json ToJson(const Node& n, const std::vector<NodeWork>& running);
// parameters: the run's swept parameter names, for the experiment's "params".
Json ToJson(const Experiment& e, const Attempt* current, const std::vector<std::string>& parameters);
// The run document of GET /runs/{name}. Env values are never included
// (they may hold secrets): only their names.
Json RunToJson(const Run& run, const std::vector<const Attempt*>& current_attempts);
Json RunSummaryToJson(const Run& run, const RunTimes& times);
// One attempt of GET /runs/{run}/experiments/{id}/attempts. parts: its parts in
// node-rank order (Controller::Parts; a one-node attempt is its own part).
Json AttemptToJson(const Attempt& a, const std::vector<const Attempt*>& parts);

// The body of POST /runs.
struct ExperimentRequest {
  std::vector<std::string> args;
  std::vector<std::string> params;
};
struct SubmitRequest {
  std::string name;  // empty: generate
  std::string description;
  RunSpec spec;
  // The points of a sweep, expanded by the client; empty means one
  // experiment with spec.args.
  std::vector<ExperimentRequest> experiments;
};
// The most experiments one run may have (the CLI's --max-experiments is lower by default).
constexpr size_t kMaxExperimentsPerRun = 1'000'000;
Result<SubmitRequest> ParseSubmitRequest(const Json& body);

// The body of POST /runs/{run}/rerun: what changes from the old run.
struct RerunRequest {
  std::optional<std::vector<std::string>> args;  // absent: the old run's
  std::string name;                              // empty: generate
  std::optional<std::string> description;        // absent: the old run's
};
Result<RerunRequest> ParseRerunRequest(const Json& body);

Status ParseResources(const Json& j, const std::string& path, Resources* out);
Status ParseGpus(const Json& j, const std::string& path, std::vector<Gpu>* out);

// Spec persistence (the store keeps it as JSON text).
Json SpecToJson(const RunSpec& spec);
// Everything, for storage and for the agent that builds it.
Json EnvironmentToJson(const EnvironmentSpec& e);
// What people and the API see: credentials in URLs masked.
Json EnvironmentViewToJson(const EnvironmentSpec& e);
Status ParseEnvironment(const Json& j, const std::string& path, EnvironmentSpec* out);
Json SweepToJson(const SweepInfo& sweep);
Result<RunSpec> SpecFromJson(const Json& j);

}  // namespace lattice
