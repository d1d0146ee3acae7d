// A sweep: the script's arguments with their sweep expressions found and
// evaluated (ParseSweep), and the experiments they expand to (Expand). Pure
// values in and out: no I/O, no clock, randomness only from the seeds given.
// Thread-compatible: no shared state.
//
//   lattice run train.py --lr "[1e-3, 1e-2]" --layers=range(2, 4)
//   -> dims: lr (arg 1, values 1e-3, 1e-2), layers (arg 2, prefix "--layers=")
//   -> 4 experiments, last dimension fastest:
//      --lr 1e-3 --layers=2 | --lr 1e-3 --layers=3 | --lr 1e-2 --layers=2 | ...
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace lattice::sweep {

// One swept argument.
struct Dimension {
  size_t arg_index = 0;             // 0-based index in SweepSpec::args
  std::string prefix;               // "--lr=" for the --flag=value form, else ""
  std::vector<std::string> values;  // the expression's values, never empty
  // For status columns: "lr" from "--lr=" or from a preceding "--lr"
  // argument, else "argN" with N the 1-based argument number. Not unique
  // when the user repeats a flag.
  std::string name;
};

struct SweepSpec {
  std::vector<std::string> args;  // as given; swept ones are replaced per point
  std::vector<Dimension> dims;    // in argument order
};

// Finds the sweep expressions in `args` (whole arguments, or the value part
// of --flag=value / key=value) and evaluates them; see expression.h for the
// grammar and for what counts as an expression. Everything else passes
// through untouched. `seed` drives uniform/loguniform/normal/randint; each
// argument draws from its own stream, so values depend only on the seed, the
// argument's position and its text.
//
// A malformed expression is kInvalidArgument, field "args[i]" (0-based), and
// a message in compiler style, 1-based argument and column (in characters):
//   argument 3: --lr=[0.1, 0.01
//                              ^ expected ',' or ']' (column 16)
Result<SweepSpec> ParseSweep(const std::vector<std::string>& args, uint64_t seed);

// The number of grid points: the product of the dimensions' sizes, 1 for no
// dimensions, UINT64_MAX when the product does not fit.
uint64_t GridSize(const SweepSpec& spec);

enum class Strategy { kGrid, kRandom };

// "grid_search" / "random_search", as --strategy spells them.
Result<Strategy> ParseStrategy(std::string_view text);

struct ExpandOptions {
  Strategy strategy = Strategy::kGrid;
  std::optional<uint64_t> trials = std::nullopt;  // random search: how many points to draw
  uint64_t seed = 0;               // random search: which points
  uint64_t max_experiments = 10'000;
  // false: a grid's points carry only grid_index (args and values empty), for
  // callers that stream them through PointAt; random subsets are always built.
  bool materialize = true;
};

// One experiment.
struct Point {
  uint64_t grid_index = 0;          // row-major position in the full grid
  std::vector<std::string> args;    // the script's arguments for it
  std::vector<std::string> values;  // one per dimension, in SweepSpec::dims order
};

struct Expansion {
  std::vector<Point> points;
  uint64_t grid_size = 0;  // GridSize(spec)
  // For the CLI to print, e.g. when random search was asked for more trials
  // than the grid has: "--trials 50 is more than the grid's 12 points:
  // running all 12". Empty otherwise.
  std::string note;
};

// Grid: every point, row-major (last dimension fastest). Random: `trials`
// distinct grid points drawn without replacement in a seeded random order, or
// the whole grid in grid order when trials >= the grid's size (with a note).
// Errors, all before any point is built: random without trials or with 0
// trials (kInvalidArgument); more experiments than max_experiments
// (kResourceExhausted, naming both numbers); a dimension with no values or an
// arg_index outside args (kInvalidArgument, for hand-built specs).
Result<Expansion> Expand(const SweepSpec& spec, const ExpandOptions& options);

// The grid point at `grid_index` (row-major), built on its own, equal to
// Expand's grid point of that index. For streaming a large grid (build,
// print, drop) instead of holding Expand's whole vector: a 1,000,000-point
// grid of ten arguments is some 700 MB of strings. kInvalidArgument when
// grid_index >= GridSize(spec) or the spec is one Expand would refuse as
// malformed. O(arguments) per call.
Result<Point> PointAt(const SweepSpec& spec, uint64_t grid_index);

}  // namespace lattice::sweep
