// "Did you mean ...?" for names a user mistyped: instance types, GPU models.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace lattice::estimate {

// Case-insensitive Levenshtein distance.
size_t EditDistance(std::string_view a, std::string_view b);

// The names closest to `query`, best first, at most `limit`: those that
// start with it (p4d -> p4d.24xlarge, p4de.24xlarge), else the nearest
// within a small edit distance (g5.xlrage -> g5.xlarge). Empty when nothing
// is close.
std::vector<std::string> ClosestNames(std::string_view query, const std::vector<std::string>& names,
                                      size_t limit = 5);

// "did you mean g5.xlarge?" / "did you mean one of p4d.24xlarge, p4de.24xlarge?"; empty for no names.
std::string DidYouMean(const std::vector<std::string>& names);

}  // namespace lattice::estimate
