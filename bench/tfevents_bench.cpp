// The metric readers' benchmark tool (see tfevents_read.py).
//
//   tfevents_bench write FILE --mb N   a TensorBoard event file of about N MB
//                                      (10^6 bytes): a file-version record, then
//                                      scalars of 4 tags, simple_value and
//                                      tensor form mixed, steps increasing
//   tfevents_bench read FILE           ReadTfEventsFile, prints JSON
//                                      {"records","scalars","warnings","seconds","mb_per_s"}
//   tfevents_bench jsonl-write FILE --mb N   a metrics JSON-lines file of 3-key lines
//   tfevents_bench jsonl-read FILE     JsonlMetricsTail over 1 MiB chunks, prints JSON
//                                      {"lines","points","warnings","seconds","mb_per_s","lines_per_s"}
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/jsonl.h"
#include "metrics/tfevents.h"

namespace {

using namespace lattice::metrics;

int Usage() {
  std::cerr << "usage: tfevents_bench write FILE --mb N | read FILE | jsonl-write FILE --mb N | jsonl-read FILE\n";
  return 2;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

const char* kTags[] = {"train/loss", "train/accuracy", "lr", "val/loss"};

// Writes generated text to a file in 1 MiB pieces until about `target` bytes.
class SizedWriter {
 public:
  SizedWriter(const std::string& path, double mb)
      : f_(path, std::ios::binary | std::ios::trunc), target_(static_cast<uint64_t>(mb * 1e6)) {}
  bool open() const { return static_cast<bool>(f_); }
  bool full() const { return written_ + chunk_.size() >= target_; }
  void Add(std::string_view data) {
    chunk_.append(data);
    if (chunk_.size() > (1 << 20)) Flush();
  }
  // Bytes written, or -1 on a write error.
  int64_t Finish() {
    Flush();
    return f_.good() ? static_cast<int64_t>(written_) : -1;
  }

 private:
  void Flush() {
    f_.write(chunk_.data(), static_cast<std::streamsize>(chunk_.size()));
    written_ += chunk_.size();
    chunk_.clear();
  }
  std::ofstream f_;
  const uint64_t target_;
  uint64_t written_ = 0;
  std::string chunk_;
};

int Write(const std::string& path, double mb) {
  SizedWriter out(path, mb);
  if (!out.open()) {
    std::cerr << "cannot write " << path << "\n";
    return 1;
  }
  out.Add(EncodeFileVersionRecord(1.7e9));
  uint64_t records = 1;
  for (int64_t step = 0; !out.full(); ++step) {
    for (int t = 0; t < 4; ++t) {
      const double value = 1.0 / static_cast<double>(step + 1 + t);
      out.Add(EncodeScalarRecord(kTags[t], step, 1.7e9 + static_cast<double>(step) * 0.01, value, (step + t) % 2 == 1));
      ++records;
    }
  }
  const int64_t written = out.Finish();
  std::cout << "{\"bytes\": " << written << ", \"records\": " << records << "}\n";
  return written >= 0 ? 0 : 1;
}

int Read(const std::string& path) {
  const auto start = std::chrono::steady_clock::now();
  auto file = ReadTfEventsFile(path);
  const double seconds = Seconds(start);
  if (!file.ok()) {
    std::cerr << file.error().message << "\n";
    return 1;
  }
  std::error_code ec;
  const double bytes = static_cast<double>(std::filesystem::file_size(path, ec));
  // Scalar records hold one value each; the file-version record none.
  std::printf("{\"records\": %zu, \"scalars\": %zu, \"warnings\": %zu, \"seconds\": %.6f, \"mb_per_s\": %.1f}\n",
              file->scalars.size() + 1, file->scalars.size(), file->warnings.size(), seconds,
              bytes / 1e6 / seconds);
  return 0;
}

int JsonlWrite(const std::string& path, double mb) {
  SizedWriter out(path, mb);
  if (!out.open()) {
    std::cerr << "cannot write " << path << "\n";
    return 1;
  }
  uint64_t lines = 0;
  char line[256];
  for (int64_t step = 0; !out.full(); ++step) {
    const int n = std::snprintf(line, sizeof line, "{\"step\": %lld, \"loss\": %.6f, \"acc\": %.5f, \"lr\": %.3g}\n",
                                static_cast<long long>(step), 2.0 / static_cast<double>(step + 1),
                                1.0 - 1.0 / static_cast<double>(step + 2), 1e-3);
    out.Add(std::string_view(line, static_cast<size_t>(n)));
    ++lines;
  }
  const int64_t written = out.Finish();
  std::cout << "{\"bytes\": " << written << ", \"lines\": " << lines << "}\n";
  return written >= 0 ? 0 : 1;
}

int JsonlRead(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const auto start = std::chrono::steady_clock::now();
  JsonlMetricsTail tail(path);
  std::vector<SeriesBatch> out;
  std::vector<std::string> warnings;
  size_t points = 0;
  constexpr size_t kChunk = 1 << 20;
  for (size_t i = 0; i < data.size(); i += kChunk) {
    out.clear();
    tail.Feed(std::string_view(data).substr(i, kChunk), 1.7e9, &out, &warnings);
    for (const auto& b : out) points += b.points.size();
  }
  out.clear();
  tail.Finish(1.7e9, &out, &warnings);
  for (const auto& b : out) points += b.points.size();
  const double seconds = Seconds(start);
  const auto lines = static_cast<double>(tail.next_line() - 1);
  std::printf(
      "{\"lines\": %.0f, \"points\": %zu, \"warnings\": %zu, \"seconds\": %.6f, \"mb_per_s\": %.1f, "
      "\"lines_per_s\": %.0f}\n",
      lines, points, warnings.size(), seconds, static_cast<double>(data.size()) / 1e6 / seconds, lines / seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return Usage();
  const std::string mode = argv[1], path = argv[2];
  double mb = 100;
  for (int i = 3; i < argc; ++i) {
    if (std::strcmp(argv[i], "--mb") == 0 && i + 1 < argc) {
      mb = std::atof(argv[++i]);
    } else {
      return Usage();
    }
  }
  if (mode == "write") return Write(path, mb);
  if (mode == "read") return Read(path);
  if (mode == "jsonl-write") return JsonlWrite(path, mb);
  if (mode == "jsonl-read") return JsonlRead(path);
  return Usage();
}
