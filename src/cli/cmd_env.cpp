// `lattice env list|prune`: the Python environments built on this machine
// (the agent's home, default $LATTICE_HOME/agent), with size and last use.
// Pruning removes what no running attempt holds (agent/env_cache.h).
#include <chrono>
#include <cstdio>
#include <iostream>

#include "agent/env_cache.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/table.h"
#include "common/json.h"
#include "common/units.h"
#include "model/codec.h"

namespace lattice::cli {
namespace {

std::filesystem::path EnvRoot(const GlobalOptions& g, const EnvOptions& o) {
  return (o.agent_home.empty() ? g.home / "agent" : std::filesystem::path(o.agent_home)) / "envs";
}

Json EntryJson(const agent::EnvEntry& e) {
  return Json{{"key", e.key}, {"path", e.path.string()}, {"size_bytes", e.size_bytes},
              {"last_used", IsoTime(e.last_used_ms)}};
}

void PrintEntries(const std::vector<agent::EnvEntry>& entries) {
  Table t({"KEY", "SIZE", "LAST USED", "PATH"});
  for (const auto& e : entries)
    t.Add({e.key.substr(0, 12), HumanBytes(e.size_bytes), IsoTime(e.last_used_ms), e.path.string()});
  std::cout << t.Render();
}

}  // namespace

int EnvListCommand(const GlobalOptions& g, const EnvOptions& o) {
  agent::EnvCache cache(EnvRoot(g, o));
  auto entries = cache.List();
  if (g.json) {
    Json arr = Json::array();
    for (const auto& e : entries) arr.push_back(EntryJson(e));
    std::cout << Json{{"environments", arr}}.dump() << "\n";
    return kExitOk;
  }
  if (entries.empty()) {
    std::cout << "no environments under " << EnvRoot(g, o).string() << "\n";
    return kExitOk;
  }
  PrintEntries(entries);
  return kExitOk;
}

int EnvPruneCommand(const GlobalOptions& g, const EnvOptions& o) {
  int64_t before = INT64_MAX;
  if (!o.older_than.empty()) {
    auto ms = ParseDurationMs(o.older_than);
    if (!ms.ok()) return Fail(ms.error().Wrap("--older-than"));
    before = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count() -
             *ms;
  }
  agent::EnvCache cache(EnvRoot(g, o));
  auto removed = cache.Prune(before);
  if (!removed.ok()) return Fail(removed.error());
  uint64_t bytes = 0;
  for (const auto& e : *removed) bytes += e.size_bytes;
  if (g.json) {
    Json arr = Json::array();
    for (const auto& e : *removed) arr.push_back(EntryJson(e));
    std::cout << Json{{"removed", arr}, {"freed_bytes", bytes}}.dump() << "\n";
    return kExitOk;
  }
  if (!removed->empty()) PrintEntries(*removed);
  std::cout << "removed " << removed->size() << " environment" << (removed->size() == 1 ? "" : "s") << ", freed "
            << HumanBytes(bytes) << "; environments in use were kept\n";
  return kExitOk;
}

}  // namespace lattice::cli
