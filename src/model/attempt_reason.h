// How an attempt ended, in words for people: recorded with the attempt when
// it ends (Attempt::reason) and shown in its experiment's attempt list.
#pragma once

#include <optional>
#include <string>

#include "model/types.h"

namespace lattice {

// state: the attempt's end state. exit_code: what its process exited with
// (128+N for a signal N, as the agent reports it). detail: the agent's or
// the server's own words, if any: why it could not start, why it was lost
// ("node n3 stopped responding"), which rank of a gang failed.
//   succeeded            -> "exited with code 0"
//   failed, no detail    -> "exited with code 1" ("failed" without a code)
//   failed, detail       -> the detail, with the code when known
//   cancelled            -> "cancelled"
//   lost                 -> "lost: <detail>" ("lost" without one)
// A state that has not ended gives "".
std::string AttemptEndReason(AttemptState state, const std::optional<int>& exit_code, const std::string& detail);

}  // namespace lattice
