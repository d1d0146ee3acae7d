// libFuzzer entry point for the cluster model: ParseJson then ParseCluster
// (the body of POST /clusters, and the store's form of a cluster) and
// ParseClusterUpdate (PATCH), and ParseSshHost, ParseSlurmTime and
// ParseUtcTime (the cost report's since) on the raw text. Named .cc so the layer's
// *.cpp glob leaves it out of the library; built as fuzz_cluster with
// -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// Nothing is caught here: an exception escaping a parser aborts the run and
// counts as a crash. A cluster ParseCluster accepts must survive ToJson, JSON
// text and ParseCluster again unchanged (the store keeps it that way).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/json.h"
#include "model/cluster.h"
#include "model/codec.h"
#include "model/cost.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

bool PlainHostChar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);

  // What reaches ssh as its destination is never an option and never a shell word.
  const lattice::Result<lattice::SshHost> host = lattice::ParseSshHost(text, "hosts[0]");
  if (host.ok()) {
    Check(!host->host.empty() && host->host[0] != '-');
    for (unsigned char c : host->host) Check(PlainHostChar(c));
    Check(host->user.empty() || host->user[0] != '-');
    Check(host->port >= 1 && host->port <= 65535);
    const lattice::Result<lattice::SshHost> again = lattice::ParseSshHost(host->ToString(), "hosts[0]");
    Check(again.ok() && again->ToString() == host->ToString());
  } else {
    Check(host.error().field == "hosts[0]");
  }

  const lattice::Result<int64_t> seconds = lattice::ParseSlurmTime(text);
  if (seconds.ok()) Check(*seconds == -1 || *seconds > 0);
  else Check(seconds.error().field == "time_limit");

  // --since and the cost API's since: a moment reads back from its ISO form (to the second).
  const lattice::Result<int64_t> since = lattice::ParseUtcTime(text, "since");
  if (since.ok()) {
    Check(*since >= 0);
    const lattice::Result<int64_t> again = lattice::ParseUtcTime(lattice::IsoTime(*since), "since");
    Check(again.ok() && *again == *since - *since % 1000);
  } else {
    Check(since.error().field == "since");
  }

  const lattice::Result<lattice::Json> doc = lattice::ParseJson(std::string_view(text));
  if (!doc.ok()) return 0;
  // PATCH /clusters/{name}: only the pricing changes, within its bounds.
  lattice::Cluster base;
  base.name = "lab";
  base.backend = "ssh";
  const lattice::Result<lattice::Cluster> updated = lattice::ParseClusterUpdate(*doc, base);
  if (updated.ok()) {
    Check(updated->name == "lab" && updated->backend == "ssh");
    Check(updated->price_per_node_hour >= 0 && updated->price_per_node_hour <= 1e6);
    Check(updated->monthly_budget >= 0 && updated->monthly_budget <= 1e12);
  }
  const lattice::Result<lattice::Cluster> cluster = lattice::ParseCluster(*doc);
  if (!cluster.ok()) {
    Check(!cluster.error().message.empty());
    return 0;
  }
  const lattice::Json printed = lattice::ToJson(*cluster);
  const lattice::Result<lattice::Json> reread = lattice::ParseJson(printed.dump());
  Check(reread.ok());
  const lattice::Result<lattice::Cluster> second = lattice::ParseCluster(*reread);
  Check(second.ok());
  Check(lattice::ToJson(*second) == printed);
  // sbatch and ssh get these as single arguments: never an option.
  for (const std::string* v : {&cluster->partition, &cluster->account, &cluster->qos, &cluster->time_limit})
    Check(v->empty() || (*v)[0] != '-');
  return 0;
}
