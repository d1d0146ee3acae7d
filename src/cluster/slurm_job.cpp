#include "cluster/slurm_job.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "common/subprocess.h"

namespace lattice {
namespace {

int CpusOf(const DemandShape& s) { return std::max(1, static_cast<int>(std::ceil(s.ask.cpus - 1e-9))); }

std::vector<std::string> SplitFields(const std::string& line) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t bar = line.find('|', start);
    out.push_back(line.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

}  // namespace

std::string AllocationOfJob(const std::string& job_id) { return "slurm job " + job_id; }

std::string PilotScript(const Cluster& cluster, const DemandShape& shape, const PilotPaths& paths) {
  std::vector<std::string> agent = {paths.lattice_binary, "agent", "--server", paths.server_url,
                                    "--token-file", paths.token_file, "--cluster", cluster.name,
                                    "--cpus", std::to_string(CpusOf(shape)),
                                    "--idle-exit", std::to_string(paths.idle_exit_ms) + "ms"};
  if (shape.ask.memory_bytes > 0) {
    agent.push_back("--memory");
    agent.push_back(std::to_string(shape.ask.memory_bytes));
  }
  std::ostringstream s;
  s << "#!/bin/bash\n"
    << "# A Lattice pilot for cluster " << cluster.name << ", shape " << shape.key << ":\n"
    << "# an agent on each node dials back to the server and runs its experiments;\n"
    << "# it stops when there is nothing left for it (or when Slurm ends the job).\n"
    // Each pilot has its own agent home (two pilots on one node must not
    // take each other's attempts for ones a dead agent left), with the
    // code and environment caches of the node shared through symlinks.
    << "lattice_agent() {\n"
    << "  node=" << ShellQuote(paths.state_dir + "/agents") << "/\"${SLURMD_NODENAME}\"\n"
    << "  home=\"${node}-${SLURM_JOB_ID}\"\n"
    << "  mkdir -p \"${node}/cache\" \"${node}/envs\" \"${home}\"\n"
    << "  ln -sfn \"${node}/cache\" \"${home}/cache\"\n"
    << "  ln -sfn \"${node}/envs\" \"${home}/envs\"\n"
    << "  exec " << ShellJoin(agent) << " \\\n"
    << "    --allocation \"slurm job ${SLURM_JOB_ID}\" --node-id \"${SLURMD_NODENAME}-${SLURM_JOB_ID}\" \\\n"
    << "    --agent-home \"${home}\"\n"
    << "}\n"
    // Several nodes: one agent per node through a job step. One node: the
    // batch shell itself becomes the agent, which saves a step launch.
    << "if [ \"${SLURM_JOB_NUM_NODES:-1}\" -gt 1 ]; then\n"
    << "  exec srun --ntasks-per-node=1 --kill-on-bad-exit=0 bash -c \"$(declare -f lattice_agent); lattice_agent\"\n"
    << "fi\n"
    << "lattice_agent\n";
  return s.str();
}

std::vector<std::string> SbatchArgv(const Cluster& cluster, const DemandShape& shape, int count,
                                    const PilotPaths& paths, const std::string& script_path) {
  std::vector<std::string> argv = {"sbatch", "--parsable", "--job-name=" + paths.job_name, "--comment=" + shape.key,
                                   "--nodes=" + std::to_string(shape.nodes), "--ntasks-per-node=1",
                                   "--cpus-per-task=" + std::to_string(CpusOf(shape))};
  argv.push_back("--output=" + paths.state_dir + (count > 1 ? "/slurm-%A_%a.out" : "/slurm-%j.out"));
  if (shape.ask.memory_bytes > 0)
    argv.push_back("--mem=" + std::to_string((shape.ask.memory_bytes + (1 << 20) - 1) >> 20) + "M");
  if (shape.ask.gpus > 0) argv.push_back("--gpus-per-node=" + std::to_string(shape.ask.gpus));
  if (!cluster.partition.empty()) argv.push_back("--partition=" + cluster.partition);
  if (!cluster.account.empty()) argv.push_back("--account=" + cluster.account);
  if (!cluster.qos.empty()) argv.push_back("--qos=" + cluster.qos);
  if (!cluster.time_limit.empty()) {
    argv.push_back("--time=" + cluster.time_limit);
    // SIGTERM to the agent before the limit (90 s, or a quarter of a short
    // limit): its ranks get their grace to checkpoint and the experiments
    // resume in another allocation.
    auto limit = ParseSlurmTime(cluster.time_limit);
    if (limit.ok() && *limit > 0)
      argv.push_back("--signal=B:TERM@" + std::to_string(std::clamp<int64_t>(*limit / 4, 10, 90)));
  }
  if (count > 1) argv.push_back("--array=0-" + std::to_string(count - 1));
  argv.push_back(script_path);
  return argv;
}

Result<std::string> ParseSbatchJobId(const std::string& out) {
  std::string line = out.substr(0, out.find('\n'));
  line = line.substr(0, line.find(';'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty() || line.find_first_not_of("0123456789") != std::string::npos)
    return Error(ErrorCode::kInternal, "sbatch printed '" + out + "' where a job id was expected");
  return line;
}

std::vector<std::string> SqueueArgv(const PilotPaths& paths) {
  return {"squeue", "--noheader", "--array", "--me", "--name=" + paths.job_name, "--format=%i|%A|%T|%r|%k|%N"};
}

Result<std::vector<SlurmTask>> ParseSqueue(const std::string& text) {
  std::vector<SlurmTask> tasks;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    auto f = SplitFields(line);
    if (f.size() != 6 || f[0].empty() || f[1].empty() || f[2].empty())
      return Error(ErrorCode::kInternal, "squeue printed a line Lattice cannot read: '" + line + "'");
    tasks.push_back(SlurmTask{f[0], f[1], f[2], f[3], f[4], f[5]});
  }
  return tasks;
}

}  // namespace lattice
