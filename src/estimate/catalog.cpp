#include "estimate/catalog.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "common/fs.h"
#include "common/text.h"
#include "common/units.h"
#include "estimate/suggest.h"

namespace lattice::estimate {
namespace {

constexpr size_t kMaxInstances = 10'000;
constexpr size_t kMaxCatalogBytes = 16u << 20;
constexpr uint64_t kGiB = 1ull << 30;

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

bool IsName(const std::string& s, size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), IsNameChar);
}

// Reads one YAML mapping field by field; every error names where it is
// ("instances[12] (g5.xlarge): gpu_memory ...") and its line.
class FieldReader {
 public:
  FieldReader(YAML::Node node, std::string where, const std::string& origin)
      : node_(std::move(node)), where_(std::move(where)), origin_(origin) {}

  Error Bad(const std::string& what, const YAML::Node& at) const {
    const int line = at.Mark().line >= 0 ? at.Mark().line + 1 : 0;
    return Error(ErrorCode::kInvalidArgument,
                 origin_ + ": " + where_ + (where_.empty() ? "" : ": ") + what +
                     (line ? " (line " + std::to_string(line) + ")" : ""),
                 "catalog");
  }
  Error Bad(const std::string& what) const { return Bad(what, node_); }

  // Unknown keys are refused: a misspelt field must not be silently ignored.
  Status OnlyKeys(std::initializer_list<const char*> allowed) const {
    if (!node_.IsMap()) return Bad("must be a mapping of fields");
    for (const auto& kv : node_) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      if (std::none_of(allowed.begin(), allowed.end(), [&](const char* k) { return key == k; })) {
        std::string list;
        for (const char* k : allowed) list += (list.empty() ? "" : ", ") + std::string(k);
        return Bad("unknown field '" + key.substr(0, 64) + "' (fields: " + list + ")", kv.first);
      }
    }
    return OkStatus();
  }

  bool Has(const char* key) const { return node_[key].IsDefined() && !node_[key].IsNull(); }

  Result<std::string> String(const char* key) const {
    const YAML::Node v = node_[key];
    if (!v.IsDefined() || v.IsNull()) return Bad(std::string(key) + " is missing");
    if (!v.IsScalar() || v.Scalar().empty()) return Bad(std::string(key) + " must be a non-empty string", v);
    return v.Scalar();
  }

  Result<int> Integer(const char* key, int min, int max) const {
    LATTICE_ASSIGN_OR_RETURN(std::string text, String(key));
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max)
      return Bad(std::string(key) + " '" + text.substr(0, 32) + "' must be a whole number from " +
                     std::to_string(min) + " to " + std::to_string(max),
                 node_[key]);
    return value;
  }

  Result<double> Price(const char* key) const {
    LATTICE_ASSIGN_OR_RETURN(std::string text, String(key));
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value <= 0 ||
        value > 100'000)
      return Bad(std::string(key) + " '" + text.substr(0, 32) +
                     "' must be a price in USD per hour, a number above 0 like 1.006",
                 node_[key]);
    return value;
  }

  // A size with its unit: "24G" (GiB), "1152G".
  Result<uint64_t> Size(const char* key, uint64_t min, uint64_t max) const {
    LATTICE_ASSIGN_OR_RETURN(std::string text, String(key));
    if (text.find_first_not_of("0123456789.") == std::string::npos)
      return Bad(std::string(key) + " '" + text.substr(0, 32) + "' needs a unit like 24G", node_[key]);
    auto bytes = ParseBytes(text);
    if (!bytes.ok() || *bytes < min || *bytes > max)
      return Bad(std::string(key) + " '" + text.substr(0, 32) + "' must be a size from " + HumanBytes(min) +
                     " to " + HumanBytes(max) + ", like 24G",
                 node_[key]);
    return *bytes;
  }

  const YAML::Node& node() const { return node_; }

 private:
  const YAML::Node node_;  // a handle: copies share the document
  std::string where_;
  const std::string& origin_;
};

bool IsDate(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9})
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  const int month = std::stoi(s.substr(5, 2)), day = std::stoi(s.substr(8, 2));
  return month >= 1 && month <= 12 && day >= 1 && day <= 31;
}

Result<RegionPrice> ParsePrice(const YAML::Node& node, const std::string& where, const std::string& origin) {
  FieldReader r(node, where, origin);
  LATTICE_RETURN_IF_ERROR(r.OnlyKeys({"region", "on_demand", "spot"}));
  RegionPrice p;
  LATTICE_ASSIGN_OR_RETURN(p.region, r.String("region"));
  if (!IsName(p.region, 64))
    return r.Bad("region '" + p.region.substr(0, 64) + "' must be letters, digits, '-', '_' or '.'");
  LATTICE_ASSIGN_OR_RETURN(p.on_demand, r.Price("on_demand"));
  if (r.Has("spot")) {
    LATTICE_ASSIGN_OR_RETURN(double spot, r.Price("spot"));
    if (spot > p.on_demand)
      return r.Bad("spot " + node["spot"].Scalar() + " is above on_demand " + node["on_demand"].Scalar() +
                   " (spot capacity is sold at a discount; is it a typo?)");
    p.spot = spot;
  }
  return p;
}

