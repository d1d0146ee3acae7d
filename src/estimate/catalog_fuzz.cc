// Fuzzes the instance catalog parser: any bytes give a catalog or an error,
// never a crash or a hang. An accepted catalog keeps the parser's promises:
// unique names, positive prices, spot at most on-demand, and lookups and
// suggestions over it work.
#include <cassert>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "estimate/catalog.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto catalog = lattice::estimate::ParseCatalog(text, "catalog");
  if (!catalog.ok()) {
    assert(catalog.error().message.rfind("catalog", 0) == 0);
    return 0;
  }
  assert(!catalog->as_of.empty() && !catalog->sources.empty() && !catalog->instances.empty());
  std::set<std::string> names;
  for (const auto& s : catalog->instances) {
    std::string lower = s.name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    assert(names.insert(lower).second);
    assert(!s.prices.empty());
    for (const auto& p : s.prices) {
      assert(p.on_demand > 0);
      assert(!p.spot || (*p.spot > 0 && *p.spot <= p.on_demand));
    }
    assert(catalog->Find(s.name) == &s);
    assert(s.OnDemandPerHour().has_value());
  }
  (void)catalog->Lookup(std::string(text.substr(0, 40)));
  (void)catalog->GpuModels();
  return 0;
}
