#include "sweep/strategy.h"

#include <utility>

namespace lattice::sweep {

Result<std::unique_ptr<SearchStrategy>> MakeSearchStrategy(const SweepSpec& spec, const ExpandOptions& options) {
  LATTICE_ASSIGN_OR_RETURN(Expansion expansion, Expand(spec, options));
  std::unique_ptr<SearchStrategy> strategy;
  switch (options.strategy) {
    case Strategy::kGrid:
      strategy = std::make_unique<GridSearch>(std::move(expansion));
      break;
    case Strategy::kRandom:
      strategy = std::make_unique<RandomSearch>(std::move(expansion));
      break;
  }
  return strategy;
}

}  // namespace lattice::sweep