Result<InstanceSpec> ParseInstance(const YAML::Node& node, size_t index, const std::string& origin) {
  std::string where = "instances[" + std::to_string(index) + "]";
  if (node.IsMap() && node["name"].IsDefined() && node["name"].IsScalar()) where += " (" + node["name"].Scalar().substr(0, 64) + ")";
  FieldReader r(node, where, origin);
  LATTICE_RETURN_IF_ERROR(r.OnlyKeys({"name", "provider", "gpu", "gpus", "gpu_memory", "vcpus", "memory", "prices"}));
  InstanceSpec s;
  LATTICE_ASSIGN_OR_RETURN(s.name, r.String("name"));
  if (!IsName(s.name, 64)) return r.Bad("name must be 1 to 64 letters, digits, '.', '_' or '-'");
  LATTICE_ASSIGN_OR_RETURN(s.provider, r.String("provider"));
  if (!IsName(s.provider, 32) || AsciiLower(s.provider) != s.provider)
    return r.Bad("provider '" + s.provider.substr(0, 32) + "' must be a lowercase word like aws");
  LATTICE_ASSIGN_OR_RETURN(s.gpus, r.Integer("gpus", 0, 64));
  if (s.gpus > 0) {
    LATTICE_ASSIGN_OR_RETURN(s.gpu_model, r.String("gpu"));
    if (!IsName(s.gpu_model, 32)) return r.Bad("gpu '" + s.gpu_model.substr(0, 32) + "' must be a model like A10G");
    LATTICE_ASSIGN_OR_RETURN(s.gpu_memory_bytes, r.Size("gpu_memory", kGiB, 1024 * kGiB));
  } else if (r.Has("gpu") || r.Has("gpu_memory")) {
    return r.Bad("has gpu or gpu_memory but gpus: 0 (a CPU-only machine has neither)");
  }
  LATTICE_ASSIGN_OR_RETURN(s.vcpus, r.Integer("vcpus", 1, 4096));
  LATTICE_ASSIGN_OR_RETURN(s.memory_bytes, r.Size("memory", kGiB, 64 * 1024 * kGiB));
  const YAML::Node prices = node["prices"];
  if (!prices.IsDefined() || !prices.IsSequence() || prices.size() == 0)
    return r.Bad("prices must be a list of {region, on_demand, spot}, at least one");
  std::set<std::string> regions;
  for (size_t i = 0; i < prices.size(); ++i) {
    LATTICE_ASSIGN_OR_RETURN(RegionPrice p,
                             ParsePrice(prices[i], where + ": prices[" + std::to_string(i) + "]", origin));
    if (!regions.insert(AsciiLower(p.region)).second) return r.Bad("region " + p.region + " is priced twice", prices[i]);
    s.prices.push_back(std::move(p));
  }
  return s;
}

