#include "metrics/point.h"

#include <gtest/gtest.h>

namespace lattice::metrics {
namespace {

TEST(ValidateKey, AcceptsPathLikeAndUnicodeKeys) {
  EXPECT_TRUE(ValidateKey("loss").ok());
  EXPECT_TRUE(ValidateKey("train/loss_epoch").ok());
  EXPECT_TRUE(ValidateKey("Genauigkeit/\xc3\xa4").ok());
}

TEST(ValidateKey, RefusesEmptyLongControlAndBrokenUtf8) {
  EXPECT_FALSE(ValidateKey("").ok());
  EXPECT_FALSE(ValidateKey(std::string(kMaxKeyBytes + 1, 'a')).ok());
  EXPECT_TRUE(ValidateKey(std::string(kMaxKeyBytes, 'a')).ok());
  EXPECT_FALSE(ValidateKey("a\nb").ok());
  EXPECT_FALSE(ValidateKey("\xc3").ok());
  EXPECT_FALSE(ValidateKey("\xff" "abc").ok());
}

}  // namespace
}  // namespace lattice::metrics
