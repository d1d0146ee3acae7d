#include "model/attempt_reason.h"

#include <gtest/gtest.h>

namespace lattice {
namespace {

TEST(AttemptEndReason, ExitCodesAreSaid) {
  EXPECT_EQ(AttemptEndReason(AttemptState::kSucceeded, 0, ""), "exited with code 0");
  EXPECT_EQ(AttemptEndReason(AttemptState::kFailed, 1, ""), "exited with code 1");
  EXPECT_EQ(AttemptEndReason(AttemptState::kFailed, 137, ""), "exited with code 137");
  EXPECT_EQ(AttemptEndReason(AttemptState::kFailed, std::nullopt, ""), "failed");
}

TEST(AttemptEndReason, AnAgentsWordsAreKeptWithTheCode) {
  EXPECT_EQ(AttemptEndReason(AttemptState::kFailed, 127, "could not start: no such file"),
            "could not start: no such file (exited with code 127)");
  EXPECT_EQ(AttemptEndReason(AttemptState::kFailed, std::nullopt, "environment build failed: pip"),
            "environment build failed: pip");
  EXPECT_EQ(AttemptEndReason(AttemptState::kFailed, 3, "rank 1 on n2 exited with code 3"),
            "rank 1 on n2 exited with code 3");
}

TEST(AttemptEndReason, LostSaysWhy) {
  EXPECT_EQ(AttemptEndReason(AttemptState::kLost, std::nullopt, "node n3 stopped responding"),
            "lost: node n3 stopped responding");
  EXPECT_EQ(AttemptEndReason(AttemptState::kLost, std::nullopt, ""), "lost");
}

TEST(AttemptEndReason, CancelledAndActive) {
  EXPECT_EQ(AttemptEndReason(AttemptState::kCancelled, 143, "anything"), "cancelled");
  EXPECT_EQ(AttemptEndReason(AttemptState::kRunning, std::nullopt, "x"), "");
  EXPECT_EQ(AttemptEndReason(AttemptState::kStarting, std::nullopt, ""), "");
}

}  // namespace
}  // namespace lattice
