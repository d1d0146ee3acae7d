#include "metrics/tfevents.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "metrics/crc32c.h"

namespace lattice::metrics {
namespace {

using ::testing::HasSubstr;

const std::filesystem::path kTestdata = std::filesystem::path(__FILE__).parent_path() / "testdata";

// ---- hand-built protobuf, for the cases the encoder does not write ----------

std::string Varint(uint64_t v) {
  std::string s;
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
  return s;
}
std::string Tag(uint32_t field, uint32_t wire) { return Varint((field << 3) | wire); }
std::string Len(uint32_t field, const std::string& bytes) { return Tag(field, 2) + Varint(bytes.size()) + bytes; }
std::string Fixed32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string Fixed64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }

std::string EventWithValue(int64_t step, double wall_time, const std::string& value) {
  return FrameTfRecord(Tag(1, 1) + Fixed64(std::bit_cast<uint64_t>(wall_time)) + Tag(2, 0) +
                       Varint(static_cast<uint64_t>(step)) + Len(5, Len(1, value)));
}

std::string TensorValue(const std::string& tag, const std::string& tensor, const std::string& plugin = "scalars") {
  std::string v = Len(1, tag) + Len(8, tensor);
  if (!plugin.empty()) v += Len(9, Len(1, Len(1, plugin)));
  return v;
}

struct Read {
  std::vector<ScalarEvent> scalars;
  std::vector<std::string> warnings;
};

Read FeedAll(const std::string& bytes, size_t chunk = 0, bool finish = true) {
  Read r;
  TfEventsTail tail("events.test");
  if (chunk == 0) {
    tail.Feed(bytes, &r.scalars, &r.warnings);
  } else {
    for (size_t i = 0; i < bytes.size(); i += chunk)
      tail.Feed(std::string_view(bytes).substr(i, chunk), &r.scalars, &r.warnings);
  }
  if (finish) tail.Finish(&r.warnings);
  return r;
}

TEST(TfEventsTail, ReadsBothScalarFormsWrittenByTheEncoder) {
  const std::string file = EncodeFileVersionRecord(100.0) + EncodeScalarRecord("loss", 1, 101.5, 0.25, false) +
                           EncodeScalarRecord("train/acc", 2, 102.5, 0.75, true);
  const Read r = FeedAll(file);
  EXPECT_TRUE(r.warnings.empty());
  ASSERT_EQ(r.scalars.size(), 2u);
  EXPECT_EQ(r.scalars[0].tag, "loss");
  EXPECT_EQ(r.scalars[0].step, 1);
  EXPECT_EQ(r.scalars[0].wall_time, 101.5);
  EXPECT_EQ(r.scalars[0].value, 0.25);
  EXPECT_EQ(r.scalars[1].tag, "train/acc");
  EXPECT_EQ(r.scalars[1].step, 2);
  EXPECT_EQ(r.scalars[1].value, 0.75);
}

TEST(TfEventsTail, GivesTheSameResultForEveryChunkSize) {
  std::string file = EncodeFileVersionRecord(1);
  for (int i = 0; i < 20; ++i) file += EncodeScalarRecord("t" + std::to_string(i % 3), i, i, i * 0.5, i % 2 == 0);
  const Read whole = FeedAll(file);
  ASSERT_EQ(whole.scalars.size(), 20u);
  for (size_t chunk : {1, 2, 3, 7, 11, 64, 1000}) {
    const Read r = FeedAll(file, chunk);
    EXPECT_TRUE(r.warnings.empty()) << chunk;
    ASSERT_EQ(r.scalars.size(), 20u) << chunk;
    for (size_t i = 0; i < 20; ++i) {
      EXPECT_EQ(r.scalars[i].tag, whole.scalars[i].tag);
      EXPECT_EQ(r.scalars[i].step, whole.scalars[i].step);
      EXPECT_EQ(r.scalars[i].value, whole.scalars[i].value);
    }
  }
}

TEST(TfEventsTail, SkipsRecordWithBadDataCrcAndReadsTheNext) {
  const std::string first = EncodeFileVersionRecord(1);
  std::string bad = EncodeScalarRecord("loss", 1, 2, 3, false);
  bad[bad.size() - 6] ^= 0x40;  // a byte of the data (the value)
  const std::string file = first + bad + EncodeScalarRecord("loss", 2, 3, 4, false);
  const Read r = FeedAll(file);
  ASSERT_EQ(r.scalars.size(), 1u);
  EXPECT_EQ(r.scalars[0].step, 2);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], HasSubstr("events.test"));
  EXPECT_THAT(r.warnings[0], HasSubstr("byte " + std::to_string(first.size())));
  EXPECT_THAT(r.warnings[0], HasSubstr("data CRC"));
}

