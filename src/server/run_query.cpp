#include "server/run_query.h"

#include <algorithm>
#include <cstdint>

#include "common/text.h"
#include "server/api_util.h"

namespace lattice {
namespace {

constexpr RunState kAllRunStates[] = {RunState::kQueued, RunState::kRunning, RunState::kSucceeded, RunState::kFailed,
                                      RunState::kCancelled};

bool Contains(const std::string& haystack, const std::string& lowered_needle) {
  return AsciiLower(haystack).find(lowered_needle) != std::string::npos;
}

}  // namespace

Result<RunQuery> ParseRunQuery(const std::map<std::string, std::string>& query) {
  RunQuery q;
  if (auto it = query.find("limit"); it != query.end()) {
    LATTICE_ASSIGN_OR_RETURN(size_t limit, ParseQueryNumber<size_t>("limit", it->second, 1, 10'000));
    q.limit = limit;
  }
  if (auto it = query.find("offset"); it != query.end()) {
    LATTICE_ASSIGN_OR_RETURN(q.offset, ParseQueryNumber<size_t>("offset", it->second, 0, SIZE_MAX / 2));
  }
  if (auto it = query.find("order"); it != query.end()) {
    if (it->second == "newest") q.newest_first = true;
    else if (it->second != "oldest")
      return Error(ErrorCode::kInvalidArgument,
                   "query parameter 'order' must be 'oldest' or 'newest', got '" + it->second.substr(0, 40) + "'",
                   "order");
  }
  if (auto it = query.find("state"); it != query.end()) {
    size_t start = 0;
    const std::string& list = it->second;
    do {
      size_t comma = list.find(',', start);
      std::string name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      auto known = std::find_if(std::begin(kAllRunStates), std::end(kAllRunStates),
                                [&](RunState s) { return name == ToString(s); });
      if (known == std::end(kAllRunStates))
        return Error(ErrorCode::kInvalidArgument,
                     "query parameter 'state' has '" + name.substr(0, 40) +
                         "'; use queued, running, succeeded, failed or cancelled (comma-separated)",
                     "state");
      q.states.insert(*known);
      start = comma == std::string::npos ? list.size() + 1 : comma + 1;
    } while (start <= list.size());
  }
  if (auto it = query.find("q"); it != query.end()) q.text = AsciiLower(it->second);
  return q;
}

bool RunMatches(const Run& run, const RunQuery& query) {
  if (!query.states.empty() && !query.states.count(RunStateOf(run))) return false;
  if (query.text.empty()) return true;
  return Contains(run.name, query.text) || Contains(run.description, query.text) ||
         Contains(run.spec.script, query.text);
}

RunPage SelectRuns(const std::vector<std::unique_ptr<Run>>& runs, const RunQuery& query) {
  RunPage page;
  const size_t n = runs.size();
  for (size_t i = 0; i < n; ++i) {
    const Run& run = *runs[query.newest_first ? n - 1 - i : i];
    if (!RunMatches(run, query)) continue;
    const size_t position = page.total++;
    if (position < query.offset) continue;
    if (query.limit && page.runs.size() >= *query.limit) continue;  // still counted in total
    page.runs.push_back(&run);
  }
  return page;
}

}  // namespace lattice
