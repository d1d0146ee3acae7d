#include "model/cost.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string_view>

namespace lattice {

double NodeShare(double cpus_asked, int gpus_held, const Node& node) {
  double share = 1;
  if (gpus_held > 0 && !node.gpus.empty())
    share = static_cast<double>(gpus_held) / static_cast<double>(node.gpus.size());
  else if (node.cpus > 0) share = cpus_asked / node.cpus;
  return std::clamp(share, 0.0, 1.0);
}

double AttemptHours(const Attempt& a, int64_t now_ms, int64_t from_ms) {
  if (a.started_at_ms <= 0) return 0;
  int64_t begin = std::max(a.started_at_ms, from_ms);
  int64_t end = a.ended_at_ms > 0 ? a.ended_at_ms : now_ms;
  return end > begin ? static_cast<double>(end - begin) / 3'600'000.0 : 0;
}

DurationSummary SummarizeDurations(std::vector<int64_t> ms) {
  DurationSummary s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  s.count = ms.size();
  s.median_ms = ms[ms.size() / 2];
  s.p90_ms = ms[std::min(ms.size() - 1, ms.size() * 9 / 10)];
  s.max_ms = ms.back();
  return s;
}

int64_t MonthStartMs(int64_t ms) {
  using namespace std::chrono;
  const sys_days day = floor<days>(sys_time<milliseconds>(milliseconds(ms)));
  const year_month_day ymd(day);
  const sys_days first(ymd.year() / ymd.month() / 1);
  return duration_cast<milliseconds>(first.time_since_epoch()).count();
}

std::string MonthName(int64_t ms) {
  using namespace std::chrono;
  const year_month_day ymd(floor<days>(sys_time<milliseconds>(milliseconds(ms))));
  char out[16];
  std::snprintf(out, sizeof out, "%04d-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()));
  return out;
}

Result<int64_t> ParseUtcTime(const std::string& text, const std::string& field) {
  using namespace std::chrono;
  auto bad = [&] {
    return Error(ErrorCode::kInvalidArgument,
                 field + " '" + text.substr(0, 40) + "' is not a UTC date like 2026-11-01 or 2026-11-01T12:30:00Z",
                 field);
  };
  // Fixed-width digits at `at`; false if any is not a digit.
  auto digits = [&](size_t at, size_t n, int* out) {
    if (at + n > text.size()) return false;
    *out = 0;
    for (size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      *out = *out * 10 + (text[i] - '0');
    }
    return true;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(0, 4, &y) || text.size() < 10 || text[4] != '-' || !digits(5, 2, &mo) || text[7] != '-' ||
      !digits(8, 2, &d))
    return bad();
  const year_month_day ymd{year(y), month(static_cast<unsigned>(mo)), day(static_cast<unsigned>(d))};
  if (!ymd.ok() || y < 1970) return bad();
  int64_t ms = duration_cast<milliseconds>(sys_days(ymd).time_since_epoch()).count();
  if (text.size() == 10) return ms;
  if (text.size() < 17 || text[10] != 'T' || !digits(11, 2, &h) || text[13] != ':' || !digits(14, 2, &mi) ||
      h > 23 || mi > 59)
    return bad();
  size_t at = 16;
  if (at < text.size() && text[at] == ':') {
    if (!digits(at + 1, 2, &sec) || sec > 59) return bad();
    at += 3;
    if (at < text.size() && text[at] == '.') {
      size_t end = at + 1;
      while (end < text.size() && end - at <= 9 && text[end] >= '0' && text[end] <= '9') ++end;
      if (end == at + 1) return bad();
      at = end;
    }
  }
  if (at + 1 != text.size() || text[at] != 'Z') return bad();
  return ms + (h * 3600LL + mi * 60LL + sec) * 1000;
}

std::string FormatMoney(double amount) {
  if (!std::isfinite(amount)) return "$?";
  const bool negative = amount < 0;
  amount = std::fabs(amount);
  char digits[64];
  // Below a cent, two decimals would say $0.00 for a running experiment's first minutes.
  if (amount > 0 && amount < 0.01) std::snprintf(digits, sizeof digits, "%.4f", amount);
  else std::snprintf(digits, sizeof digits, "%.2f", amount);
  const std::string_view text = digits;
  const size_t whole = text.find('.');
  std::string out = negative ? "-$" : "$";
  for (size_t i = 0; i < whole; ++i) {
    if (i > 0 && (whole - i) % 3 == 0) out.push_back(',');
    out.push_back(text[i]);
  }
  out.append(text.substr(whole));
  return out;
}

}  // namespace lattice