TEST(TfEventsTail, ResynchronisesAfterABadLengthCrc) {
  const std::string first = EncodeFileVersionRecord(1) + EncodeScalarRecord("a", 1, 1, 1, false);
  std::string bad = EncodeScalarRecord("a", 2, 2, 2, false);
  bad[0] = static_cast<char>(bad[0] + 5);  // the length: its CRC no longer checks out
  const std::string after = EncodeScalarRecord("a", 3, 3, 3, true) + EncodeScalarRecord("a", 4, 4, 4, false);
  const std::string file = first + bad + after;
  for (size_t chunk : {0, 1, 5, 4096}) {
    const Read r = FeedAll(file, chunk);
    ASSERT_EQ(r.scalars.size(), 3u) << chunk;
    EXPECT_EQ(r.scalars[0].step, 1);
    EXPECT_EQ(r.scalars[1].step, 3);
    EXPECT_EQ(r.scalars[2].step, 4);
    ASSERT_EQ(r.warnings.size(), 2u) << chunk;
    EXPECT_THAT(r.warnings[0], HasSubstr("length CRC mismatch"));
    EXPECT_THAT(r.warnings[0], HasSubstr("byte " + std::to_string(first.size())));
    EXPECT_THAT(r.warnings[1], HasSubstr("resynchronised at byte " + std::to_string(first.size() + bad.size())));
  }
}

TEST(TfEventsTail, ResynchronisesAfterGarbageInTheMiddle) {
  const std::string first = EncodeScalarRecord("a", 1, 1, 1, false);
  std::string garbage(1000, '\0');
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 31 + 7);
  const std::string file = first + garbage + EncodeScalarRecord("a", 2, 2, 2, false);
  const Read r = FeedAll(file, 100);
  ASSERT_EQ(r.scalars.size(), 2u);
  EXPECT_EQ(r.scalars[1].step, 2);
  EXPECT_EQ(r.warnings.size(), 2u);
}

TEST(TfEventsTail, DiscardsGarbageInsteadOfBufferingIt) {
  TfEventsTail tail("events.test");
  std::vector<ScalarEvent> out;
  std::vector<std::string> warnings;
  std::string garbage(1 << 16, '\x5a');
  for (int i = 0; i < 64; ++i) tail.Feed(garbage, &out, &warnings);  // 4 MiB of it
  EXPECT_LT(tail.buffered(), 12u);
  EXPECT_EQ(tail.consumed() + tail.buffered(), 64u << 16);
  EXPECT_EQ(warnings.size(), 1u);  // one for the whole damaged stretch
  tail.Feed(EncodeScalarRecord("a", 7, 1, 1, false), &out, &warnings);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].step, 7);
  EXPECT_THAT(warnings.back(), HasSubstr("resynchronised"));
}

TEST(TfEventsTail, TreatsAnImplausibleLengthAsDamage) {
  std::string header = Fixed64(kMaxTfRecordBytes + 1);
  header += Fixed32(MaskCrc(Crc32c(header)));
  const Read r = FeedAll(header + EncodeScalarRecord("a", 1, 1, 1, false));
  ASSERT_EQ(r.scalars.size(), 1u);
  EXPECT_THAT(r.warnings.at(0), HasSubstr("implausible length"));
}

TEST(TfEventsTail, KeepsAnIncompleteTailBufferedUntilTheRestArrives) {
  const std::string a = EncodeFileVersionRecord(1) + EncodeScalarRecord("a", 1, 1, 1, false);
  const std::string b = EncodeScalarRecord("a", 2, 2, 2, false);
  TfEventsTail tail("events.test");
  std::vector<ScalarEvent> out;
  std::vector<std::string> warnings;
  tail.Feed(a + b.substr(0, 10), &out, &warnings);
  EXPECT_EQ(out.size(), 1u);
  EXPECT_EQ(tail.consumed(), a.size());
  tail.Feed(b.substr(10, 5), &out, &warnings);
  EXPECT_EQ(tail.consumed(), a.size());
  tail.Feed(b.substr(15), &out, &warnings);
  EXPECT_TRUE(warnings.empty());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(tail.consumed(), a.size() + b.size());
}

