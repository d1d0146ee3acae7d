#include "estimate/format.h"

#include <gtest/gtest.h>

namespace lattice::estimate {
namespace {

TEST(FormatTest, DecimalBytesWithThreeSignificantDigits) {
  EXPECT_EQ(DecimalBytes(112e9), "112 GB");
  EXPECT_EQ(DecimalBytes(38.5e9), "38.5 GB");
  EXPECT_EQ(DecimalBytes(1.875e9), "1.88 GB");
  EXPECT_EQ(DecimalBytes(268e6), "268 MB");
  EXPECT_EQ(DecimalBytes(140e9), "140 GB");
  EXPECT_EQ(DecimalBytes(1.12e12), "1.12 TB");
  EXPECT_EQ(DecimalBytes(999.7e9), "1.00 TB");
  EXPECT_EQ(DecimalBytes(512), "512 B");
  EXPECT_EQ(DecimalBytes(0), "0 B");
}

TEST(FormatTest, ShortCounts) {
  EXPECT_EQ(ShortCount(7e9), "7B");
  EXPECT_EQ(ShortCount(1.5e9), "1.5B");
  EXPECT_EQ(ShortCount(125e6), "125M");
  EXPECT_EQ(ShortCount(70e9), "70B");
  EXPECT_EQ(ShortCount(1.2e12), "1.2T");
  EXPECT_EQ(ShortCount(350), "350");
}

TEST(FormatTest, Dollars) {
  EXPECT_EQ(Usd(1.006), "1.006");
  EXPECT_EQ(Usd(0.5904), "0.590");
  EXPECT_EQ(Usd(55.04), "55.04");
  EXPECT_EQ(Usd(8.048), "8.048");
}

}  // namespace
}  // namespace lattice::estimate
