#include "model/names.h"

namespace lattice {
namespace {
const char* const kAdjectives[] = {
    "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring", "eager",
    "fancy", "fast", "gentle", "golden", "happy", "jolly", "keen", "kind", "lively", "lucky",
    "mellow", "merry", "mighty", "noble", "polar", "proud", "quick", "quiet", "rapid", "sharp",
    "shiny", "silent", "smart", "snowy", "solar", "steady", "sunny", "swift", "tidy", "vivid",
    "warm", "wise", "witty", "zesty"};
const char* const kNouns[] = {
    "badger", "bison", "crane", "dingo", "eagle", "falcon", "ferret", "gecko", "heron", "ibis",
    "jaguar", "koala", "lemur", "lynx", "marmot", "moose", "narwhal", "ocelot", "otter", "panda",
    "pelican", "puffin", "quokka", "raven", "salmon", "seal", "sparrow", "tapir", "tiger", "toucan",
    "turtle", "walrus", "wombat", "yak", "zebra"};
}  // namespace

Status ValidateRunName(const std::string& name) { return ValidateName("run", name, "name"); }

Status ValidateName(const std::string& kind, const std::string& name, const std::string& field) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 "invalid " + kind + " name '" + name + "': " + why +
                     " (use lowercase letters, digits and '-', starting with a letter, at most 63 characters)",
                 field);
  };
  if (name.empty()) return bad("it is empty");
  if (name.size() > 63) return bad("it is " + std::to_string(name.size()) + " characters long");
  if (name[0] < 'a' || name[0] > 'z') return bad("it must start with a lowercase letter");
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return bad("character " + std::to_string(i + 1) + " is not allowed");
  }
  if (name.back() == '-') return bad("it must not end with '-'");
  return OkStatus();
}

std::string GenerateRunName(std::mt19937_64& rng) {
  constexpr size_t kA = sizeof kAdjectives / sizeof *kAdjectives;
  constexpr size_t kN = sizeof kNouns / sizeof *kNouns;
  std::string name = kAdjectives[rng() % kA];
  name += "-";
  name += kNouns[rng() % kN];
  name += "-" + std::to_string(1000 + rng() % 9000);
  return name;
}

}  // namespace lattice
