#include "sweep/sweep.h"

#include <algorithm>
#include <unordered_set>
#include <utility>
#include <variant>

#include "sweep/expression.h"
#include "sweep/random.h"

namespace lattice::sweep {
namespace {

// Random search draws from its own stream, apart from the per-argument ones.
constexpr uint64_t kSamplingStream = 1ull << 63;

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

// The part before '=' in "--lr=[...]" or "optimizer.lr=[...]": a flag or a
// dotted key, so "a=b" inside a quoted sentence or a URL query is not split.
bool IsFlagKey(std::string_view key) {
  const size_t dashes = key.find_first_not_of('-');
  if (dashes == std::string_view::npos || !IsIdentStart(key[dashes])) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return IsIdentStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

std::string StripDashes(std::string_view flag) {
  flag.remove_prefix(std::min(flag.find_first_not_of('-'), flag.size()));
  return std::string(flag);
}

std::string DimensionName(const std::vector<std::string>& args, size_t i, std::string_view prefix) {
  if (!prefix.empty()) return StripDashes(prefix.substr(0, prefix.size() - 1));
  if (i > 0) {
    const std::string& prev = args[i - 1];
    if (prev.starts_with('-') && prev.find('=') == std::string::npos && IsFlagKey(prev)) return StripDashes(prev);
  }
  return "arg" + std::to_string(i + 1);
}

// Columns count characters, not bytes, so the caret lines up under UTF-8.
size_t ColumnOf(std::string_view text, size_t offset) {
  size_t column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++column;
  }
  return column;
}

Error ExpressionFailure(size_t index, std::string_view arg, size_t offset, const std::string& message) {
  const std::string header = "argument " + std::to_string(index + 1) + ": ";
  // Control characters would break the two-line picture; each shows as one
  // column so the caret still points at the right place.
  const auto printable = [](std::string s) {
    for (char& c : s) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = c == '\t' ? ' ' : '?';
    }
    return s;
  };
  const size_t column = ColumnOf(arg, offset);
  std::string text = header + printable(std::string(arg)) + "\n" + std::string(header.size() + column - 1, ' ') +
                     "^ " + printable(message) + " (column " + std::to_string(column) + ")";
  return Error(ErrorCode::kInvalidArgument, std::move(text), "args[" + std::to_string(index) + "]");
}

Status Validate(const SweepSpec& spec) {
  for (size_t i = 0; i < spec.dims.size(); ++i) {
    const Dimension& d = spec.dims[i];
    if (d.arg_index >= spec.args.size()) {
      return Error(ErrorCode::kInvalidArgument, "sweep dimension '" + d.name + "' points past the arguments");
    }
    // One dimension per argument, in argument order, as ParseSweep makes them.
    if (i > 0 && d.arg_index <= spec.dims[i - 1].arg_index) {
      return Error(ErrorCode::kInvalidArgument, "sweep dimension '" + d.name + "' is out of argument order");
    }
    if (d.values.empty()) return Error(ErrorCode::kInvalidArgument, "sweep dimension '" + d.name + "' has no values");
  }
  return OkStatus();
}

// Builds points from per-dimension value indices. The swept arguments are
// rendered once per value up front, so a point costs one copy of the
// arguments and no string concatenation.
class PointBuilder final {
 public:
  explicit PointBuilder(const SweepSpec& spec) : spec_(spec), dim_of_arg_(spec.args.size(), kNotSwept) {
    rendered_.reserve(spec.dims.size());
    for (size_t d = 0; d < spec.dims.size(); ++d) {
      const Dimension& dim = spec.dims[d];
      dim_of_arg_[dim.arg_index] = d;
      std::vector<std::string>& r = rendered_.emplace_back();
      r.reserve(dim.values.size());
      for (const std::string& v : dim.values) r.push_back(dim.prefix + v);
    }
  }