TEST(TfEventsTail, FinishWarnsAboutATruncatedTail) {
  const std::string a = EncodeScalarRecord("a", 1, 1, 1, false);
  const std::string b = EncodeScalarRecord("a", 2, 2, 2, false);
  const Read r = FeedAll(a + b.substr(0, b.size() - 3));
  ASSERT_EQ(r.scalars.size(), 1u);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], HasSubstr("truncated tail of " + std::to_string(b.size() - 3) + " bytes at byte " +
                                       std::to_string(a.size())));
}

TEST(TfEventsTail, ResumesFromConsumedOffset) {
  const std::string a = EncodeScalarRecord("a", 1, 1, 1, false);
  const std::string b = EncodeScalarRecord("a", 2, 2, 2, false);
  TfEventsTail first("events.test");
  std::vector<ScalarEvent> out;
  std::vector<std::string> warnings;
  first.Feed(a + b.substr(0, 4), &out, &warnings);
  TfEventsTail second("events.test", first.consumed());
  const std::string file = a + b;
  second.Feed(std::string_view(file).substr(first.consumed()), &out, &warnings);
  second.Finish(&warnings);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].step, 2);
  EXPECT_EQ(second.consumed(), file.size());
  EXPECT_TRUE(warnings.empty());
}

TEST(TfEventsTail, WarnsAboutMalformedProtobufInsideACrcValidRecord) {
  const std::vector<std::string> bad = {
      Tag(5, 2) + Varint(100) + "short",                   // length past the end
      Tag(2, 0) + std::string(11, '\xff'),                 // overlong varint
      Tag(2, 0) + std::string(9, '\xff') + "\x02",         // varint past 64 bits
      Tag(7, 3) + Tag(7, 4),                               // group wire types
      Tag(7, 6),                                           // invalid wire type
      std::string(1, '\x00'),                              // field number 0
      Len(5, Len(1, Len(8, Tag(5, 2) + Varint(3) + "abc"))),  // packed floats of 3 bytes
  };
  for (const std::string& data : bad) {
    const Read r = FeedAll(FrameTfRecord(data) + EncodeScalarRecord("ok", 9, 1, 1, false));
    ASSERT_EQ(r.scalars.size(), 1u);
    EXPECT_EQ(r.scalars[0].tag, "ok");
    ASSERT_EQ(r.warnings.size(), 1u);
    EXPECT_THAT(r.warnings[0], HasSubstr("malformed event"));
    EXPECT_THAT(r.warnings[0], HasSubstr("record at byte 0"));
  }
}

TEST(TfEventsTail, DropsTheWholeEventWhenPartOfItIsMalformed) {
  const std::string good_value = Len(1, "a") + Tag(2, 5) + Fixed32(std::bit_cast<uint32_t>(1.0f));
  const std::string data = Len(5, Len(1, good_value) + Len(1, Len(1, "b") + Tag(2, 5) + "xx"));
  const Read r = FeedAll(FrameTfRecord(data));
  EXPECT_TRUE(r.scalars.empty());
  EXPECT_EQ(r.warnings.size(), 1u);
}

TEST(TfEventsTail, SkipsUnknownFieldsOfEveryWireType) {
  const std::string value = Tag(15, 0) + Varint(12345) + Len(1, "x") + Tag(16, 1) + Fixed64(1) + Tag(17, 5) +
                            Fixed32(2) + Len(18, "junk") + Tag(2, 5) + Fixed32(std::bit_cast<uint32_t>(2.5f));
  const std::string data = Tag(99, 2) + Varint(3) + "abc" + Tag(2, 0) + Varint(5) + Len(5, Len(1, value));
  const Read r = FeedAll(FrameTfRecord(data));
  EXPECT_TRUE(r.warnings.empty());
  ASSERT_EQ(r.scalars.size(), 1u);
  EXPECT_EQ(r.scalars[0].tag, "x");
  EXPECT_EQ(r.scalars[0].step, 5);
  EXPECT_EQ(r.scalars[0].value, 2.5);
}

