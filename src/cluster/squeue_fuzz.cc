// libFuzzer entry point for what Lattice reads from Slurm: ParseSqueue and
// ParseSbatchJobId on arbitrary bytes, and PlanSlurm over the tasks parsed
// (with a demand and nodes derived from the same bytes). Named .cc so the
// layer's *.cpp glob leaves it out of the library; built as fuzz_squeue with
// -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// Nothing is caught here: an exception escaping a parser aborts the run and
// counts as a crash.
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "cluster/slurm_job.h"
#include "cluster/slurm_plan.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  const lattice::Result<std::string> job = lattice::ParseSbatchJobId(text);
  if (job.ok()) {
    Check(!job->empty() && job->find_first_not_of("0123456789") == std::string::npos);
  } else {
    Check(!job.error().message.empty());
  }

  const lattice::Result<std::vector<lattice::SlurmTask>> tasks = lattice::ParseSqueue(text);
  if (!tasks.ok()) {
    Check(tasks.error().message.find("squeue printed a line") != std::string::npos);
    return 0;
  }
  std::set<std::string> ids;
  for (const auto& t : *tasks) {
    Check(!t.id.empty() && !t.job_id.empty() && !t.state.empty());
    Check(t.id.find('|') == std::string::npos && t.nodes.find('|') == std::string::npos);
    Check(!(t.Pending() && t.Running()));
    ids.insert(t.id);
  }

  // A demand of the tasks' own shapes (and one more), with the first bytes
  // as queue lengths and node counts; an agent on every other running task.
  lattice::ClusterDemand demand;
  std::map<std::string, int64_t> idle_since;
  size_t i = 0;
  auto byte = [&] { return size == 0 ? 0 : static_cast<int>(data[i++ % size]); };
  std::set<std::string> shapes = {"1x{cpus=1,memory=0,gpus=0}"};
  for (const auto& t : *tasks) shapes.insert(t.shape);
  for (const auto& key : shapes) {
    if (byte() % 4 == 0) continue;  // drained
    demand.shapes.push_back(lattice::DemandShape{key, lattice::Resources{}, 1 + byte() % 4, byte() % 50});
  }
  for (const auto& t : *tasks) {
    if (!t.Running() || byte() % 2 == 0) continue;
    const std::string node = t.id + "-agent";
    demand.nodes.push_back(lattice::ClusterNodeView{node, lattice::AllocationOfJob(t.job_id), byte() % 3 == 0,
                                                    byte() % 5 == 0});
    idle_since[node] = byte() * 100;
  }
  lattice::SlurmPlanInput in;
  in.demand = &demand;
  in.tasks = *tasks;
  in.max_nodes = byte() % 3 == 0 ? 0 : byte() % 20;
  in.idle_since = &idle_since;
  in.now_ms = 20'000;
  in.max_array = 1 + byte() % 30;
  const lattice::SlurmPlan plan = lattice::PlanSlurm(in);
  int submitted_nodes = 0;
  for (const auto& s : plan.submit) {
    Check(s.count > 0 && s.count <= in.max_array);
    Check(s.shape.nodes >= 1);
    submitted_nodes += s.count * s.shape.nodes;
  }
  if (in.max_nodes > 0) Check(submitted_nodes <= in.max_nodes);
  for (const auto& id : plan.cancel) Check(ids.count(id) == 1);
  for (const auto& [key, note] : plan.notes) Check(!note.empty() && shapes.count(key) == 1);
  return 0;
}
