// libFuzzer entry point for the request-body parsers of the API and the agent
// protocol: ParseJson, then ParseSubmitRequest, ParseNodeRegistration,
// ParseAttemptReports and ParseAgentWork on the same document. Named .cc so
// the layer's *.cpp glob leaves it out of the library; built as
// fuzz_submit_request with -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// Nothing is caught here: an exception escaping a parser aborts the run and
// counts as a crash. What a parser accepts must survive a round trip through
// its printer and JSON text unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/json.h"
#include "model/agent_protocol.h"
#include "model/codec.h"

namespace {

using lattice::Json;
using lattice::Result;

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

// Printing `json` as text and parsing it back gives the same document.
Json ThroughText(const Json& json) {
  Result<Json> back = lattice::ParseJson(json.dump());
  Check(back.ok());
  return *back;
}

// `to_json(*parse(doc))` parses again to the same value: nothing accepted is
// lost or changed by the printer.
template <typename ParseFn, typename ToJsonFn>
void RoundTrip(const Json& doc, ParseFn parse, ToJsonFn to_json) {
  auto first = parse(doc);
  if (!first.ok()) {
    Check(!first.error().message.empty());
    return;
  }
  const Json printed = to_json(*first);
  auto second = parse(ThroughText(printed));
  Check(second.ok());
  Check(to_json(*second) == printed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Result<Json> doc = lattice::ParseJson(text);
  if (!doc.ok()) return 0;

  RoundTrip(*doc, lattice::ParseSubmitRequest, [](const lattice::SubmitRequest& r) {
    Json j = lattice::SpecToJson(r.spec);
    j["name"] = r.name;
    j["description"] = r.description;
    return j;
  });
  RoundTrip(*doc, lattice::ParseNodeRegistration,
            [](const lattice::NodeRegistration& r) { return lattice::ToJson(r); });
  RoundTrip(*doc, lattice::ParseAttemptReports,
            [](const std::vector<lattice::AttemptReport>& r) { return lattice::ToJson(r); });
  RoundTrip(*doc, lattice::ParseAgentWork,
            [](const lattice::AgentWork& w) { return lattice::ToJson(w); });

  // The store's form of a spec.
  RoundTrip(*doc, lattice::SpecFromJson,
            [](const lattice::RunSpec& s) { return lattice::SpecToJson(s); });
  return 0;
}
