// libFuzzer entry point for the sweep layer: ParseSweep, then Expand as a grid
// and as a random search. Named .cc so the layer's *.cpp glob leaves it out of
// the library; built as fuzz_sweep with -DLATTICE_FUZZ=ON (see
// scripts/fuzz.sh).
//
// The input is a command line: arguments separated by NUL bytes. Beyond "no
// crash, no exception", it checks that parsing is deterministic, that every
// error is a located message, that dimensions are well formed, and that
// expansion respects the limit and yields the grid's points (distinct ones for
// random search, the same ones PointAt builds alone).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "sweep/expression.h"
#include "sweep/sweep.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

constexpr uint64_t kLimit = 64;  // small, so the fuzzer spends its time parsing

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lattice::sweep;
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t i = 0; i <= input.size(); ++i) {
    if (i == input.size() || input[i] == '\0') {
      args.push_back(input.substr(start, i - start));
      start = i + 1;
    }
  }

  const lattice::Result<SweepSpec> spec = ParseSweep(args, size);
  if (!spec.ok()) {
    Check(spec.error().code == lattice::ErrorCode::kInvalidArgument);
    Check(spec.error().message.starts_with("argument "));
    Check(spec.error().message.find("\n") != std::string::npos);
    Check(spec.error().field.starts_with("args["));
    return 0;
  }
  Check(spec->args == args);
  const lattice::Result<SweepSpec> again = ParseSweep(args, size);
  Check(again.ok() && again->dims.size() == spec->dims.size());
  size_t previous = 0;
  for (size_t d = 0; d < spec->dims.size(); ++d) {
    const Dimension& dim = spec->dims[d];
    Check(dim.arg_index < args.size() && (d == 0 || dim.arg_index > previous));
    Check(!dim.values.empty() && dim.values.size() <= kMaxDimensionValues);
    Check(!dim.name.empty());
    Check(again->dims[d].values == dim.values);
    previous = dim.arg_index;
  }

  const uint64_t grid = GridSize(*spec);
  const lattice::Result<Expansion> all = Expand(*spec, {.max_experiments = kLimit});
  if (grid > kLimit) {
    Check(!all.ok() && all.error().code == lattice::ErrorCode::kResourceExhausted);
  } else {
    Check(all.ok() && all->points.size() == grid);
    for (uint64_t i = 0; i < grid; ++i) {
      const Point& p = all->points[i];
      Check(p.grid_index == i && p.args.size() == args.size() && p.values.size() == spec->dims.size());
      const lattice::Result<Point> alone = PointAt(*spec, i);
      Check(alone.ok() && alone->args == p.args && alone->values == p.values);
    }
  }

  const uint64_t trials = 1 + size % 5;
  const lattice::Result<Expansion> some =
      Expand(*spec, {.strategy = Strategy::kRandom, .trials = trials, .seed = size, .max_experiments = kLimit});
  if (grid == UINT64_MAX) return 0;  // random search refuses grids it cannot number
  Check(some.ok());
  Check(some->points.size() == (trials < grid ? trials : grid));
  std::set<uint64_t> seen;
  for (const Point& p : some->points) {
    Check(p.grid_index < grid && seen.insert(p.grid_index).second);
    if (all.ok()) Check(p.args == all->points[p.grid_index].args);
  }
  return 0;
}
