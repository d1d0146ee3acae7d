#include "metrics/points_codec.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#if defined(__SANITIZE_ADDRESS__)
#define LATTICE_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LATTICE_SANITIZED 1
#endif
#endif

namespace lattice::metrics {
namespace {

bool SameBits(const Point& a, const Point& b) { return std::memcmp(&a, &b, sizeof(Point)) == 0; }

std::vector<SeriesBatch> Sample() {
  const double nan_payload = [] {
    uint64_t bits = 0x7ff8000000abcdefull;
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }();
  return {
      {"train/loss", {{0, 1.5, 2.25}, {1, 1.75, nan_payload}, {-3, -0.0, std::numeric_limits<double>::infinity()}}},
      {"gpu/0/util %", {{7, 1e9, -std::numeric_limits<double>::infinity()}}},
      {"empty", {}},
  };
}

void ExpectSame(const std::vector<SeriesBatch>& a, const std::vector<SeriesBatch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].key, b[i].key);
    ASSERT_EQ(a[i].points.size(), b[i].points.size());
    for (size_t k = 0; k < a[i].points.size(); ++k) EXPECT_TRUE(SameBits(a[i].points[k], b[i].points[k]));
  }
}

TEST(PointsCodec, RoundTripKeepsEveryBitIncludingNaNPayloadsAndInfinities) {
  const auto batch = Sample();
  Result<std::vector<SeriesBatch>> back = DecodeFrames(EncodeFrame(batch));
  ASSERT_TRUE(back.ok()) << back.error().message;
  ExpectSame(batch, *back);
}

TEST(PointsCodec, FrameLayoutIsTheDocumentedOne) {
  const std::string f = EncodeFrame({{"ab", {{-1, 2.0, 3.0}}}});
  ASSERT_EQ(f.size(), 8u + 4 + 2 + 2 + 4 + 24);
  EXPECT_EQ(f.substr(0, 4), "LTP1");
  uint32_t payload, series, count;
  uint16_t key_len;
  int64_t step;
  std::memcpy(&payload, f.data() + 4, 4);
  std::memcpy(&series, f.data() + 8, 4);
  std::memcpy(&key_len, f.data() + 12, 2);
  std::memcpy(&count, f.data() + 16, 4);
  std::memcpy(&step, f.data() + 20, 8);
  EXPECT_EQ(payload, f.size() - 8);
  EXPECT_EQ(series, 1u);
  EXPECT_EQ(key_len, 2u);
  EXPECT_EQ(f.substr(14, 2), "ab");
  EXPECT_EQ(count, 1u);
  EXPECT_EQ(step, -1);
}

TEST(PointsCodec, SeveralFramesDecodeInStreamOrderWithoutMerging) {
  std::string stream;
  AppendFrame({{"a", {{1, 0, 1}}}}, &stream);
  AppendFrame({}, &stream);
  AppendFrame({{"a", {{2, 0, 2}}}, {"b", {{3, 0, 3}}}}, &stream);
  auto back = DecodeFrames(stream);
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), 3u);
  EXPECT_EQ((*back)[0].key, "a");
  EXPECT_EQ((*back)[1].key, "a");
  EXPECT_EQ((*back)[1].points[0].step, 2);
  EXPECT_EQ((*back)[2].key, "b");
  EXPECT_TRUE(DecodeFrames("").ok());
}

TEST(PointsCodec, EveryTruncationOfAStreamIsRefusedWithAByteOffset) {
  std::string stream;
  AppendFrame(Sample(), &stream);
  const size_t first = stream.size();
  AppendFrame({{"x", {{1, 2, 3}}}}, &stream);
  for (size_t n = 1; n < stream.size(); ++n) {
    if (n == first) continue;  // a whole frame
    auto r = DecodeFrames(std::string_view(stream).substr(0, n));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().message.find("at byte "), std::string::npos) << r.error().message;
  }
}

