#include "cli/instance_type.h"

#include <cctype>
#include <charconv>
#include <vector>

namespace lattice::cli {
namespace {

constexpr uint64_t kGiB = 1ull << 30;

std::vector<std::string> SplitUnderscore(const std::string& s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == '_') out.emplace_back();
    else out.back().push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

bool ParseCount(const std::string& s, int max, int* out) {
  if (s.empty() || s.size() > 5) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && end == s.data() + s.size() && *out >= 1 && *out <= max;
}

// "32gb" -> 32 GiB (Grid's names count memory in GB of 1024^3 bytes, as nvidia-smi shows it).
bool ParseGigabytes(const std::string& s, uint64_t* out) {
  if (s.size() < 3 || s.compare(s.size() - 2, 2, "gb") != 0) return false;
  int gb = 0;
  if (!ParseCount(s.substr(0, s.size() - 2), 65536, &gb)) return false;
  *out = static_cast<uint64_t>(gb) * kGiB;
  return true;
}

bool IsModel(const std::string& s) {
  if (s.empty() || s.size() > 16 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

Result<InstanceType> ParseInstanceType(const std::string& name) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 "--instance_type '" + name.substr(0, 64) + "' " + why +
                     ": use a descriptive name, GPUs_model_memory like 8_v100_32gb or CPUs_cpu_memory like "
                     "4_cpu_16gb",
                 "instance_type");
  };
  if (name.find('.') != std::string::npos || name.find('-') != std::string::npos)
    return bad("is not a type Lattice knows the shape of");
  auto parts = SplitUnderscore(name);
  if (parts.size() != 3) return bad("is not COUNT_MODEL_MEMORY");
  int count = 0;
  if (!ParseCount(parts[0], 4096, &count)) return bad("does not start with a count (1 to 4096)");
  uint64_t memory = 0;
  if (!ParseGigabytes(parts[2], &memory)) return bad("does not end with a memory size like 32gb");
  if (!IsModel(parts[1])) return bad("has no model between the count and the memory");
  InstanceType t;
  if (parts[1] == "cpu") {
    t.cpus = count;
    t.memory_bytes = memory;
  } else {
    t.gpus = count;
    t.gpu_model = parts[1];
    t.gpu_memory_bytes = memory;
  }
  return t;
}

Result<NodeShape> ShapeFor(const InstanceType& type, const std::string& name, int total_gpus) {
  if (type.gpus == 0) {
    if (total_gpus > 0)
      return Error(ErrorCode::kInvalidArgument,
                   "--gpus " + std::to_string(total_gpus) + " cannot run on " + name + ", which has no GPUs",
                   "gpus");
    return NodeShape{1, 0};
  }
  if (total_gpus == 0) return NodeShape{1, type.gpus};
  if (total_gpus <= type.gpus) return NodeShape{1, total_gpus};
  if (total_gpus % type.gpus != 0)
    return Error(ErrorCode::kInvalidArgument,
                 "--gpus " + std::to_string(total_gpus) + " is not a whole number of " + name + " nodes (" +
                     std::to_string(type.gpus) + " GPUs each): ask for " + std::to_string(type.gpus) + ", " +
                     std::to_string(2 * type.gpus) + ", " + std::to_string(3 * type.gpus) + ", ...",
                 "gpus");
  return NodeShape{total_gpus / type.gpus, type.gpus};
}

}  // namespace lattice::cli
