// How much GPU memory a training (or inference) needs, and how much disk its
// checkpoints take. Pure arithmetic after ZeRO (Rajbhandari et al.,
// arXiv:1910.02054, §3.1) for model states and Korthikanti et al.
// (arXiv:2205.05198, §4.1) for activations; docs/estimates.md gives every
// formula with its source and the published figures the tests check.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"

namespace lattice::estimate {

enum class Precision { kFp32, kFp16, kBf16, kInt8 };
enum class Optimizer { kAdam, kSgd, kNone };  // kNone: inference, no gradients

const char* PrecisionName(Precision p);
const char* OptimizerName(Optimizer o);

// How a training is spread over data-parallel GPUs. kNone is plain DDP
// (every GPU holds the whole model state); ZeRO stage 3 is what PyTorch FSDP
// calls FULL_SHARD.
enum class Sharding { kNone = 0, kZero1 = 1, kZero2 = 2, kZero3 = 3 };
constexpr std::array<Sharding, 4> kAllShardings = {Sharding::kNone, Sharding::kZero1, Sharding::kZero2,
                                                   Sharding::kZero3};
// "none", "ZeRO-1", "ZeRO-2", "ZeRO-3/FSDP"
const char* ShardingName(Sharding s);

// Activations of one micro-batch on one GPU. Without `layers`: the simple
// batch × seq × dim × bytes practitioners use (one layer's input). With it:
// ~34·s·b·h bytes per transformer layer in 16-bit (Korthikanti et al. §4.1,
// without the attention-score term that FlashAttention removes).
struct ActivationShape {
  uint64_t batch = 0;  // per GPU (a micro-batch): ZeRO shards model states, not activations
  uint64_t seq = 0;
  uint64_t dim = 0;
  std::optional<uint64_t> layers;
};

struct ModelSpec {
  double params = 0;  // Ψ
  Precision precision = Precision::kBf16;
  Optimizer optimizer = Optimizer::kAdam;
  std::optional<ActivationShape> activations;
};

// Bytes per parameter of each part of the model state.
struct BytesPerParam {
  int weights = 0;
  int gradients = 0;
  int optimizer = 0;  // K in the ZeRO paper: fp32 master copy (mixed precision) + optimizer buffers
  int total() const { return weights + gradients + optimizer; }
};

struct MemoryParts {
  double weights = 0, gradients = 0, optimizer = 0, activations = 0;  // bytes
  double total() const { return weights + gradients + optimizer + activations; }
};

// int8 training with Adam or SGD is refused, with what to use instead.
Result<BytesPerParam> BytesPerParamFor(Precision precision, Optimizer optimizer);
int BytesPerValue(Precision precision);  // fp32 4, fp16/bf16 2, int8 1
// The bytes of one activation value: the training precision; int8 models
// (weight-only quantization) compute in 16 bits.
int ActivationBytesPerValue(Precision precision);

// Activations of one GPU, in bytes; 0 without a shape.
double ActivationBytes(const ModelSpec& spec);

// Per-GPU memory over `gpus` data-parallel GPUs with the given sharding
// (ZeRO §3.1 / Figure 1): stage 1 shards the optimizer state, stage 2 also
// the gradients, stage 3 also the weights. Activations are not sharded.
Result<MemoryParts> PerGpu(const ModelSpec& spec, int gpus, Sharding sharding);

// The smallest sharding whose per-GPU total fits `usable_bytes` on `gpus`
// GPUs; nullopt when even ZeRO-3 does not.
std::optional<Sharding> SmallestShardingThatFits(const ModelSpec& spec, int gpus, double usable_bytes);

// The fewest GPUs on which the model fits `usable_bytes` each, with ZeRO-3
// when one GPU is not enough; nullopt when activations alone do not fit or
// it would take more than max_gpus.
std::optional<int> FewestGpus(const ModelSpec& spec, double usable_bytes, int max_gpus);

struct CheckpointSize {
  double weights_only = 0;     // Ψ × bytes of the precision
  double with_optimizer = 0;   // + the optimizer state (fp32 master and moments) to resume training
};
CheckpointSize CheckpointBytes(const ModelSpec& spec);

}  // namespace lattice::estimate
