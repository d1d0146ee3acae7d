#include "cli/metrics_table.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>

namespace lattice::cli {
namespace {

const Json& Field(const Json& object, const char* key) {
  static const Json kNull;
  if (!object.is_object()) return kNull;
  auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

const Json& Experiments(const Json& doc) {
  static const Json kEmpty = Json::array();
  const Json& e = Field(doc, "experiments");
  return e.is_array() ? e : kEmpty;
}

std::string Text(const Json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>().empty() ? "-" : Printable(value.get<std::string>());
  return Printable(value.dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string Upper(const std::string& s) {
  std::string out;
  for (char c : s) out.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return out;
}

constexpr MetricStat kStats[] = {MetricStat::kLast, MetricStat::kMin, MetricStat::kMax};

}  // namespace

std::string Printable(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

const char* MetricStatName(MetricStat stat) {
  switch (stat) {
    case MetricStat::kLast: return "last";
    case MetricStat::kMin: return "min";
    case MetricStat::kMax: return "max";
  }
  return "last";
}

Result<MetricSort> ParseMetricSort(std::string_view text, bool descending) {
  MetricSort sort;
  sort.descending = descending;
  sort.key = std::string(text);
  size_t colon = text.rfind(':');
  if (colon != std::string_view::npos) {
    std::string_view suffix = text.substr(colon + 1);
    for (MetricStat stat : kStats) {
      if (suffix == MetricStatName(stat)) {
        sort.stat = stat;
        sort.key = std::string(text.substr(0, colon));
        break;
      }
    }
  }
  if (sort.key.empty())
    return Error(ErrorCode::kInvalidArgument,
                 "--sort expects KEY, KEY:last, KEY:min or KEY:max, got '" + std::string(text) + "'");
  return sort;
}

std::optional<double> MetricNumber(const Json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (s == "Infinity") return std::numeric_limits<double>::infinity();
    if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
  }
  return std::nullopt;
}

std::string FormatMetricNumber(std::optional<double> value) {
  if (!value) return "-";
  double v = *value;
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  if (v == 0) return "0";  // not "-0"
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string FormatMetricNumber(const Json& value) { return FormatMetricNumber(MetricNumber(value)); }

std::vector<std::string> MetricKeys(const Json& doc) {
  std::set<std::string> keys;
  for (const auto& e : Experiments(doc)) {
    const Json& metrics = Field(e, "metrics");
    if (!metrics.is_object()) continue;
    for (auto it = metrics.begin(); it != metrics.end(); ++it) keys.insert(it.key());
  }
  return {keys.begin(), keys.end()};
}

Status CheckMetricKeys(const std::vector<std::string>& wanted, const std::vector<std::string>& existing,
                       const std::string& run) {
  for (const auto& key : wanted) {
    if (std::find(existing.begin(), existing.end(), key) != existing.end()) continue;
    std::string list;
    for (const auto& k : existing) list += (list.empty() ? "" : ", ") + Printable(k);
    return Error(ErrorCode::kInvalidArgument,
                 "no experiment of " + run + " has a metric '" + Printable(key) + "'; " +
                     (existing.empty() ? "none has recorded metrics yet" : "its metrics are: " + list));
  }
  return OkStatus();
}

std::optional<double> SortValue(const Json& experiment, const MetricSort& sort) {
  const Json& summary = Field(Field(experiment, "metrics"), sort.key.c_str());
  auto v = MetricNumber(Field(summary, MetricStatName(sort.stat)));
  if (!v || std::isnan(*v)) return std::nullopt;
  return v;
}

void SortExperiments(Json& doc, const MetricSort& sort) {
  if (!doc.is_object() || !doc.contains("experiments") || !doc["experiments"].is_array()) return;
  Json& exps = doc["experiments"];
  std::vector<std::pair<std::optional<double>, Json>> keyed;
  keyed.reserve(exps.size());
  for (auto& e : exps) keyed.emplace_back(SortValue(e, sort), std::move(e));
  std::stable_sort(keyed.begin(), keyed.end(), [&](const auto& a, const auto& b) {
    if (!a.first || !b.first) return a.first.has_value() && !b.first.has_value();
    return sort.descending ? *a.first > *b.first : *a.first < *b.first;
  });
  Json sorted = Json::array();
  for (auto& [value, e] : keyed) sorted.push_back(std::move(e));
  exps = std::move(sorted);
}

MetricsTableLayout BuildMetricsTable(const Json& doc, const std::vector<std::string>& keys,
                                     const std::vector<std::string>& param_order) {
  const Json& exps = Experiments(doc);
  // Parameters: the run's order first, then any others the document has.
  std::vector<std::string> params;
  auto add_param = [&](const std::string& p) {
    if (std::find(params.begin(), params.end(), p) == params.end()) params.push_back(p);
  };
  std::set<std::string> present;
  for (const auto& e : exps) {
    const Json& ps = Field(e, "params");
    if (ps.is_object())
      for (auto it = ps.begin(); it != ps.end(); ++it) present.insert(it.key());
  }
  for (const auto& p : param_order)
    if (present.count(p)) add_param(p);
  for (const auto& p : present) add_param(p);

  std::vector<std::string> shown = keys.empty() ? MetricKeys(doc) : keys;
  const bool last_only = keys.empty() && shown.size() > kMaxFullKeys;

  MetricsTableLayout out;
  out.header = {"EXP", "STATE"};
  for (const auto& p : params) out.header.push_back(Upper(Printable(p)));
  for (const auto& k : shown) {
    if (last_only) {
      out.header.push_back(Printable(k));
      continue;
    }
    for (MetricStat stat : kStats) out.header.push_back(Printable(k) + ":" + MetricStatName(stat));
  }
  for (const auto& e : exps) {
    std::vector<std::string> row{Text(Field(e, "experiment")), Text(Field(e, "state"))};
    const Json& ps = Field(e, "params");
    for (const auto& p : params) row.push_back(Text(Field(ps, p.c_str())));
    const Json& metrics = Field(e, "metrics");
    for (const auto& k : shown) {
      const Json& summary = Field(metrics, k.c_str());
      if (last_only) {
        row.push_back(FormatMetricNumber(Field(summary, "last")));
        continue;
      }
      for (MetricStat stat : kStats) row.push_back(FormatMetricNumber(Field(summary, MetricStatName(stat))));
    }
    out.rows.push_back(std::move(row));
  }
  if (last_only)
    out.footer = "last values of " + std::to_string(shown.size()) +
                 " metrics; --key KEY (repeatable) shows min and max too\n";
  else if (shown.empty())
    out.footer = "no metrics recorded yet\n";
  return out;
}

}  // namespace lattice::cli
