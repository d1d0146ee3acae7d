// sched_bench: how fast sched::Place decides and how well it packs, on a
// simulated cluster built from a fixed seed. No I/O inside the timed part.
//
//   sched_bench            full run; exits 1 if a target is missed
//   sched_bench --smoke    a tiny run that only checks it works
//
// Targets (issue 4): on 1,000 nodes x 8 GPUs with 100,000 queued experiments
// of 1, 2, 4 and 8 GPUs, >= 100,000 decisions/s and >= 95% of the perfect
// packing bound; the cost of a decision must not grow linearly with nodes.
// Gang mix: the same with a third of the runs multi-node gangs (2 to 16
// nodes of 4 or 8 GPUs); >= 100,000 decisions/s there too.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "sched/placement.h"

namespace {

using lattice::Resources;
using lattice::sched::Decision;
using lattice::sched::NodeSnapshot;
using lattice::sched::Place;
using lattice::sched::Request;
using lattice::sched::RunQueue;

constexpr uint64_t kGi = 1ull << 30;
constexpr int kGpusPerNode = 8;

// Nodes sized so GPUs are the scarce resource: a full node's worth of asks
// never needs more than its 96 CPUs or 1 TiB (asks take <= 12 CPUs, 128 GiB per GPU).
std::vector<NodeSnapshot> Cluster(size_t nodes) {
  std::vector<NodeSnapshot> out(nodes);
  for (size_t i = 0; i < nodes; ++i) {
    NodeSnapshot& n = out[i];
    n.id = "node-" + std::to_string(i);
    n.total = Resources{96, 1024 * kGi, kGpusPerNode};
    n.free_cpus = n.total.cpus;
    n.free_memory = n.total.memory_bytes;
    for (int g = 0; g < kGpusPerNode; ++g) n.free_gpus.push_back(g);
  }
  return out;
}

// Runs of 1 to 10,000 experiments, one shape per run (as in Lattice), some
// with a higher priority or a max_parallel, until experiments are queued.
// with_gangs: about a third of the runs are gangs of 2, 4, 8 or 16 nodes
// asking 4 or 8 GPUs each (multi-node training).
std::vector<RunQueue> Queue(size_t experiments, uint32_t seed, bool with_gangs = false) {
  std::mt19937 rng(seed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const size_t sizes[] = {1, 10, 100, 1000, 10000};
  const int gpus[] = {1, 2, 4, 8};
  const int gang_nodes[] = {2, 4, 8, 16};
  std::vector<RunQueue> runs;
  size_t key = 0;
  while (key < experiments) {
    RunQueue r;
    r.run = "run-" + std::to_string(runs.size());
    r.priority = pick(0, 9) == 0 ? 1 : 0;
    r.submitted_at_ms = static_cast<int64_t>(runs.size());
    r.max_parallel = pick(0, 4) == 0 ? pick(1, 64) : 0;
    // Without gangs no draw is spent here, so the single-node queue stays the
    // one earlier figures were measured on.
    const bool gang = with_gangs && pick(0, 2) == 0;
    const int g = gang ? 4 * pick(1, 2) : gpus[pick(0, 3)];
    const int nodes = gang ? gang_nodes[pick(0, 3)] : 1;
    const Resources ask{static_cast<double>(g * pick(4, 12)), static_cast<uint64_t>(g * pick(16, 128)) * kGi, g};
    const size_t count = std::min(sizes[pick(0, 4)], experiments - key);
    for (size_t i = 0; i < count; ++i) r.queued.push_back(Request{key++, ask, nodes});
    runs.push_back(std::move(r));
  }
  return runs;
}

// A queue whose asks add up to exactly the cluster's GPUs: every request is
// placed, so every decision walks the node index (no memo short cuts).
std::vector<RunQueue> FillQueue(size_t nodes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<RunQueue> runs(1);
  size_t key = 0;
  for (size_t n = 0; n < nodes; ++n) {
    // Split each node's 8 GPUs into a random mix of 1, 2, 4 and 8.
    int left = kGpusPerNode;
    while (left > 0) {
      int g = 1 << std::uniform_int_distribution<int>(0, 3)(rng);
      while (g > left) g /= 2;
      runs[0].queued.push_back(Request{key++, Resources{static_cast<double>(g), 0, g}});
      left -= g;
    }
  }
  std::shuffle(runs[0].queued.begin(), runs[0].queued.end(), rng);
  return runs;
}

// Perfect packing can place at most every GPU, and at most what runs may
// start: each run's queue, cut to its max_parallel room.
long Bound(size_t nodes, const std::vector<RunQueue>& runs) {
  long asked = 0;
  for (const auto& r : runs) {
    size_t n = r.queued.size();
    if (r.max_parallel > 0) n = std::min(n, static_cast<size_t>(std::max(0, r.max_parallel - r.active)));
    if (r.queued.empty()) continue;
    const Request& first = r.queued.front();
    asked += static_cast<long>(n) * first.ask.gpus * std::max(1, first.nodes);
  }
  return std::min(asked, static_cast<long>(nodes) * kGpusPerNode);
}

struct Result {
  size_t requests = 0;
  size_t placed = 0;
  long gpus_placed = 0;
  double seconds = 0;  // median of the repetitions
};

Result Measure(size_t nodes, const std::vector<RunQueue>& runs, int reps) {
  const std::vector<NodeSnapshot> cluster = Cluster(nodes);
  Result res;
  for (const auto& r : runs) res.requests += r.queued.size();
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    std::vector<NodeSnapshot> copy = cluster;  // Place takes its snapshot by value
    const auto t0 = std::chrono::steady_clock::now();
    Decision d = Place(std::move(copy), runs);
    const auto t1 = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double>(t1 - t0).count());
    res.placed = d.placed.size();
    res.gpus_placed = 0;
    for (const auto& p : d.placed)
      for (const auto& share : p.shares) res.gpus_placed += static_cast<long>(share.gpus.size());
    if (d.placed.size() + d.waiting.size() != res.requests) {
      std::fprintf(stderr, "BUG: %zu placed + %zu waiting != %zu requests\n", d.placed.size(), d.waiting.size(),
                   res.requests);
      std::exit(2);
    }
  }
  std::sort(times.begin(), times.end());
  res.seconds = times[times.size() / 2];
  return res;
}

