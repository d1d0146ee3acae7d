// Downsampling of one series for charts: pure functions over points in their
// stored order (index order; steps are usually but not necessarily sorted).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "metrics/point.h"

namespace lattice::metrics {

// Min/max downsampling by index. With n = pts.size() > max_points:
//   - the first and the last point are buckets of their own and always kept;
//   - the n - 2 points between are split by index into
//     K = (max_points - 2) / 2 equal buckets (sizes differ by at most one),
//     so there are K + 2 buckets in all and at most 2K + 2 <= max_points
//     points (with max_points 2 or 3, K = 0: first and last only);
//   - a bucket keeps its minimum and its maximum value point (the first one
//     on ties; one point when they coincide), in their original order.
//     Values compare with <, so -Inf is a minimum and +Inf a maximum.
//   - NaN: a bucket holding any NaN keeps its first NaN point (so a NaN stays
//     visible) and its maximum non-NaN point, if any (the minimum is dropped:
//     divergence to NaN is usually announced by a spike, not a dip).
// The result has at most max_points points; all of pts when
// n <= max_points; just the last point when max_points == 1.
std::vector<Point> DownsampleMinMax(std::span<const Point> pts, size_t max_points);

// Largest-Triangle-Three-Buckets (Steinarsson) with x = step, y = value.
// With n > max_points >= 3: first and last kept; the n - 2 points between go
// into max_points - 2 equal buckets by index, each keeping the point that
// makes the largest triangle with the previously kept point and the average
// of the next bucket. Non-finite values (NaN, +-Inf) never enter an area or
// an average: a bucket holding one keeps its first non-finite point instead
// of its largest triangle (so it stays visible), and the triangle anchor
// stays at the last kept finite point. max_points 1: the last point;
// 2: first and last. At most max_points points; all when n <= max_points.
std::vector<Point> DownsampleLttb(std::span<const Point> pts, size_t max_points);

// Building blocks of DownsampleMinMax, shared with stores that compute the
// same result from precomputed block extremes (series_store.cpp).

// Bucket b of DownsampleMinMax covers indices [starts[b], starts[b + 1]);
// the returned vector has one more entry than there are buckets (K + 3).
// Only meaningful when n > max_points >= 4.
std::vector<uint64_t> MinMaxBucketStarts(uint64_t n, size_t max_points);

// Extremes of a run of points, addressed by index. kNone marks "no such point".
struct Extremes {
  static constexpr uint64_t kNone = std::numeric_limits<uint64_t>::max();
  double min_value = 0;
  double max_value = 0;
  uint64_t min_index = kNone;  // first index of the minimum non-NaN value
  uint64_t max_index = kNone;  // first index of the maximum non-NaN value
  uint64_t first_nan = kNone;  // first index holding a NaN

  void Add(uint64_t index, double value) {
    if (value != value) {
      if (first_nan == kNone) first_nan = index;
      return;
    }
    if (min_index == kNone) {
      min_value = max_value = value;
      min_index = max_index = index;
      return;
    }
    if (value < min_value) min_value = value, min_index = index;
    if (value > max_value) max_value = value, max_index = index;
  }
  // Folds in the extremes of a later run (all its indices follow this one's).
  void Merge(const Extremes& later) {
    if (first_nan == kNone) first_nan = later.first_nan;
    if (later.min_index == kNone) return;
    if (min_index == kNone) {
      min_value = later.min_value, min_index = later.min_index;
      max_value = later.max_value, max_index = later.max_index;
      return;
    }
    if (later.min_value < min_value) min_value = later.min_value, min_index = later.min_index;
    if (later.max_value > max_value) max_value = later.max_value, max_index = later.max_index;
  }
  // The indices a DownsampleMinMax bucket keeps, ascending; returns how many (0..2).
  int Kept(uint64_t out[2]) const;
};

}  // namespace lattice::metrics
