#include "metrics/downsample.h"

#include <cmath>

namespace lattice::metrics {

int Extremes::Kept(uint64_t out[2]) const {
  uint64_t a = kNone, b = kNone;
  if (first_nan != kNone) {
    a = first_nan;
    b = max_index;
  } else {
    a = min_index;
    b = max_index;
  }
  if (a == kNone) a = b, b = kNone;
  if (b == kNone || a == b) {
    if (a == kNone) return 0;
    out[0] = a;
    return 1;
  }
  out[0] = a < b ? a : b;
  out[1] = a < b ? b : a;
  return 2;
}

std::vector<uint64_t> MinMaxBucketStarts(uint64_t n, size_t max_points) {
  std::vector<uint64_t> starts;
  const uint64_t k = (max_points - 2) / 2;  // middle buckets
  starts.reserve(k + 3);
  starts.push_back(0);
  const uint64_t m = n - 2, q = m / k, r = m % k;
  for (uint64_t j = 0; j < k; ++j) starts.push_back(1 + j * q + (j * r) / k);
  starts.push_back(n - 1);
  starts.push_back(n);
  return starts;
}

std::vector<Point> DownsampleMinMax(std::span<const Point> pts, size_t max_points) {
  const size_t n = pts.size();
  if (n <= max_points) return {pts.begin(), pts.end()};
  if (max_points == 0) return {};
  if (max_points == 1) return {pts.back()};
  if (max_points < 4) return {pts.front(), pts.back()};
  const std::vector<uint64_t> starts = MinMaxBucketStarts(n, max_points);
  std::vector<Point> out;
  out.reserve(max_points);
  for (size_t b = 0; b + 1 < starts.size(); ++b) {
    Extremes e;
    for (uint64_t i = starts[b]; i < starts[b + 1]; ++i) e.Add(i, pts[i].value);
    uint64_t kept[2];
    const int k = e.Kept(kept);
    for (int i = 0; i < k; ++i) out.push_back(pts[kept[i]]);
  }
  return out;
}

std::vector<Point> DownsampleLttb(std::span<const Point> pts, size_t max_points) {
  const size_t n = pts.size();
  if (n <= max_points) return {pts.begin(), pts.end()};
  if (max_points == 0) return {};
  if (max_points == 1) return {pts.back()};
  if (max_points == 2) return {pts.front(), pts.back()};
  const size_t buckets = max_points - 2, m = n - 2;
  auto start = [&](size_t j) { return 1 + j * (m / buckets) + (j * (m % buckets)) / buckets; };
  std::vector<Point> out;
  out.reserve(max_points);
  out.push_back(pts.front());
  // The triangle anchor: the last kept point with a finite value (if any).
  bool have_anchor = std::isfinite(pts.front().value);
  double ax = static_cast<double>(pts.front().step), ay = pts.front().value;
  for (size_t j = 0; j < buckets; ++j) {
    const size_t lo = start(j), hi = start(j + 1);
    // The next bucket's average of finite points (the last point for the last bucket).
    const size_t nlo = hi, nhi = j + 1 < buckets ? start(j + 2) : n;
    double sx = 0, sy = 0;
    size_t cnt = 0;
    for (size_t i = nlo; i < nhi; ++i) {
      if (!std::isfinite(pts[i].value)) continue;
      sx += static_cast<double>(pts[i].step);
      sy += pts[i].value;
      ++cnt;
    }
    size_t pick = lo;
    size_t non_finite = SIZE_MAX;
    for (size_t i = lo; i < hi; ++i)
      if (!std::isfinite(pts[i].value)) {
        non_finite = i;
        break;
      }
    if (non_finite != SIZE_MAX) {
      pick = non_finite;
    } else {
      double cx, cy;
      if (cnt != 0) {
        cx = sx / static_cast<double>(cnt);
        cy = sy / static_cast<double>(cnt);
      } else {  // no finite point ahead: aim level with the anchor at the next bucket's start
        cx = static_cast<double>(pts[nlo].step);
        cy = have_anchor ? ay : pts[lo].value;
      }
      if (!have_anchor) ax = static_cast<double>(pts[lo].step), ay = pts[lo].value;
      double best = -1;
      for (size_t i = lo; i < hi; ++i) {
        const double x = static_cast<double>(pts[i].step), y = pts[i].value;
        const double area = std::fabs((ax - cx) * (y - ay) - (ax - x) * (cy - ay));
        if (area > best) best = area, pick = i;
      }
    }
    out.push_back(pts[pick]);
    if (std::isfinite(pts[pick].value)) {
      have_anchor = true;
      ax = static_cast<double>(pts[pick].step);
      ay = pts[pick].value;
    }
  }
  out.push_back(pts.back());
  return out;
}

}  // namespace lattice::metrics