  // Each string is constructed once, in place: no copy of the template
  // argument that is then overwritten.
  Point Make(uint64_t grid_index, const std::vector<size_t>& indices) const {
    Point p;
    p.grid_index = grid_index;
    p.args.reserve(spec_.args.size());
    for (size_t a = 0; a < spec_.args.size(); ++a) {
      const size_t d = dim_of_arg_[a];
      p.args.push_back(d == kNotSwept ? spec_.args[a] : rendered_[d][indices[d]]);
    }
    p.values.reserve(spec_.dims.size());
    for (size_t d = 0; d < spec_.dims.size(); ++d) p.values.push_back(spec_.dims[d].values[indices[d]]);
    return p;
  }

 private:
  static constexpr size_t kNotSwept = SIZE_MAX;
  const SweepSpec& spec_;
  std::vector<size_t> dim_of_arg_;  // per argument: its dimension, or kNotSwept
  std::vector<std::vector<std::string>> rendered_;
};

std::vector<Point> WholeGrid(const SweepSpec& spec, uint64_t count) {
  const PointBuilder builder(spec);
  std::vector<Point> points;
  points.reserve(count);
  std::vector<size_t> idx(spec.dims.size(), 0);
  for (uint64_t n = 0; n < count; ++n) {
    points.push_back(builder.Make(n, idx));
    // Odometer step, last dimension fastest: amortised O(1) per point.
    for (size_t d = idx.size(); d-- > 0;) {
      if (++idx[d] < spec.dims[d].values.size()) break;
      idx[d] = 0;
    }
  }
  return points;
}

// `k` distinct grid indices below `n` (k < n), uniformly: Floyd's algorithm
// picks the set in O(k) whatever n is, then a Fisher-Yates shuffle makes the
// order uniform too, so the first experiments started are a fair sample.
std::vector<Point> RandomSubset(const SweepSpec& spec, uint64_t n, uint64_t k, uint64_t seed) {
  SplitMix64 rng(StreamSeed(seed, kSamplingStream));
  std::unordered_set<uint64_t> chosen;
  chosen.reserve(k);
  std::vector<uint64_t> picks;
  picks.reserve(k);
  for (uint64_t j = n - k; j < n; ++j) {
    const uint64_t t = rng.Below(j + 1);
    const uint64_t pick = chosen.insert(t).second ? t : j;
    if (pick == j) chosen.insert(j);
    picks.push_back(pick);
  }
  for (uint64_t i = picks.size(); i > 1; --i) std::swap(picks[i - 1], picks[rng.Below(i)]);

  const PointBuilder builder(spec);
  std::vector<Point> points;
  points.reserve(k);
  std::vector<size_t> idx(spec.dims.size(), 0);
  for (uint64_t g : picks) {
    uint64_t rest = g;
    for (size_t d = idx.size(); d-- > 0;) {
      const uint64_t size = spec.dims[d].values.size();
      idx[d] = static_cast<size_t>(rest % size);
      rest /= size;
    }
    points.push_back(builder.Make(g, idx));
  }
  return points;
}

}  // namespace

Result<SweepSpec> ParseSweep(const std::vector<std::string>& args, uint64_t seed) {
  SweepSpec spec;
  spec.args = args;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    size_t value_start = 0;
    if (!LooksLikeExpression(arg)) {
      const size_t eq = arg.find('=');
      if (eq == std::string_view::npos || !IsFlagKey(arg.substr(0, eq)) || !LooksLikeExpression(arg.substr(eq + 1))) {
        continue;  // a plain argument
      }
      value_start = eq + 1;
    }
    Evaluation evaluation = EvaluateExpression(arg.substr(value_start), StreamSeed(seed, i));
    if (const auto* err = std::get_if<ExpressionError>(&evaluation)) {
      return ExpressionFailure(i, arg, value_start + err->offset, err->message);
    }
    Dimension d;
    d.arg_index = i;
    d.prefix = std::string(arg.substr(0, value_start));
    d.values = std::get<std::vector<std::string>>(std::move(evaluation));
    d.name = DimensionName(args, i, d.prefix);
    spec.dims.push_back(std::move(d));
  }
  return spec;
}

