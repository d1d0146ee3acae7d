#include "model/names.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace lattice {
namespace {

using ::testing::HasSubstr;

class ValidNames : public ::testing::TestWithParam<std::string> {};

TEST_P(ValidNames, Accepted) {
  Status st = ValidateRunName(GetParam());
  EXPECT_TRUE(st.ok()) << GetParam() << ": " << (st.ok() ? "" : st.error().message);
}

INSTANTIATE_TEST_SUITE_P(Names, ValidNames,
                         ::testing::Values("a", "z", "run", "my-run-1", "a1", "a-b-c", "a--b", "brave-otter-4821",
                                           "x" + std::string(62, '9')));

struct BadName {
  std::string name;
  std::string why;
};

class InvalidNames : public ::testing::TestWithParam<BadName> {};

TEST_P(InvalidNames, RejectedSayingWhyAndWhatIsAllowed) {
  Status st = ValidateRunName(GetParam().name);
  ASSERT_FALSE(st.ok()) << GetParam().name;
  EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(st.error().field, "name");
  EXPECT_THAT(st.error().message, HasSubstr(GetParam().why));
  EXPECT_THAT(st.error().message, HasSubstr("lowercase letters, digits and '-'"));
}

INSTANTIATE_TEST_SUITE_P(
    Names, InvalidNames,
    ::testing::Values(BadName{"", "it is empty"}, BadName{std::string(64, 'a'), "it is 64 characters long"},
                      BadName{std::string(1000, 'a'), "it is 1000 characters long"},
                      BadName{"Run", "must start with a lowercase letter"},
                      BadName{"1run", "must start with a lowercase letter"},
                      BadName{"-run", "must start with a lowercase letter"},
                      BadName{"my_run", "character 3 is not allowed"}, BadName{"myRun", "character 3 is not allowed"},
                      BadName{"a b", "character 2 is not allowed"}, BadName{"a/b", "character 2 is not allowed"},
                      BadName{"a.b", "character 2 is not allowed"}, BadName{"ab\xc3\xa9", "character 3 is not allowed"},
                      BadName{std::string("a\0b", 3), "character 2 is not allowed"},
                      BadName{"run-", "must not end with '-'"}));

TEST(ValidateRunName, ErrorQuotesTheName) {
  Status st = ValidateRunName("Bad");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(st.error().message, HasSubstr("invalid run name 'Bad'"));
}

TEST(GenerateRunName, AlwaysValid_OverManySeeds) {
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 5; ++i) {
      std::string name = GenerateRunName(rng);
      Status st = ValidateRunName(name);
      ASSERT_TRUE(st.ok()) << "seed " << seed << ": " << name << ": " << st.error().message;
    }
  }
}

TEST(GenerateRunName, ShapeIsAdjectiveAnimalFourDigits) {
  std::mt19937_64 rng(7);
  for (int i = 0; i < 500; ++i) {
    std::string name = GenerateRunName(rng);
    size_t d1 = name.find('-');
    size_t d2 = name.find('-', d1 + 1);
    ASSERT_NE(d1, std::string::npos) << name;
    ASSERT_NE(d2, std::string::npos) << name;
    EXPECT_EQ(name.find('-', d2 + 1), std::string::npos) << name;
    std::string digits = name.substr(d2 + 1);
    ASSERT_EQ(digits.size(), 4u) << name;
    EXPECT_EQ(digits.find_first_not_of("0123456789"), std::string::npos) << name;
    EXPECT_NE(digits[0], '0') << name;
  }
}

TEST(GenerateRunName, SameSeedSameName_DifferentSeedsVary) {
  std::mt19937_64 a(42), b(42);
  EXPECT_EQ(GenerateRunName(a), GenerateRunName(b));
  std::set<std::string> seen;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    std::mt19937_64 rng(seed);
    seen.insert(GenerateRunName(rng));
  }
  EXPECT_GT(seen.size(), 190u);  // collisions are possible but rare
}

}  // namespace
}  // namespace lattice