TEST(TfEventsTail, ReadsEveryNumericTensorEncodingOfAScalar) {
  const std::string dim1 = Len(2, Len(2, Tag(1, 0) + Varint(1)));  // shape [1]
  struct Case {
    std::string tensor;
    double value;
  };
  double d = -3.5;
  const float f = 1.25f;
  const int64_t i64 = -42;
  const int32_t i32 = 77;
  const std::vector<Case> cases = {
      {Tag(1, 0) + Varint(1) + Len(5, Fixed32(std::bit_cast<uint32_t>(f))), 1.25},  // packed float_val
      {Tag(1, 0) + Varint(1) + Tag(5, 5) + Fixed32(std::bit_cast<uint32_t>(f)), 1.25},  // unpacked
      {Tag(1, 0) + Varint(1) + dim1 + Len(4, Fixed32(std::bit_cast<uint32_t>(f))), 1.25},  // tensor_content
      {Tag(1, 0) + Varint(2) + Len(6, Fixed64(std::bit_cast<uint64_t>(d))), -3.5},
      {Tag(1, 0) + Varint(2) + Tag(6, 1) + Fixed64(std::bit_cast<uint64_t>(d)), -3.5},
      {Tag(1, 0) + Varint(2) + Len(4, Fixed64(std::bit_cast<uint64_t>(d))), -3.5},
      {Tag(1, 0) + Varint(3) + Len(7, Varint(77)), 77},
      {Tag(1, 0) + Varint(3) + Tag(7, 0) + Varint(static_cast<uint64_t>(-5)), -5},
      {Tag(1, 0) + Varint(3) + Len(4, std::string(reinterpret_cast<const char*>(&i32), 4)), 77},
      {Tag(1, 0) + Varint(9) + Len(10, Varint(static_cast<uint64_t>(i64))), -42},
      {Tag(1, 0) + Varint(9) + Len(4, std::string(reinterpret_cast<const char*>(&i64), 8)), -42},
      {Tag(1, 0) + Varint(19) + Len(13, Varint(0x3e00)), 1.5},     // half 1.5
      {Tag(1, 0) + Varint(19) + Len(4, std::string("\x00\xbc", 2)), -1.0},  // half -1.0, content
      {Tag(1, 0) + Varint(14) + Len(13, Varint(0x3fc0)), 1.5},     // bfloat16 1.5
      {Tag(1, 0) + Varint(14) + Len(4, std::string("\x20\x40", 2)), 2.5},  // bfloat16 2.5, content
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const Read r = FeedAll(EventWithValue(4, 9, TensorValue("t", cases[i].tensor)));
    EXPECT_TRUE(r.warnings.empty()) << i;
    ASSERT_EQ(r.scalars.size(), 1u) << i;
    EXPECT_EQ(r.scalars[0].value, cases[i].value) << i;
    EXPECT_EQ(r.scalars[0].step, 4);
  }
}

TEST(TfEventsTail, SkipsNonScalarValuesSilently) {
  const std::string two = Len(2, Len(2, Tag(1, 0) + Varint(2)));
  const std::vector<std::string> values = {
      TensorValue("vec", Tag(1, 0) + Varint(1) + two + Len(5, Fixed32(0) + Fixed32(0))),  // shape [2]
      TensorValue("two", Tag(1, 0) + Varint(1) + Len(5, Fixed32(0) + Fixed32(0))),        // two values
      TensorValue("str", Tag(1, 0) + Varint(7) + Len(8, "hello"), "text"),               // DT_STRING
      TensorValue("hist", Tag(1, 0) + Varint(2) + Len(6, Fixed64(0)), "histograms"),      // other plugin
      TensorValue("unk", Tag(1, 0) + Varint(1) + Len(2, Tag(3, 0) + Varint(1)) + Len(5, Fixed32(0))),
      Len(1, "img") + Len(4, Tag(1, 0) + Varint(1)),  // an image
      Len(1, "hist_old") + Len(5, Tag(1, 1) + Fixed64(0)),  // a histogram
  };
  for (const std::string& v : values) {
    const Read r = FeedAll(EventWithValue(1, 1, v) + EncodeScalarRecord("ok", 2, 2, 2, false));
    EXPECT_TRUE(r.warnings.empty());
    ASSERT_EQ(r.scalars.size(), 1u);
    EXPECT_EQ(r.scalars[0].tag, "ok");
  }
}