bool Check(const char* what, bool ok) {
  std::printf("%s  %s\n", ok ? "PASS" : "FAIL", what);
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  const bool smoke = argc > 1 && std::strcmp(argv[1], "--smoke") == 0;
  const size_t main_nodes = smoke ? 20 : 1000;
  const size_t main_queue = smoke ? 2000 : 100000;
  const int reps = smoke ? 1 : 5;
  bool ok = true;

  std::printf("main: %zu nodes x %d GPUs, %zu queued experiments (seed 42)\n", main_nodes, kGpusPerNode, main_queue);
  const std::vector<RunQueue> runs = Queue(main_queue, 42);
  const Result m = Measure(main_nodes, runs, reps);
  const long bound = Bound(main_nodes, runs);
  const double dps = static_cast<double>(m.requests) / m.seconds;
  const double packing = bound > 0 ? 100.0 * static_cast<double>(m.gpus_placed) / static_cast<double>(bound) : 100;
  std::printf("  %zu runs, pass %.2f ms, %.0f decisions/s, %zu placed\n", runs.size(), m.seconds * 1e3, dps, m.placed);
  std::printf("  GPUs placed %ld of bound %ld = %.2f%%\n", m.gpus_placed, bound, packing);

  std::printf("\ngang mix: %zu nodes x %d GPUs, %zu queued experiments, a third of the runs gangs (seed 42)\n",
              main_nodes, kGpusPerNode, main_queue);
  const std::vector<RunQueue> gang_runs = Queue(main_queue, 42, /*with_gangs=*/true);
  const Result gm = Measure(main_nodes, gang_runs, reps);
  const long gang_bound = Bound(main_nodes, gang_runs);
  const double gang_dps = static_cast<double>(gm.requests) / gm.seconds;
  const double gang_packing =
      gang_bound > 0 ? 100.0 * static_cast<double>(gm.gpus_placed) / static_cast<double>(gang_bound) : 100;
  std::printf("  %zu runs, pass %.2f ms, %.0f decisions/s, %zu placed\n", gang_runs.size(), gm.seconds * 1e3, gang_dps,
              gm.placed);
  std::printf("  GPUs placed %ld of bound %ld = %.2f%%\n", gm.gpus_placed, gang_bound, gang_packing);

  std::printf("\nscaling (100 experiments per node; fill = asks add up to every GPU, all placed):\n");
  std::printf("  %8s %10s %14s %12s | %10s %14s %12s\n", "nodes", "queue", "decisions/s", "ns/decision", "fill reqs",
              "decisions/s", "ns/decision");
  std::vector<double> fill_ns;
  const std::vector<size_t> sizes = smoke ? std::vector<size_t>{10, 100} : std::vector<size_t>{100, 1000, 10000};
  for (size_t nodes : sizes) {
    const Result s = Measure(nodes, Queue(nodes * 100, 7), nodes >= 10000 ? 3 : reps);
    const Result f = Measure(nodes, FillQueue(nodes, 7), nodes >= 10000 ? 3 : reps);
    const double s_ns = s.seconds * 1e9 / static_cast<double>(s.requests);
    const double f_ns = f.seconds * 1e9 / static_cast<double>(f.requests);
    fill_ns.push_back(f_ns);
    std::printf("  %8zu %10zu %14.0f %12.1f | %10zu %14.0f %12.1f\n", nodes, s.requests, 1e9 / s_ns, s_ns, f.requests,
                1e9 / f_ns, f_ns);
    if (f.gpus_placed != static_cast<long>(nodes) * kGpusPerNode) {
      std::printf("  fill at %zu nodes placed %ld of %zu GPUs\n", nodes, f.gpus_placed, nodes * kGpusPerNode);
      ok = false;
    }
  }
  const double growth = fill_ns.back() / fill_ns.front();
  std::printf("  per-decision cost (fill) grows %.1fx for %zux the nodes\n\n", growth,
              sizes.back() / sizes.front());

  if (smoke) {
    std::printf("smoke run: targets not checked\n");
    return ok ? 0 : 1;
  }
  ok &= Check(">= 100,000 decisions/s on 1,000 nodes x 100,000 queued", dps >= 100000);
  ok &= Check(">= 95% of the perfect-packing bound", packing >= 95.0);
  ok &= Check(">= 100,000 decisions/s on the gang mix", gang_dps >= 100000);
  ok &= Check("per-decision cost far from linear in nodes (< 10x for 100x nodes)", growth < 10.0);
  return ok ? 0 : 1;
}
