#include "estimate/suggest.h"

#include <algorithm>
#include <cctype>
#include <numeric>

#include "common/text.h"

namespace lattice::estimate {
namespace {

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

}  // namespace

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), size_t{0});
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const size_t substitute = diagonal + (Lower(a[i - 1]) == Lower(b[j - 1]) ? 0 : 1);
      row[j] = std::min({above + 1, row[j - 1] + 1, substitute});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::vector<std::string> ClosestNames(std::string_view query, const std::vector<std::string>& names,
                                      size_t limit) {
  const std::string q = AsciiLower(query.substr(0, 256));
  if (q.empty() || limit == 0) return {};
  std::vector<std::string> prefixed;
  std::vector<std::pair<size_t, std::string>> near;
  // Up to a third of the query's length may be wrong, at least 2 and at most 4 edits.
  const size_t max_distance = std::clamp<size_t>(q.size() / 3, 2, 4);
  for (const std::string& name : names) {
    const std::string n = AsciiLower(name);
    if (n == q) continue;
    if (q.size() >= 2 && n.compare(0, q.size(), q) == 0) {
      prefixed.push_back(name);
      continue;
    }
    const size_t d = EditDistance(q, n);
    if (d <= max_distance && d < n.size()) near.emplace_back(d, name);
  }
  // Shortest first: "p4d" lists p4d.24xlarge before p4de.24xlarge.
  std::sort(prefixed.begin(), prefixed.end(), [](const std::string& a, const std::string& b) {
    return a.size() != b.size() ? a.size() < b.size() : a < b;
  });
  std::stable_sort(near.begin(), near.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second < b.second;
  });
  // Only the nearest: g5.xlarg suggests g5.xlarge, not also g6.xlarge one edit further.
  if (!near.empty()) {
    const size_t best = near.front().first;
    near.erase(std::find_if(near.begin(), near.end(), [&](const auto& e) { return e.first > best; }), near.end());
  }
  std::vector<std::string> out;
  for (auto& name : prefixed)
    if (out.size() < limit) out.push_back(std::move(name));
  if (out.empty())  // a name the query starts is a better guess than one a few edits away
    for (auto& entry : near)
      if (out.size() < limit) out.push_back(std::move(entry.second));
  return out;
}

std::string DidYouMean(const std::vector<std::string>& names) {
  if (names.empty()) return {};
  if (names.size() == 1) return "did you mean " + names[0] + "?";
  std::string out = "did you mean one of ";
  for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + names[i];
  return out + "?";
}

}  // namespace lattice::estimate
