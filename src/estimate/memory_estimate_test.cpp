// The formulas against figures published in their sources (docs/estimates.md).
#include "estimate/memory_estimate.h"

#include <gtest/gtest.h>

namespace lattice::estimate {
namespace {

constexpr double kGB = 1e9;  // the papers count decimal gigabytes

ModelSpec Mixed(double params) { return ModelSpec{params, Precision::kFp16, Optimizer::kAdam, std::nullopt}; }

double States(const MemoryParts& m) { return m.weights + m.gradients + m.optimizer; }

TEST(MemoryEstimateTest, ZeroGpt2OnePointFiveBillionNeeds24GbOfModelStates) {
  // ZeRO §3.1: "a 1.5B parameter GPT-2 model ... requires at least 24 GB of memory" (16Ψ bytes under
  // mixed-precision Adam), against 3 GB for its fp16 weights alone.
  auto m = PerGpu(Mixed(1.5e9), 1, Sharding::kNone);
  ASSERT_TRUE(m.ok());
  EXPECT_DOUBLE_EQ(States(*m), 24 * kGB);
  EXPECT_DOUBLE_EQ(m->weights, 3 * kGB);
  EXPECT_DOUBLE_EQ(m->activations, 0);
}

TEST(MemoryEstimateTest, ZeroFigure1PerGpuFiguresForSevenAndAHalfBillionOver64Gpus) {
  // ZeRO Figure 1: Ψ = 7.5B, Nd = 64, K = 12: baseline 120 GB, Pos 31.4 GB, Pos+g 16.6 GB, Pos+g+p 1.9 GB.
  const ModelSpec spec = Mixed(7.5e9);
  auto at = [&](Sharding s) { return States(*PerGpu(spec, 64, s)) / kGB; };
  EXPECT_DOUBLE_EQ(at(Sharding::kNone), 120.0);
  EXPECT_NEAR(at(Sharding::kZero1), 31.4, 0.05);
  EXPECT_NEAR(at(Sharding::kZero2), 16.6, 0.05);
  EXPECT_NEAR(at(Sharding::kZero3), 1.9, 0.05);
}

TEST(MemoryEstimateTest, BytesPerParameterOfEachPrecisionAndOptimizer) {
  auto b = [](Precision p, Optimizer o) { return *BytesPerParamFor(p, o); };
  // Mixed precision Adam: 2 + 2 + (4 master + 4 momentum + 4 variance) = 16.
  EXPECT_EQ(b(Precision::kBf16, Optimizer::kAdam).weights, 2);
  EXPECT_EQ(b(Precision::kBf16, Optimizer::kAdam).gradients, 2);
  EXPECT_EQ(b(Precision::kBf16, Optimizer::kAdam).optimizer, 12);
  EXPECT_EQ(b(Precision::kFp16, Optimizer::kAdam).total(), 16);
  // fp32 Adam: 4 + 4 + 8: no master copy, the weights are already fp32.
  EXPECT_EQ(b(Precision::kFp32, Optimizer::kAdam).total(), 16);
  EXPECT_EQ(b(Precision::kFp32, Optimizer::kAdam).optimizer, 8);
  // SGD with momentum: one fp32 buffer, plus the master copy under mixed precision.
  EXPECT_EQ(b(Precision::kFp32, Optimizer::kSgd).total(), 12);
  EXPECT_EQ(b(Precision::kBf16, Optimizer::kSgd).optimizer, 8);
  // Inference: weights only.
  EXPECT_EQ(b(Precision::kBf16, Optimizer::kNone).total(), 2);
  EXPECT_EQ(b(Precision::kInt8, Optimizer::kNone).total(), 1);
  EXPECT_EQ(b(Precision::kFp32, Optimizer::kNone).gradients, 0);
}

TEST(MemoryEstimateTest, Int8TrainingIsRefusedWithWhatToDoInstead) {
  for (Optimizer o : {Optimizer::kAdam, Optimizer::kSgd}) {
    auto b = BytesPerParamFor(Precision::kInt8, o);
    ASSERT_FALSE(b.ok());
    EXPECT_NE(b.error().message.find("--optimizer none"), std::string::npos) << b.error().message;
    EXPECT_NE(b.error().message.find("bf16"), std::string::npos) << b.error().message;
    EXPECT_EQ(b.error().field, "precision");
  }
}

TEST(MemoryEstimateTest, SevenBillionInFp16IsFourteenGbOfWeights) {
  ModelSpec spec{7e9, Precision::kFp16, Optimizer::kNone, std::nullopt};
  EXPECT_DOUBLE_EQ(PerGpu(spec, 1, Sharding::kNone)->total(), 14 * kGB);
  EXPECT_DOUBLE_EQ(PerGpu(Mixed(7e9), 1, Sharding::kNone)->total(), 112 * kGB);
}

TEST(MemoryEstimateTest, CheckpointDiskSeventyBillionIs140GbIn16BitAnd280GbIn32Bit) {
  // Lambda's figures: 70B parameters take ~140 GB in 16-bit and ~280 GB in 32-bit.
  ModelSpec bf16{70e9, Precision::kBf16, Optimizer::kAdam, std::nullopt};
  ModelSpec fp32{70e9, Precision::kFp32, Optimizer::kAdam, std::nullopt};
  EXPECT_DOUBLE_EQ(CheckpointBytes(bf16).weights_only, 140 * kGB);
  EXPECT_DOUBLE_EQ(CheckpointBytes(fp32).weights_only, 280 * kGB);
  // To resume: the fp32 master copy and both moments too (2 + 12 bytes; fp32: 4 + 8).
  EXPECT_DOUBLE_EQ(CheckpointBytes(bf16).with_optimizer, 70e9 * 14);
  EXPECT_DOUBLE_EQ(CheckpointBytes(fp32).with_optimizer, 70e9 * 12);
  ModelSpec serving{70e9, Precision::kInt8, Optimizer::kNone, std::nullopt};
  EXPECT_DOUBLE_EQ(CheckpointBytes(serving).weights_only, 70 * kGB);
  EXPECT_DOUBLE_EQ(CheckpointBytes(serving).with_optimizer, 70 * kGB);
}

TEST(MemoryEstimateTest, ActivationsSimpleFormulaAndPerLayerRefinement) {
  ModelSpec spec = Mixed(7e9);
  spec.activations = ActivationShape{8, 2048, 4096, std::nullopt};
  // batch × seq × dim × 2 bytes.
  EXPECT_DOUBLE_EQ(ActivationBytes(spec), 8.0 * 2048 * 4096 * 2);
  // Korthikanti et al. §4.1: 34·s·b·h bytes per layer in 16-bit.
  spec.activations->layers = 32;
  EXPECT_DOUBLE_EQ(ActivationBytes(spec), 32 * 34.0 * 8 * 2048 * 4096);
  // fp32 activations take twice the bytes.
  spec.precision = Precision::kFp32;
  EXPECT_DOUBLE_EQ(ActivationBytes(spec), 2 * 32 * 34.0 * 8 * 2048 * 4096);
  // Activations are per GPU: ZeRO does not shard them.
  EXPECT_DOUBLE_EQ(PerGpu(spec, 8, Sharding::kZero3)->activations, ActivationBytes(spec));
}

TEST(MemoryEstimateTest, StageFormulasForFp32AndInference) {
  ModelSpec fp32{1e9, Precision::kFp32, Optimizer::kAdam, std::nullopt};
  // 4Ψ + 4Ψ + 8Ψ/N, 4Ψ + 12Ψ/N, 16Ψ/N
  EXPECT_DOUBLE_EQ(States(*PerGpu(fp32, 4, Sharding::kZero1)), 1e9 * (4 + 4 + 2));
  EXPECT_DOUBLE_EQ(States(*PerGpu(fp32, 4, Sharding::kZero2)), 1e9 * (4 + 3));
  EXPECT_DOUBLE_EQ(States(*PerGpu(fp32, 4, Sharding::kZero3)), 1e9 * 4);
  ModelSpec serve{1e9, Precision::kBf16, Optimizer::kNone, std::nullopt};
  EXPECT_DOUBLE_EQ(States(*PerGpu(serve, 4, Sharding::kZero2)), 2e9);
  EXPECT_DOUBLE_EQ(States(*PerGpu(serve, 4, Sharding::kZero3)), 0.5e9);
  EXPECT_FALSE(PerGpu(serve, 0, Sharding::kNone).ok());
}

TEST(MemoryEstimateTest, SmallestShardingAndFewestGpus) {
  const ModelSpec spec = Mixed(7e9);  // 112 GB of model states
  EXPECT_EQ(SmallestShardingThatFits(spec, 1, 200 * kGB), Sharding::kNone);
  EXPECT_EQ(SmallestShardingThatFits(spec, 1, 100 * kGB), std::nullopt);
  // Over 8 GPUs: ZeRO-1 = 14 + 14 + 84/8 = 38.5 GB, ZeRO-2 = 14 + 98/8 = 26.25 GB, ZeRO-3 = 14 GB.
  EXPECT_EQ(SmallestShardingThatFits(spec, 8, 40 * kGB), Sharding::kZero1);
  EXPECT_EQ(SmallestShardingThatFits(spec, 8, 30 * kGB), Sharding::kZero2);
  EXPECT_EQ(SmallestShardingThatFits(spec, 8, 20 * kGB), Sharding::kZero3);
  EXPECT_EQ(SmallestShardingThatFits(spec, 8, 10 * kGB), std::nullopt);
  EXPECT_EQ(FewestGpus(spec, 200 * kGB, 64), 1);
  EXPECT_EQ(FewestGpus(spec, 72 * kGB, 64), 2);   // 112 / 72 -> 2 with ZeRO-3
  EXPECT_EQ(FewestGpus(spec, 21.6 * kGB, 64), 6);  // 112 / 21.6 = 5.2 -> 6
  EXPECT_EQ(FewestGpus(spec, 1 * kGB, 64), std::nullopt);  // would take 112
  ModelSpec huge_batch = spec;
  huge_batch.activations = ActivationShape{64, 8192, 8192, 80};  // activations alone exceed a GPU
  EXPECT_EQ(FewestGpus(huge_batch, 72 * kGB, 4096), std::nullopt);
}

}  // namespace
}  // namespace lattice::estimate
