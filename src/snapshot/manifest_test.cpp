#include "snapshot/manifest.h"

#include <gtest/gtest.h>

#include <string>

namespace lattice::snapshot {
namespace {

const std::string kA(64, 'a');
const std::string kB = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

Manifest Sample() {
  Manifest m;
  m.file_count = 3;
  m.total_bytes = 123456;
  m.chunks = {{kA, 1000, 65536}, {kB, 20, 16384}, {kA, 1000, 65536}};
  return m;
}

std::string Text(const std::string& chunk_lines, const std::string& count = "1") {
  return "lattice-snapshot-v2\nfiles 1\nbytes 5\nchunks " + count + "\n" + chunk_lines;
}

void ExpectBad(const std::string& text, const std::string& needle) {
  auto m = ParseManifest(text);
  ASSERT_FALSE(m.ok()) << text;
  EXPECT_EQ(m.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(m.error().message.find(needle), std::string::npos) << m.error().message;
}

TEST(Manifest, FormatIsTheDocumentedText) {
  EXPECT_EQ(FormatManifest(Sample()),
            "lattice-snapshot-v2\nfiles 3\nbytes 123456\nchunks 3\n" + kA + " 1000 65536\n" + kB +
                " 20 16384\n" + kA + " 1000 65536\n");
}

TEST(Manifest, RoundTrips) {
  const std::string text = FormatManifest(Sample());
  auto parsed = ParseManifest(text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ(*parsed, Sample());
  EXPECT_EQ(FormatManifest(*parsed), text);
  EXPECT_EQ(parsed->StreamBytes(), 65536u * 2 + 16384u);
  EXPECT_EQ(parsed->DistinctChunks(), (std::vector<std::string>{kA, kB}));
}

TEST(Manifest, SomethingElseEntirelyIsRefusedClearly) {
  ExpectBad("", "not a snapshot manifest");
  ExpectBad("hello\n", "not a snapshot manifest: the first line is not 'lattice-snapshot-v2'");
  ExpectBad(std::string("\x28\xb5\x2f\xfd\x04\x00", 6), "a snapshot from an older lattice");
  ExpectBad("lattice-snapshot-v3\n", "not a snapshot manifest");
  ExpectBad("lattice-snapshot-v2", "does not end with a newline");
}

TEST(Manifest, HeaderMustBeExact) {
  ExpectBad("lattice-snapshot-v2\n", "line 2: missing; expected 'files <number>'");
  ExpectBad("lattice-snapshot-v2\nbytes 5\nfiles 1\nchunks 1\n", "line 2: expected 'files <number>'");
  ExpectBad("lattice-snapshot-v2\nfiles 01\nbytes 5\nchunks 1\n", "line 2");
  ExpectBad("lattice-snapshot-v2\nfiles +1\nbytes 5\nchunks 1\n", "line 2");
  ExpectBad("lattice-snapshot-v2\nfiles  1\nbytes 5\nchunks 1\n", "line 2");
  ExpectBad("lattice-snapshot-v2\nfiles 1\nbytes 99999999999999999999\nchunks 1\n", "line 3");
  ExpectBad("lattice-snapshot-v2\r\nfiles 1\n", "not a snapshot manifest");
  ExpectBad(Text("", "0"), "at least one chunk");
}

TEST(Manifest, ChunkLinesMustBeExact) {
  ExpectBad(Text(kA + " 10 100"), "line 5: does not end with a newline");
  ExpectBad(Text(""), "line 5: missing; the manifest announced 1 chunks and lists 0");
  ExpectBad(Text(kA + " 10 100\n" + kB + " 10 100\n"), "line 6: unexpected text after the last chunk");
  ExpectBad(Text(kA + " 10 100\n\n"), "line 6: unexpected text");
  ExpectBad(Text(std::string(64, 'A') + " 10 100\n"), "not a lowercase hex SHA-256");
  ExpectBad(Text(kA.substr(1) + " 10 100\n"), "not a lowercase hex SHA-256");
  ExpectBad(Text(kA + " 10\n"), "expected '<sha256> <compressed size> <raw size>'");
  ExpectBad(Text(kA + " 10 100 7\n"), "decimal sizes");
  ExpectBad(Text(kA + " 010 100\n"), "decimal sizes");
  ExpectBad(Text(kA + " -1 100\n"), "decimal sizes");
  ExpectBad(Text(kA + " 10 0\n"), "raw size 0 is outside");
  ExpectBad(Text(kA + " 10 " + std::to_string(kMaxManifestChunkRaw + 1) + "\n"), "raw size");
  ExpectBad(Text(kA + " 0 100\n"), "compressed size 0 is outside");
  ExpectBad(Text(kA + " " + std::to_string(kMaxManifestChunkCompressed + 1) + " 100\n"),
            "compressed size");
  ExpectBad(Text(kA + " 10 100\n" + kA + " 11 100\n", "2"), "listed again with other sizes");
}

TEST(Manifest, ChunkCountOverTheLimitIsResourceExhausted) {
  ManifestLimits limits;
  limits.max_chunks = 2;
  auto m = ParseManifest(Text(kA + " 10 100\n", "3"), limits);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(m.error().message.find("over the limit of 2"), std::string::npos);
  // Refused from the header: nothing is allocated for a count it announces.
  auto huge = ParseManifest(Text("", "9999999999999"));
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.error().code, ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace lattice::snapshot