TEST(TfEventsTail, RemembersNonScalarPluginTagsWhoseLaterValuesLackMetadata) {
  const std::string tensor = Tag(1, 0) + Varint(1) + Len(5, Fixed32(0));
  const Read r = FeedAll(EventWithValue(1, 1, TensorValue("custom", tensor, "myplugin")) +
                         EventWithValue(2, 2, TensorValue("custom", tensor, "")));
  EXPECT_TRUE(r.scalars.empty());
}

TEST(TfEventsTail, KeepsNonFiniteValues) {
  const Read r = FeedAll(EncodeScalarRecord("a", 1, 1, std::nan(""), false) +
                         EncodeScalarRecord("a", 2, 1, -HUGE_VAL, true));
  ASSERT_EQ(r.scalars.size(), 2u);
  EXPECT_TRUE(std::isnan(r.scalars[0].value));
  EXPECT_EQ(r.scalars[1].value, -HUGE_VAL);
}

TEST(ReadTfEventsFile, ReadsTheLossOfARealPyTorchLightningFile) {
  // Written by Lightning's TensorBoardLogger (torch.utils.tensorboard).
  const Result<TfEventsFile> file = ReadTfEventsFile(kTestdata / "lightning.tfevents");
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_TRUE(file->warnings.empty());
  std::vector<ScalarEvent> loss;
  for (const auto& s : file->scalars)
    if (s.tag == "loss") loss.push_back(s);
  ASSERT_EQ(loss.size(), 16u);
  ASSERT_EQ(file->scalars.size(), 32u);  // and 16 of "epoch"
  EXPECT_EQ(loss[0].step, 0);
  EXPECT_FLOAT_EQ(static_cast<float>(loss[0].value), 1.814255714416504f);
  EXPECT_NEAR(loss[0].wall_time, 1795666003.3560104, 1e-6);
  EXPECT_EQ(loss[15].step, 15);
  EXPECT_FLOAT_EQ(static_cast<float>(loss[15].value), 1.1988545656204224f);
}

TEST(ReadTfEventsFile, ReadsTorchNewStyleTensorScalarsAndSkipsText) {
  // SummaryWriter: add_scalar('x', 1.5, 3, new_style=True), ('x', -2.25, 4,
  // new_style=True), add_scalar('y', 7.0, 5), add_text('t', 'hello', 5).
  const Result<TfEventsFile> file = ReadTfEventsFile(kTestdata / "torch_tensor.tfevents");
  ASSERT_TRUE(file.ok()) << file.error().message;
  EXPECT_TRUE(file->warnings.empty());
  ASSERT_EQ(file->scalars.size(), 3u);
  EXPECT_EQ(file->scalars[0].tag, "x");
  EXPECT_EQ(file->scalars[0].step, 3);
  EXPECT_EQ(file->scalars[0].value, 1.5);
  EXPECT_EQ(file->scalars[1].value, -2.25);
  EXPECT_EQ(file->scalars[2].tag, "y");
  EXPECT_EQ(file->scalars[2].value, 7.0);
}

TEST(ReadTfEventsFile, FailsWithNotFoundForAMissingFile) {
  const Result<TfEventsFile> file = ReadTfEventsFile(kTestdata / "no-such-file");
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(file.error().message, HasSubstr("no-such-file"));
}

TEST(ReadTfEventsFile, ReadsAWrittenFileWithATruncatedTail) {
  const auto path = std::filesystem::temp_directory_path() / ("tfevents_test_" + std::to_string(::getpid()));
  std::string bytes = EncodeFileVersionRecord(1);
  for (int i = 0; i < 1000; ++i) bytes += EncodeScalarRecord("m", i, i, i, i % 2 == 1);
  bytes += EncodeScalarRecord("m", 1000, 0, 0, false).substr(0, 20);
  std::ofstream(path, std::ios::binary) << bytes;
  const Result<TfEventsFile> file = ReadTfEventsFile(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->scalars.size(), 1000u);
  EXPECT_EQ(file->scalars[999].value, 999);
  ASSERT_EQ(file->warnings.size(), 1u);
  EXPECT_THAT(file->warnings[0], HasSubstr("truncated tail of 20 bytes"));
}

}  // namespace
}  // namespace lattice::metrics
