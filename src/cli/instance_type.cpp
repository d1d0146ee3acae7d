#include "cli/instance_type.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <vector>

#include "common/text.h"
#include "common/units.h"
#include "estimate/catalog.h"

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

InstanceType FromCatalog(const estimate::InstanceSpec& spec) {
  InstanceType t;
  t.gpus = spec.gpus;
  t.gpu_model = AsciiLower(spec.gpu_model);
  t.gpu_memory_bytes = spec.gpu_memory_bytes;
  t.cpus = spec.vcpus;
  t.memory_bytes = spec.memory_bytes;
  t.catalog_name = spec.name;
  return t;
}

// Grid's own errors are the better advice for names shaped like Grid's
// (a count first, no '.' or '-' as cloud names have).
bool LooksDescriptive(const std::string& name) {
  return !name.empty() && std::isdigit(static_cast<unsigned char>(name[0])) &&
         name.find_first_of(".-") == std::string::npos;
}

// The machine of the same provider, GPU model and GPU memory with more GPUs
// that holds `total_gpus` in the fewest nodes (the cheapest of equals), if any.
const estimate::InstanceSpec* BiggerSibling(const estimate::Catalog& catalog, const estimate::InstanceSpec& small,
                                            int total_gpus) {
  const estimate::InstanceSpec* best = nullptr;
  auto better = [&](const estimate::InstanceSpec& s) {
    if (!best) return true;
    const bool divides = total_gpus % s.gpus == 0, best_divides = total_gpus % best->gpus == 0;
    if (divides != best_divides) return divides;
    if (s.gpus != best->gpus) return s.gpus > best->gpus;
    return s.OnDemandPerHour().value_or(1e18) < best->OnDemandPerHour().value_or(1e18);
  };
  for (const estimate::InstanceSpec& s : catalog.instances)
    if (s.provider == small.provider && AsciiLower(s.gpu_model) == AsciiLower(small.gpu_model) &&
        s.gpu_memory_bytes == small.gpu_memory_bytes && s.gpus > small.gpus && better(s))
      best = &s;
  return best;
}

bool IsModel(const std::string& s) {
  if (s.empty() || s.size() > 16 || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  return true;
}

}  // namespace

namespace {

Result<InstanceType> ParseDescriptive(const std::string& name) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 "--instance_type '" + name.substr(0, 64) + "' " + why +
                     ": use a descriptive name, GPUs_model_memory like 8_v100_32gb or CPUs_cpu_memory like "
                     "4_cpu_16gb",
                 "instance_type");
  };
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

}  // namespace

Result<InstanceType> ParseInstanceType(const std::string& name) {
  auto descriptive = ParseDescriptive(name);
  if (descriptive.ok()) return descriptive;
  auto catalog = estimate::ActiveCatalog();
  if (!catalog.ok()) return catalog.error();
  if (const estimate::InstanceSpec* spec = (*catalog)->Find(name)) return FromCatalog(*spec);
  if (LooksDescriptive(name)) return descriptive;
  auto unknown = (*catalog)->Lookup(name);
  return Error(ErrorCode::kInvalidArgument,
               "--instance_type " + unknown.error().message +
                   "; or use a descriptive name, GPUs_model_memory like 8_v100_32gb or CPUs_cpu_memory like "
                   "4_cpu_16gb",
               "instance_type");
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
  // A catalog machine is rented whole, so a part of one is not a shape; Grid's names keep allowing it.
  if (total_gpus <= type.gpus && (type.catalog_name.empty() || total_gpus == type.gpus))
    return NodeShape{1, total_gpus};
  if (!type.catalog_name.empty() && type.gpus == 1) {
    auto catalog = estimate::ActiveCatalog();
    const estimate::InstanceSpec* spec = catalog.ok() ? (*catalog)->Find(type.catalog_name) : nullptr;
    if (const estimate::InstanceSpec* bigger = spec ? BiggerSibling(**catalog, *spec, total_gpus) : nullptr) {
      const int nodes = (total_gpus + bigger->gpus - 1) / bigger->gpus;
      const int asked = nodes * bigger->gpus;
      return Error(ErrorCode::kInvalidArgument,
                   "--gpus " + std::to_string(total_gpus) + " on " + name + " (1 " + spec->gpu_model +
                       " each) would be " + std::to_string(total_gpus) +
                       " separate 1-GPU machines, not one training; ask for --instance_type " + bigger->name +
                       " --gpus " + std::to_string(asked) + " (" + std::to_string(nodes) +
                       (nodes == 1 ? " node of " : " nodes of ") + std::to_string(bigger->gpus) + " " +
                       spec->gpu_model + ")",
                   "gpus");
    }
  }
  if (total_gpus % type.gpus != 0)
    return Error(ErrorCode::kInvalidArgument,
                 "--gpus " + std::to_string(total_gpus) + " is not a whole number of " + name + " nodes (" +
                     std::to_string(type.gpus) + " GPUs each): ask for " + std::to_string(type.gpus) + ", " +
                     std::to_string(2 * type.gpus) + ", " + std::to_string(3 * type.gpus) + ", ...",
                 "gpus");
  return NodeShape{total_gpus / type.gpus, type.gpus};
}

Status CheckNodeResources(const InstanceType& type, double cpus, const std::string& memory) {
  if (type.catalog_name.empty()) return OkStatus();
  if (cpus > type.cpus)
    return Error(ErrorCode::kInvalidArgument,
                 "--cpus " + std::to_string(static_cast<long long>(std::ceil(cpus))) + " per node is more than " +
                     type.catalog_name + " has (" + std::to_string(type.cpus) + " vCPUs)",
                 "cpus");
  auto bytes = memory.empty() ? Result<uint64_t>(0) : ParseBytes(memory);
  if (bytes.ok() && *bytes > type.memory_bytes)
    return Error(ErrorCode::kInvalidArgument,
                 "--memory " + memory + " per node is more than " + type.catalog_name + " has (" +
                     HumanBytes(type.memory_bytes) + ")",
                 "memory");
  return OkStatus();  // a malformed --memory is reported where it is parsed
}

}  // namespace lattice::cli
