#include "estimate/memory_estimate.h"

#include <algorithm>
#include <cmath>

namespace lattice::estimate {
namespace {

bool IsMixed(Precision p) { return p == Precision::kFp16 || p == Precision::kBf16; }

// Korthikanti et al., §4.1: a transformer layer stores s·b·h·(34 + 5·a·s/h)
// bytes of 16-bit activations for its backward pass; the 5·a·s/h part is the
// attention scores, which FlashAttention never materializes, so it is left out.
constexpr double kActivationBytesPerLayerPerSbh16 = 34.0;

}  // namespace

const char* PrecisionName(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kFp16: return "fp16";
    case Precision::kBf16: return "bf16";
    case Precision::kInt8: return "int8";
  }
  return "?";
}

const char* OptimizerName(Optimizer o) {
  switch (o) {
    case Optimizer::kAdam: return "adam";
    case Optimizer::kSgd: return "sgd";
    case Optimizer::kNone: return "none";
  }
  return "?";
}

const char* ShardingName(Sharding s) {
  switch (s) {
    case Sharding::kNone: return "none";
    case Sharding::kZero1: return "ZeRO-1";
    case Sharding::kZero2: return "ZeRO-2";
    case Sharding::kZero3: return "ZeRO-3/FSDP";
  }
  return "?";
}

int BytesPerValue(Precision p) {
  switch (p) {
    case Precision::kFp32: return 4;
    case Precision::kFp16:
    case Precision::kBf16: return 2;
    case Precision::kInt8: return 1;
  }
  return 4;
}

int ActivationBytesPerValue(Precision p) { return p == Precision::kInt8 ? 2 : BytesPerValue(p); }

Result<BytesPerParam> BytesPerParamFor(Precision precision, Optimizer optimizer) {
  BytesPerParam b;
  b.weights = BytesPerValue(precision);
  if (optimizer == Optimizer::kNone) return b;  // inference: weights only
  if (precision == Precision::kInt8)
    return Error(ErrorCode::kInvalidArgument,
                 std::string("--precision int8 is for inference (--optimizer none): training needs gradients "
                             "and optimizer state in floating point; train with --precision bf16 (mixed "
                             "precision), then quantize to int8 for serving (--optimizer ") +
                     OptimizerName(optimizer) + " was asked)",
                 "precision");
  b.gradients = BytesPerValue(precision);  // gradients are kept in the training precision
  // Mixed precision keeps an fp32 master copy of the weights for the optimizer step (ZeRO §3.1).
  const int master = IsMixed(precision) ? 4 : 0;
  // Adam: two fp32 moments (momentum and variance); SGD with momentum: one fp32 buffer.
  const int buffers = optimizer == Optimizer::kAdam ? 8 : 4;
  b.optimizer = master + buffers;
  return b;
}

double ActivationBytes(const ModelSpec& spec) {
  if (!spec.activations) return 0;
  const ActivationShape& a = *spec.activations;
  const double sbh = static_cast<double>(a.batch) * static_cast<double>(a.seq) * static_cast<double>(a.dim);
  const double bytes = ActivationBytesPerValue(spec.precision);
  if (!a.layers) return sbh * bytes;
  return static_cast<double>(*a.layers) * kActivationBytesPerLayerPerSbh16 * sbh * (bytes / 2.0);
}

Result<MemoryParts> PerGpu(const ModelSpec& spec, int gpus, Sharding sharding) {
  if (gpus < 1) return Error(ErrorCode::kInvalidArgument, "the GPU count must be at least 1", "gpus");
  LATTICE_ASSIGN_OR_RETURN(BytesPerParam b, BytesPerParamFor(spec.precision, spec.optimizer));
  const double n = gpus;
  const int stage = static_cast<int>(sharding);
  MemoryParts m;
  m.weights = spec.params * b.weights / (stage >= 3 ? n : 1.0);
  m.gradients = spec.params * b.gradients / (stage >= 2 ? n : 1.0);
  m.optimizer = spec.params * b.optimizer / (stage >= 1 ? n : 1.0);
  m.activations = ActivationBytes(spec);
  return m;
}

std::optional<Sharding> SmallestShardingThatFits(const ModelSpec& spec, int gpus, double usable_bytes) {
  for (Sharding s : kAllShardings) {
    if (gpus == 1 && s != Sharding::kNone) break;  // nothing to shard over
    auto m = PerGpu(spec, gpus, s);
    if (m.ok() && m->total() <= usable_bytes) return s;
  }
  return std::nullopt;
}

std::optional<int> FewestGpus(const ModelSpec& spec, double usable_bytes, int max_gpus) {
  auto one = PerGpu(spec, 1, Sharding::kNone);
  if (!one.ok()) return std::nullopt;
  if (one->total() <= usable_bytes) return 1;
  const double room = usable_bytes - one->activations;
  if (room <= 0) return std::nullopt;
  const double states = one->weights + one->gradients + one->optimizer;
  const double needed = std::ceil(states / room);
  if (needed > max_gpus) return std::nullopt;
  int n = std::max(2, static_cast<int>(needed));
  // Guard against rounding at the boundary: the ZeRO-3 share must really fit.
  while (n <= max_gpus) {
    auto m = PerGpu(spec, n, Sharding::kZero3);
    if (m.ok() && m->total() <= usable_bytes) return n;
    ++n;
  }
  return std::nullopt;
}

CheckpointSize CheckpointBytes(const ModelSpec& spec) {
  CheckpointSize c;
  c.weights_only = spec.params * BytesPerValue(spec.precision);
  auto b = BytesPerParamFor(spec.precision, spec.optimizer);
  c.with_optimizer = c.weights_only + (b.ok() ? spec.params * b->optimizer : 0);
  return c;
}

}  // namespace lattice::estimate