TEST(PointsCodec, MalformedFramesAreRefusedSayingWhereAndWhat) {
  const std::string good = EncodeFrame({{"k", {{1, 2, 3}}}});
  auto error_of = [](const std::string& s) {
    auto r = DecodeFrames(s);
    return r.ok() ? std::string("ok") : r.error().message;
  };
  std::string bad_magic = good;
  bad_magic[3] = '2';
  EXPECT_NE(error_of(bad_magic).find("at byte 0: bad frame magic"), std::string::npos) << error_of(bad_magic);

  std::string huge = good;
  const uint32_t big = kMaxFramePayload + 1;
  std::memcpy(huge.data() + 4, &big, 4);
  EXPECT_NE(error_of(huge).find("at byte 4: frame payload of 16777217 bytes is over the limit"), std::string::npos);

  std::string extra = good + std::string(3, '\0');  // payload longer than its series
  const uint32_t longer = static_cast<uint32_t>(good.size() - 8 + 3);
  std::memcpy(extra.data() + 4, &longer, 4);
  EXPECT_NE(error_of(extra).find("3 bytes after its last series"), std::string::npos) << error_of(extra);

  std::string many = good;
  const uint32_t count = 1000;
  std::memcpy(many.data() + 8 + 4 + 2 + 1, &count, 4);
  EXPECT_NE(error_of(many).find("at byte 15: series 0: 1000 points run past the frame"), std::string::npos)
      << error_of(many);

  std::string series = good;
  const uint32_t nseries = 0x7fffffff;
  std::memcpy(series.data() + 8, &nseries, 4);
  EXPECT_NE(error_of(series).find("series cannot fit"), std::string::npos) << error_of(series);

  const std::string ctrl = EncodeFrame({{"a\nb", {}}});
  EXPECT_NE(error_of(ctrl).find("at byte 14: series 0: metric key has a control character"), std::string::npos)
      << error_of(ctrl);
  const std::string empty_key = EncodeFrame({{"", {}}});
  EXPECT_NE(error_of(empty_key).find("must not be empty"), std::string::npos);
}

TEST(PointsCodec, WholeFramesPrefixCutsAtFrameBoundariesOnly) {
  std::string stream;
  AppendFrame({{"a", {{1, 0, 1}}}}, &stream);
  const size_t f1 = stream.size();
  AppendFrame({{"b", std::vector<Point>(10)}}, &stream);
  const size_t f2 = stream.size();
  AppendFrame({{"c", {{3, 0, 3}}}}, &stream);
  const size_t f3 = stream.size();

  EXPECT_EQ(WholeFramesPrefix(stream, SIZE_MAX), f3);
  EXPECT_EQ(WholeFramesPrefix(stream, f3), f3);
  EXPECT_EQ(WholeFramesPrefix(stream, f3 - 1), f2);
  EXPECT_EQ(WholeFramesPrefix(stream, f2), f2);
  EXPECT_EQ(WholeFramesPrefix(stream, f1 + 1), f1);
  // Even a budget smaller than the first frame ships the first frame.
  EXPECT_EQ(WholeFramesPrefix(stream, 1), f1);
  EXPECT_EQ(WholeFramesPrefix(stream, 0), f1);
  // An incomplete tail (a spool being written) is left out.
  EXPECT_EQ(WholeFramesPrefix(std::string_view(stream).substr(0, f3 - 1), SIZE_MAX), f2);
  EXPECT_EQ(WholeFramesPrefix(std::string_view(stream).substr(0, 7), SIZE_MAX), 0u);
  EXPECT_EQ(WholeFramesPrefix("", SIZE_MAX), 0u);
  // Garbage stops the walk; DecodeFrames reports it.
  EXPECT_EQ(WholeFramesPrefix(stream.substr(0, f1) + "XXXXXXXXXXXX", SIZE_MAX), f1);
  // Every prefix it returns decodes.
  for (size_t max = 0; max <= f3 + 1; ++max)
    EXPECT_TRUE(DecodeFrames(std::string_view(stream).substr(0, WholeFramesPrefix(stream, max))).ok());
}

TEST(PointsCodec, DecodesAtLeastFiftyMillionPointsPerSecond) {
  std::vector<SeriesBatch> batch;
  for (int k = 0; k < 10; ++k) {
    SeriesBatch& s = batch.emplace_back();
    s.key = "series/" + std::to_string(k);
    for (int i = 0; i < 100000; ++i) s.points.push_back({i, i * 0.5, std::sin(i)});
  }
  std::string frames;  // one frame per series: 2.4 MB each, under the frame limit
  for (const SeriesBatch& s : batch) AppendFrame({s}, &frames);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    auto back = DecodeFrames(frames);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_TRUE(back.ok()) << back.error().message;
    best = std::max(best, 1e6 / secs);
  }
  std::printf("decode: %.1f M points/s (best of 5)\n", best / 1e6);
#ifdef LATTICE_SANITIZED
  GTEST_SKIP() << "throughput is not meaningful under sanitizers";
#else
  EXPECT_GE(best, 50e6);  // measured about 300 M/s: the decode is a memcpy per series
#endif
}

}  // namespace
}  // namespace lattice::metrics