Result<Catalog> ParseDocument(const YAML::Node& root, const std::string& origin) {
  FieldReader top(root, "", origin);
  if (!root.IsMap()) return top.Bad("must be a mapping with as_of, currency, sources and instances");
  LATTICE_RETURN_IF_ERROR(top.OnlyKeys({"as_of", "currency", "sources", "instances"}));
  Catalog c;
  c.origin = origin;
  LATTICE_ASSIGN_OR_RETURN(c.as_of, top.String("as_of"));
  if (!IsDate(c.as_of)) return top.Bad("as_of '" + c.as_of.substr(0, 32) + "' must be a date like 2026-11-26");
  LATTICE_ASSIGN_OR_RETURN(c.currency, top.String("currency"));
  if (c.currency != "USD") return top.Bad("currency '" + c.currency.substr(0, 16) + "' must be USD");

  const YAML::Node sources = root["sources"];
  if (!sources.IsDefined() || !sources.IsSequence() || sources.size() == 0)
    return top.Bad("sources must be a list of {provider, url, note}: where the prices come from");
  std::set<std::string> providers;
  for (size_t i = 0; i < sources.size(); ++i) {
    FieldReader r(sources[i], "sources[" + std::to_string(i) + "]", origin);
    LATTICE_RETURN_IF_ERROR(r.OnlyKeys({"provider", "url", "note"}));
    CatalogSource s;
    LATTICE_ASSIGN_OR_RETURN(s.provider, r.String("provider"));
    LATTICE_ASSIGN_OR_RETURN(s.url, r.String("url"));
    LATTICE_ASSIGN_OR_RETURN(s.note, r.String("note"));
    if (s.url.rfind("https://", 0) != 0 && s.url.rfind("http://", 0) != 0)
      return r.Bad("url '" + s.url.substr(0, 64) + "' must start with https://");
    providers.insert(s.provider);
    c.sources.push_back(std::move(s));
  }

  const YAML::Node instances = root["instances"];
  if (!instances.IsDefined() || !instances.IsSequence() || instances.size() == 0) return top.Bad("instances must be a list, at least one");
  if (instances.size() > kMaxInstances)
    return top.Bad("has " + std::to_string(instances.size()) + " instances, more than " +
                   std::to_string(kMaxInstances));
  std::map<std::string, size_t> seen;  // lowercase name -> index
  for (size_t i = 0; i < instances.size(); ++i) {
    LATTICE_ASSIGN_OR_RETURN(InstanceSpec s, ParseInstance(instances[i], i, origin));
    FieldReader r(instances[i], "instances[" + std::to_string(i) + "] (" + s.name + ")", origin);
    if (!providers.count(s.provider))
      return r.Bad("provider " + s.provider + " has no entry under sources (say where its prices come from)");
    auto [it, fresh] = seen.emplace(AsciiLower(s.name), i);
    if (!fresh) return r.Bad("the name is already used by instances[" + std::to_string(it->second) + "]");
    c.instances.push_back(std::move(s));
  }
  return c;
}

Result<Catalog> LoadActive() {
  const char* path = std::getenv("LATTICE_CATALOG");
  if (!path || !*path) return ParseCatalog(BuiltinCatalogYaml(), "catalog");
  const std::string origin = std::string("catalog ") + path + " (LATTICE_CATALOG)";
  auto text = fs::ReadFile(path);
  if (!text.ok()) return std::move(text).error().Wrap(origin);
  LATTICE_ASSIGN_OR_RETURN(Catalog catalog, ParseCatalog(*text, origin));
  catalog.file = path;
  return catalog;
}

}  // namespace

std::optional<double> InstanceSpec::OnDemandPerHour(std::string_view region) const {
  std::optional<double> best;
  for (const RegionPrice& p : prices) {
    if (!region.empty() && AsciiLower(p.region) != AsciiLower(region)) continue;
    if (!best || p.on_demand < *best) best = p.on_demand;
  }
  return best;
}

std::optional<double> InstanceSpec::SpotPerHour(std::string_view region) const {
  std::optional<double> best;
  for (const RegionPrice& p : prices) {
    if (!p.spot || (!region.empty() && AsciiLower(p.region) != AsciiLower(region))) continue;
    if (!best || *p.spot < *best) best = p.spot;
  }
  return best;
}

const InstanceSpec* Catalog::Find(std::string_view name) const {
  const std::string wanted = AsciiLower(name);
  for (const InstanceSpec& s : instances)
    if (AsciiLower(s.name) == wanted) return &s;
  return nullptr;
}

Result<const InstanceSpec*> Catalog::Lookup(const std::string& name) const {
  if (const InstanceSpec* s = Find(name)) return s;
  std::vector<std::string> names;
  for (const InstanceSpec& s : instances) names.push_back(s.name);
  std::string hint = DidYouMean(ClosestNames(name, names));
  return Error(ErrorCode::kNotFound,
               "'" + name.substr(0, 64) + "' is not in the instance catalog" + (hint.empty() ? "" : ": " + hint) +
                   " (lattice instances lists them)",
               "instance_type");
}

std::vector<std::string> Catalog::GpuModels() const {
  std::set<std::string> models;
  for (const InstanceSpec& s : instances)
    if (!s.gpu_model.empty()) models.insert(s.gpu_model);
  return {models.begin(), models.end()};
}

Result<Catalog> ParseCatalog(std::string_view yaml, const std::string& origin) {
  if (yaml.size() > kMaxCatalogBytes)
    return Error(ErrorCode::kInvalidArgument,
                 origin + ": " + std::to_string(yaml.size()) + " bytes is more than a catalog may hold (16 MiB)",
                 "catalog");
  // yaml-cpp throws on syntax errors, on nesting past its depth limit, and on
  // any use of a missing key's node that the checks above did not guard.
  try {
    return ParseDocument(YAML::Load(std::string(yaml)), origin);
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument, origin + ": not valid YAML: " + e.what(), "catalog");
  }
}

Result<const Catalog*> ActiveCatalog() {
  static const Result<Catalog> catalog = LoadActive();
  if (!catalog.ok()) return catalog.error();
  return &catalog.value();
}

}  // namespace lattice::estimate
