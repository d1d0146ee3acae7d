#include "agent/netif.h"

#include <gtest/gtest.h>

namespace lattice::agent {
namespace {

TEST(NetifTest, LoopbackIsReachedFromLoopbackThroughLo) {
  auto addr = LocalAddressToward("127.0.0.1", 8080);
  ASSERT_TRUE(addr.ok()) << addr.error().message;
  EXPECT_EQ(*addr, "127.0.0.1");
  auto name = InterfaceToward("127.0.0.1");
  ASSERT_TRUE(name.ok()) << name.error().message;
  EXPECT_EQ(*name, "lo");
}

}  // namespace
}  // namespace lattice::agent
