#include "common/units.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lattice {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kKi = 1024;
constexpr uint64_t kMi = kKi * 1024;
constexpr uint64_t kGi = kMi * 1024;
constexpr uint64_t kTi = kGi * 1024;

struct BytesCase {
  const char* text;
  uint64_t bytes;
};

class ParseBytesValid : public ::testing::TestWithParam<BytesCase> {};

TEST_P(ParseBytesValid, Parses) {
  auto r = ParseBytes(GetParam().text);
  ASSERT_TRUE(r.ok()) << GetParam().text << ": " << r.error().message;
  EXPECT_EQ(*r, GetParam().bytes) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(
    Units, ParseBytesValid,
    ::testing::Values(BytesCase{"0", 0}, BytesCase{"1024", 1024}, BytesCase{"10b", 10}, BytesCase{"10B", 10},
                      BytesCase{"1k", kKi}, BytesCase{"1K", kKi}, BytesCase{"1KB", kKi}, BytesCase{"1KiB", kKi},
                      BytesCase{"512M", 512 * kMi}, BytesCase{"512mb", 512 * kMi}, BytesCase{"512MiB", 512 * kMi},
                      BytesCase{"4G", 4 * kGi}, BytesCase{"4GB", 4 * kGi}, BytesCase{"4GiB", 4 * kGi},
                      BytesCase{"4gib", 4 * kGi}, BytesCase{"1.5G", kGi + kGi / 2}, BytesCase{"0.5K", 512},
                      BytesCase{"2T", 2 * kTi}, BytesCase{"007M", 7 * kMi},
                      // Fractions round to the nearest byte.
                      BytesCase{"1.0001K", 1024}, BytesCase{"0.0009K", 1}));

class ParseBytesGarbage : public ::testing::TestWithParam<const char*> {};

TEST_P(ParseBytesGarbage, RejectedWithAClearMessage) {
  auto r = ParseBytes(GetParam());
  ASSERT_FALSE(r.ok()) << GetParam();
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr(std::string("'") + GetParam() + "' is not a size"));
  EXPECT_THAT(r.error().message, HasSubstr("like 512M, 4G or 1.5GiB"));
}

INSTANTIATE_TEST_SUITE_P(Inputs, ParseBytesGarbage,
                         ::testing::Values("", "G", "abc", "-1", "-1G", "+1G", "4X", "4 G", " 4G", "4G ", "4GG",
                                           "4Gi", "4P", "1e3", "1.2.3", ".", "..", "0x10", "nan", "inf",
                                           "4,5G", "100000000T", "99999999999999999999"));

TEST(ParseBytes, LargestAcceptedAndJustOver) {
  // The limit is 9e18 bytes: under UINT64_MAX with room for rounding.
  EXPECT_TRUE(ParseBytes("8000000T").ok());
  EXPECT_FALSE(ParseBytes("9000000T").ok());
}

struct HumanCase {
  uint64_t bytes;
  const char* text;
};

class HumanBytesCases : public ::testing::TestWithParam<HumanCase> {};

TEST_P(HumanBytesCases, Prints) { EXPECT_EQ(HumanBytes(GetParam().bytes), GetParam().text); }

INSTANTIATE_TEST_SUITE_P(
    Sizes, HumanBytesCases,
    ::testing::Values(HumanCase{0, "0 B"}, HumanCase{1, "1 B"}, HumanCase{1023, "1023 B"},
                      HumanCase{1024, "1 KiB"}, HumanCase{1536, "1.5 KiB"}, HumanCase{10 * kKi, "10 KiB"},
                      HumanCase{512 * kMi, "512 MiB"}, HumanCase{1288490188, "1.2 GiB"},
                      HumanCase{4 * kGi, "4 GiB"}, HumanCase{80 * kGi, "80 GiB"}, HumanCase{3 * kTi, "3 TiB"},
                      HumanCase{kTi * 1024, "1 PiB"},
                      HumanCase{UINT64_MAX, "16 EiB"}));

TEST(HumanBytes, RoundTripsThroughParseBytesForWholeUnits) {
  for (uint64_t v : {kKi, 3 * kMi, 7 * kGi, 2 * kTi}) {
    std::string text = HumanBytes(v);
    std::string compact;
    for (char c : text)
      if (c != ' ') compact += c;
    auto back = ParseBytes(compact);
    ASSERT_TRUE(back.ok()) << compact;
    EXPECT_EQ(*back, v) << compact;
  }
}

struct DurationCase {
  const char* text;
  int64_t ms;
};

class ParseDurationValid : public ::testing::TestWithParam<DurationCase> {};

TEST_P(ParseDurationValid, Parses) {
  auto r = ParseDurationMs(GetParam().text);
  ASSERT_TRUE(r.ok()) << GetParam().text << ": " << r.error().message;
  EXPECT_EQ(*r, GetParam().ms) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(Units, ParseDurationValid,
                         ::testing::Values(DurationCase{"30", 30'000}, DurationCase{"30s", 30'000},
                                           DurationCase{"30S", 30'000}, DurationCase{"500ms", 500},
                                           DurationCase{"500MS", 500}, DurationCase{"2m", 120'000},
                                           DurationCase{"1h", 3'600'000}, DurationCase{"1.5s", 1'500},
                                           DurationCase{"0.5", 500}, DurationCase{"0", 0},
                                           DurationCase{"0ms", 0}, DurationCase{"0.4ms", 0},
                                           DurationCase{"0.5ms", 1}, DurationCase{"24h", 86'400'000},
                                           DurationCase{"7d", 604'800'000}));

class ParseDurationGarbage : public ::testing::TestWithParam<const char*> {};

TEST_P(ParseDurationGarbage, RejectedWithAClearMessage) {
  auto r = ParseDurationMs(GetParam());
  ASSERT_FALSE(r.ok()) << GetParam();
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_THAT(r.error().message, HasSubstr(std::string("'") + GetParam() + "' is not a duration"));
  EXPECT_THAT(r.error().message, HasSubstr("30s, 500ms, 2m, 1h or 7d"));
}

INSTANTIATE_TEST_SUITE_P(Inputs, ParseDurationGarbage,
                         ::testing::Values("", "s", "ms", "-5s", "-1", "5days", "5 s", " 5s", "5sec", "5min", "1e3",
                                           "1.2.3s", ".", "infs", "1us", "5ns", "300000000h"));

TEST(ParseDurationMs, LimitIsTenToTheFifteenMs) {
  EXPECT_TRUE(ParseDurationMs("277777777h").ok());   // just under 1e15 ms
  EXPECT_FALSE(ParseDurationMs("277777778h").ok());  // just over
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {
TEST(HumanDuration, UsesTheLargestWholeUnitAndParsesBack) {
  EXPECT_EQ(HumanDuration(7'200'000), "2h");
  EXPECT_EQ(HumanDuration(5'400'000), "90m");
  EXPECT_EQ(HumanDuration(90'000), "90s");
  EXPECT_EQ(HumanDuration(604'800'000), "7d");
  EXPECT_EQ(HumanDuration(1'500), "1500ms");
  for (int64_t ms : {7'200'000LL, 5'400'000LL, 90'000LL, 604'800'000LL, 1'500LL, 0LL})
    EXPECT_EQ(*ParseDurationMs(HumanDuration(ms)), ms);
}
}  // namespace
}  // namespace lattice
