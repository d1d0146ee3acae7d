#include "cli/ui_url.h"

#include <gtest/gtest.h>

namespace lattice::cli {
namespace {

TEST(UiUrl, TheServersRoot) {
  EXPECT_EQ(UiUrl("http://127.0.0.1:8470", ""), "http://127.0.0.1:8470/");
  EXPECT_EQ(UiUrl("http://127.0.0.1:8470/", ""), "http://127.0.0.1:8470/");
}

TEST(UiUrl, TheTokenGoesInTheFragmentOnly) {
  const std::string token(64, 'a');
  EXPECT_EQ(UiUrl("http://10.0.0.1:8470", token), "http://10.0.0.1:8470/#token=" + token);
}

}  // namespace
}  // namespace lattice::cli
