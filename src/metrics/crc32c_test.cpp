#include "metrics/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace lattice::metrics {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(Crc32cPortable("123456789"), 0xE3069283u);
}

TEST(Crc32c, MatchesKnownVectorsFromRfc3720) {
  EXPECT_EQ(Crc32c(""), 0u);
  EXPECT_EQ(Crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(Crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  std::string ascending;
  for (int i = 0; i < 32; ++i) ascending.push_back(static_cast<char>(i));
  EXPECT_EQ(Crc32c(ascending), 0x46DD794Eu);
}

TEST(Crc32c, HardwareAndTablePathsAgreeOnEveryLengthAndAlignment) {
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  for (size_t start = 0; start < 9; ++start)
    for (size_t len = 0; start + len <= data.size(); len += 13)
      EXPECT_EQ(Crc32c(std::string_view(data).substr(start, len)),
                Crc32cPortable(std::string_view(data).substr(start, len)));
}

TEST(Crc32c, ExtendsAcrossPieces) {
  const std::string all = "The quick brown fox jumps over the lazy dog";
  for (size_t cut = 0; cut <= all.size(); ++cut)
    EXPECT_EQ(Crc32c(std::string_view(all).substr(cut), Crc32c(std::string_view(all).substr(0, cut))),
              Crc32c(all));
}

TEST(MaskCrc, RotatesAndAddsTheTfRecordConstant) {
  EXPECT_EQ(MaskCrc(0), 0xa282ead8u);
  EXPECT_EQ(MaskCrc(0xE3069283u), ((0xE3069283u >> 15) | (0xE3069283u << 17)) + 0xa282ead8u);
}

}  // namespace
}  // namespace lattice::metrics
