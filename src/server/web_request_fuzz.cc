// libFuzzer entry point for what the server reads from a browser's requests
// besides JSON: the web UI's path resolution and the run listing's query.
// Named .cc so the layer's *.cpp glob leaves it out of the library; built as
// fuzz_web_request with -DLATTICE_FUZZ=ON (see scripts/fuzz.sh).
//
// The input is NUL-separated fields: a decoded request path, an
// If-None-Match header, then key/value pairs of a query string. Beyond "no
// crash", it checks that an accepted path stays inside the UI directory (no
// "." or ".." segment, no leading '/', no backslash or control character),
// that an ETag always matches itself and "*", and that a page of runs never
// holds more than its limit nor more than the runs that match.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/types.h"
#include "server/run_query.h"
#include "server/web_ui.h"

namespace {

void Check(bool invariant) {
  if (!invariant) __builtin_trap();
}

std::vector<std::string> Fields(const uint8_t* data, size_t size) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0) out.emplace_back();
    else out.back().push_back(static_cast<char>(data[i]));
  }
  return out;
}

void CheckPath(const std::string& path) {
  auto rel = lattice::WebRelativePath(path);
  if (!rel.ok()) {
    Check(!rel.error().message.empty());
    return;
  }
  const std::string& r = *rel;
  Check(r.empty() || r.front() != '/');
  for (unsigned char c : r) Check(c >= 0x20 && c != 0x7f && c != '\\');
  size_t start = 0;
  while (start <= r.size()) {
    size_t end = r.find('/', start);
    if (end == std::string::npos) end = r.size();
    std::string_view segment(r.data() + start, end - start);
    Check(segment != "." && segment != "..");
    start = end + 1;
  }
  (void)lattice::IsClientRoute(r);
  Check(!lattice::ContentTypeFor(r).empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string> f = Fields(data, size);
  CheckPath(f[0]);

  const std::string etag = lattice::WebETag(size, static_cast<int64_t>(f[0].size()) * 1'000'003);
  Check(lattice::ETagMatches(etag, etag));
  Check(lattice::ETagMatches("*", etag));
  if (f.size() > 1) (void)lattice::ETagMatches(f[1], etag);

  std::map<std::string, std::string> query;
  for (size_t i = 2; i + 1 < f.size(); i += 2) query[f[i]] = f[i + 1];
  auto q = lattice::ParseRunQuery(query);
  if (!q.ok()) {
    Check(!q.error().message.empty());
    return 0;
  }
  std::vector<std::unique_ptr<lattice::Run>> runs;
  for (int i = 0; i < 5; ++i) {
    auto run = std::make_unique<lattice::Run>();
    run->name = "run-" + std::to_string(i);
    run->description = i % 2 ? "ResNet sweep" : "";
    run->spec.script = "train.py";
    run->experiments.resize(static_cast<size_t>(i));
    runs.push_back(std::move(run));
  }
  const lattice::RunPage page = lattice::SelectRuns(runs, *q);
  Check(page.total <= runs.size());
  Check(page.runs.size() <= page.total);
  if (q->limit) Check(page.runs.size() <= *q->limit);
  return 0;
}