uint64_t GridSize(const SweepSpec& spec) {
  uint64_t product = 1;
  for (const Dimension& d : spec.dims) {
    if (__builtin_mul_overflow(product, static_cast<uint64_t>(d.values.size()), &product)) return UINT64_MAX;
  }
  return product;
}

Result<Strategy> ParseStrategy(std::string_view text) {
  if (text == "grid_search" || text == "grid") return Strategy::kGrid;
  if (text == "random_search" || text == "random") return Strategy::kRandom;
  return Error(ErrorCode::kInvalidArgument,
               "unknown --strategy '" + std::string(text) + "': expected grid_search or random_search", "strategy");
}

Result<Expansion> Expand(const SweepSpec& spec, const ExpandOptions& options) {
  LATTICE_RETURN_IF_ERROR(Validate(spec));
  Expansion out;
  out.grid_size = GridSize(spec);
  const std::string grid_text =
      out.grid_size == UINT64_MAX ? "more than " + WithCommas(UINT64_MAX - 1) : WithCommas(out.grid_size);
  const std::string limit_text = "--max-experiments " + std::to_string(options.max_experiments);

  uint64_t count = out.grid_size;
  bool subset = false;
  if (options.strategy == Strategy::kRandom) {
    if (!options.trials) {
      return Error(ErrorCode::kInvalidArgument, "--strategy random_search needs --trials N", "trials");
    }
    const uint64_t trials = *options.trials;
    if (trials == 0) return Error(ErrorCode::kInvalidArgument, "--trials must be at least 1", "trials");
    if (trials > out.grid_size) {
      out.note = "--trials " + std::to_string(trials) + " is more than the grid's " + grid_text + " points: running all " +
                 grid_text;
    } else if (trials < out.grid_size) {
      if (out.grid_size == UINT64_MAX) {
        // Floyd's sampling needs the grid numbered in 64 bits.
        return Error(ErrorCode::kResourceExhausted,
                     "random search over a grid of " + grid_text + " points is not supported: make it smaller");
      }
      count = trials;
      subset = true;
    }
    if (count > options.max_experiments) {
      return Error(ErrorCode::kResourceExhausted,
                   "random search with --trials " + std::to_string(trials) + " has " + WithCommas(count) +
                       " experiments, over " + limit_text,
                   "trials");
    }
  }
  // Checked before a single point is built, so a 10^12 grid fails at once.
  if (count > options.max_experiments) {
    return Error(ErrorCode::kResourceExhausted, "the sweep has " + grid_text + " experiments, over " + limit_text);
  }
  if (!subset && !options.materialize) {
    // Only the indices: the caller builds each point with PointAt as it goes.
    out.points.resize(count);
    for (uint64_t i = 0; i < count; ++i) out.points[i].grid_index = i;
    return out;
  }
  out.points = subset ? RandomSubset(spec, out.grid_size, count, options.seed) : WholeGrid(spec, count);
  return out;
}

Result<Point> PointAt(const SweepSpec& spec, uint64_t grid_index) {
  LATTICE_RETURN_IF_ERROR(Validate(spec));
  const uint64_t grid = GridSize(spec);
  if (grid_index >= grid) {
    return Error(ErrorCode::kInvalidArgument,
                 "grid index " + std::to_string(grid_index) + " is past the grid's " + WithCommas(grid) + " points");
  }
  Point p;
  p.grid_index = grid_index;
  p.args = spec.args;
  p.values.resize(spec.dims.size());
  uint64_t rest = grid_index;
  for (size_t d = spec.dims.size(); d-- > 0;) {
    const Dimension& dim = spec.dims[d];
    const std::string& value = dim.values[static_cast<size_t>(rest % dim.values.size())];
    rest /= dim.values.size();
    p.args[dim.arg_index] = dim.prefix + value;
    p.values[d] = value;
  }
  return p;
}

}  // namespace lattice::sweep
