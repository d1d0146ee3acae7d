#include "metrics/downsample.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

namespace lattice::metrics {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::nan("");

std::vector<Point> Ramp(size_t n) {
  std::vector<Point> v;
  for (size_t i = 0; i < n; ++i) v.push_back({static_cast<int64_t>(i), 0.0, std::sin(i * 0.1) * 10});
  return v;
}

// True when every point of `sub` appears in `all`, in the same order (steps are unique here).
bool IsSubsequence(const std::vector<Point>& sub, const std::vector<Point>& all) {
  size_t j = 0;
  for (const Point& p : all)
    if (j < sub.size() && p.step == sub[j].step) ++j;
  return j == sub.size();
}

TEST(DownsampleMinMax, ReturnsEveryPointWhenThereAreFewEnough) {
  auto pts = Ramp(10);
  EXPECT_EQ(DownsampleMinMax(pts, 10).size(), 10u);
  EXPECT_EQ(DownsampleMinMax(pts, 1000).size(), 10u);
  EXPECT_TRUE(DownsampleMinMax({}, 5).empty());
}

TEST(DownsampleMinMax, TinyBudgetsStillGiveFirstAndLast) {
  auto pts = Ramp(100);
  EXPECT_TRUE(DownsampleMinMax(pts, 0).empty());
  ASSERT_EQ(DownsampleMinMax(pts, 1).size(), 1u);
  EXPECT_EQ(DownsampleMinMax(pts, 1)[0].step, 99);
  for (size_t max : {2u, 3u}) {
    auto out = DownsampleMinMax(pts, max);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out.front().step, 0);
    EXPECT_EQ(out.back().step, 99);
  }
}

TEST(DownsampleMinMax, KeepsFirstLastAndEachBucketsExtremesInOrderWithinBudget) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 1);
  for (size_t n : {50u, 1001u, 4099u}) {
    std::vector<Point> pts;
    for (size_t i = 0; i < n; ++i) pts.push_back({static_cast<int64_t>(i), 0, noise(rng)});
    for (size_t max : {4u, 5u, 10u, 33u, 100u}) {
      auto out = DownsampleMinMax(pts, max);
      ASSERT_LE(out.size(), max);
      EXPECT_EQ(out.front().step, 0);
      EXPECT_EQ(out.back().step, static_cast<int64_t>(n - 1));
      EXPECT_TRUE(IsSubsequence(out, pts));
      // The global extremes survive.
      const auto mm = std::minmax_element(pts.begin(), pts.end(),
                                          [](const Point& a, const Point& b) { return a.value < b.value; });
      const auto mn = mm.first, mx = mm.second;
      EXPECT_TRUE(std::any_of(out.begin(), out.end(), [&](const Point& p) { return p.step == mn->step; }));
      EXPECT_TRUE(std::any_of(out.begin(), out.end(), [&](const Point& p) { return p.step == mx->step; }));
      // Each bucket keeps exactly its min and max.
      if (n <= max) continue;
      const auto starts = MinMaxBucketStarts(n, max);
      EXPECT_EQ(starts.size() - 1, (max - 2) / 2 + 2);
      for (size_t b = 1; b + 2 < starts.size(); ++b) {
        auto lo = pts.begin() + static_cast<long>(starts[b]), hi = pts.begin() + static_cast<long>(starts[b + 1]);
        ASSERT_LT(lo, hi);
        const auto bm = std::minmax_element(lo, hi, [](const Point& a, const Point& c) { return a.value < c.value; });
        const auto bmn = bm.first, bmx = bm.second;
        EXPECT_TRUE(std::any_of(out.begin(), out.end(), [&](const Point& p) { return p.step == bmn->step; }));
        EXPECT_TRUE(std::any_of(out.begin(), out.end(), [&](const Point& p) { return p.step == bmx->step; }));
      }
    }
  }
}

TEST(DownsampleMinMax, BucketsSplitTheMiddleEvenlyByIndex) {
  const auto s = MinMaxBucketStarts(1002, 12);  // 5 middle buckets of 200 points
  EXPECT_EQ(s, (std::vector<uint64_t>{0, 1, 201, 401, 601, 801, 1001, 1002}));
}

TEST(DownsampleMinMax, ABucketWithNaNKeepsOneNaNPointSoItStaysVisible) {
  auto pts = Ramp(1000);
  pts[500].value = kNaN;
  pts[501].value = kNaN;
  auto out = DownsampleMinMax(pts, 20);
  EXPECT_LE(out.size(), 20u);
  EXPECT_EQ(std::count_if(out.begin(), out.end(), [](const Point& p) { return std::isnan(p.value); }), 1);
  EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](const Point& p) { return p.step == 500; }));
  // All NaN: one point per bucket.
  std::vector<Point> nans(100, Point{0, 0, kNaN});
  for (size_t i = 0; i < nans.size(); ++i) nans[i].step = static_cast<int64_t>(i);
  EXPECT_EQ(DownsampleMinMax(nans, 10).size(), 6u);  // first, last, 4 buckets
}

TEST(DownsampleMinMax, InfinitiesAreTheExtremes) {
  auto pts = Ramp(1000);
  pts[300].value = kInf;
  pts[301].value = -kInf;
  auto out = DownsampleMinMax(pts, 10);
  EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](const Point& p) { return p.value == kInf; }));
  EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](const Point& p) { return p.value == -kInf; }));
}

TEST(DownsampleLttb, KeepsFirstLastWithinBudgetAndInOrder) {
  auto pts = Ramp(10000);
  for (size_t max : {3u, 4u, 100u, 999u}) {
    auto out = DownsampleLttb(pts, max);
    EXPECT_EQ(out.size(), max);
    EXPECT_EQ(out.front().step, 0);
    EXPECT_EQ(out.back().step, 9999);
    EXPECT_TRUE(IsSubsequence(out, pts));
  }
  EXPECT_EQ(DownsampleLttb(pts, 2).size(), 2u);
  EXPECT_EQ(DownsampleLttb(pts, 1).size(), 1u);
  EXPECT_TRUE(DownsampleLttb(pts, 0).empty());
  EXPECT_EQ(DownsampleLttb(Ramp(5), 10).size(), 5u);
}

TEST(DownsampleLttb, PicksASpikeOverFlatNeighbours) {
  std::vector<Point> pts;
  for (int i = 0; i < 1000; ++i) pts.push_back({i, 0, 1.0});
  pts[437].value = 50;
  auto out = DownsampleLttb(pts, 20);
  EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](const Point& p) { return p.step == 437; }));
}

TEST(DownsampleLttb, NonFiniteValuesAreKeptVisibleWithoutPoisoningTheAreas) {
  auto pts = Ramp(1000);
  pts[0].value = kNaN;  // even the first anchor
  pts[200].value = kNaN;
  pts[600].value = kInf;
  auto out = DownsampleLttb(pts, 50);
  ASSERT_EQ(out.size(), 50u);
  EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](const Point& p) { return p.step == 200; }));
  EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](const Point& p) { return p.step == 600; }));
  // The other buckets still follow the curve: compare with the run without the bad values.
  auto clean = Ramp(1000);
  auto ref = DownsampleLttb(clean, 50);
  size_t same = 0;
  for (size_t i = 0; i < out.size(); ++i) same += out[i].step == ref[i].step;
  EXPECT_GE(same, 40u);
}

}  // namespace
}  // namespace lattice::metrics
