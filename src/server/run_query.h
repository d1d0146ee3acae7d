// GET /api/v1/runs?limit=&offset=&order=&state=&q=: which runs a listing
// shows. Pure: parsing the query and choosing the runs, no I/O.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/types.h"

namespace lattice {

struct RunQuery {
  std::optional<size_t> limit;  // absent: every matching run
  size_t offset = 0;
  bool newest_first = false;
  std::set<RunState> states;  // empty: any state
  std::string text;           // lower-cased; empty: any run
};

// Bad values are kInvalidArgument naming the parameter, e.g. "query
// parameter 'state' has 'done'; use queued, running, succeeded, failed or
// cancelled (comma-separated)".
Result<RunQuery> ParseRunQuery(const std::map<std::string, std::string>& query);

// Whether a run passes the query's filters (state and text).
bool RunMatches(const Run& run, const RunQuery& query);

struct RunPage {
  std::vector<const Run*> runs;  // the page, in the order asked for
  size_t total = 0;              // runs matching the filters, before offset and limit
};

// runs: in submission order (as the controller keeps them).
RunPage SelectRuns(const std::vector<std::unique_ptr<Run>>& runs, const RunQuery& query);

}  // namespace lattice
