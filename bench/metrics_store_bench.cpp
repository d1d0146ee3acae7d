// metrics_store_bench: how fast metrics::MetricsStore ingests and downsamples,
// and how fast the LTP1 codec decodes. Prints one JSON object per line.
//
//   metrics_store_bench                  full run (in $TMPDIR or /tmp)
//   metrics_store_bench --smoke          a tiny run that only checks it works
//   metrics_store_bench --dir DIR        put the stores under DIR (pick the disk)
//
// Targets (the metrics storage issue): Append of 10,000-point batches over
// 10 keys with fsync on >= 1,000,000 points/s on one core; Read of a
// 1,000,000-point series to 1,000 points with kMinMax <= 20 ms.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "metrics/downsample.h"
#include "metrics/points_codec.h"
#include "metrics/series_store.h"

namespace {

using namespace lattice::metrics;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::filesystem::path MakeDir(const std::string& base) {
  std::string tmpl = base + "/lattice-metrics-bench-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::exit(2);
  }
  return tmpl;
}

std::vector<SeriesBatch> Batch(size_t keys, size_t points, int64_t first_step) {
  std::vector<SeriesBatch> batch(keys);
  for (size_t k = 0; k < keys; ++k) {
    batch[k].key = "train/metric_" + std::to_string(k);
    batch[k].points.resize(points / keys);
    for (size_t i = 0; i < batch[k].points.size(); ++i) {
      const int64_t step = first_step + static_cast<int64_t>(i);
      batch[k].points[i] = {step, 1.7e9 + static_cast<double>(step) * 0.01,
                            std::sin(static_cast<double>(step) * 1e-3) + static_cast<double>(k)};
    }
  }
  return batch;
}

bool BenchAppend(const std::string& base, bool fsync, size_t batch_points, size_t keys, size_t total) {
  const auto dir = MakeDir(base);
  bool ok = true;
  {
    MetricsStore store(dir, MetricsStoreOptions{.fsync = fsync});
    if (!store.Init().ok()) return false;
    // Batches are prepared up front: the timed part is the store alone.
    const size_t n = std::max<size_t>(1, total / batch_points);
    std::vector<std::vector<SeriesBatch>> batches;
    for (size_t b = 0; b < n; ++b) batches.push_back(Batch(keys, batch_points, static_cast<int64_t>(b * batch_points / keys)));
    uint64_t off = 0;
    const auto t0 = Clock::now();
    for (const auto& b : batches) {
      auto r = store.Append("1", 1, off, off + 1, b);
      if (!r.ok()) {
        std::fprintf(stderr, "append failed: %s\n", r.error().message.c_str());
        ok = false;
        break;
      }
      off = *r;
    }
    const double secs = Seconds(t0);
    const double points = static_cast<double>(n * (batch_points / keys) * keys);
    std::printf(
        "{\"bench\":\"append\",\"fsync\":%s,\"batch_points\":%zu,\"keys\":%zu,\"points\":%.0f,\"seconds\":%.4f,"
        "\"points_per_s\":%.0f,\"appends_per_s\":%.1f}\n",
        fsync ? "true" : "false", batch_points, keys, points, secs, points / secs, static_cast<double>(n) / secs);
  }
  std::filesystem::remove_all(dir);
  return ok;
}

bool BenchRead(const std::string& base, size_t points, size_t max_points, int runs) {
  const auto dir = MakeDir(base);
  std::vector<Point> raw;
  {
    MetricsStore store(dir, MetricsStoreOptions{.fsync = false});
    if (!store.Init().ok()) return false;
    uint64_t off = 0;
    for (size_t done = 0; done < points;) {
      const size_t n = std::min<size_t>(100000, points - done);
      auto b = Batch(1, n, static_cast<int64_t>(done));
      raw.insert(raw.end(), b[0].points.begin(), b[0].points.end());
      if (!store.Append("1", 1, off, off + 1, b).ok()) return false;
      off += 1;
      done += n;
    }
  }
  MetricsStore store(dir, {});
  const std::string key = "train/metric_0";
  const auto t_open = Clock::now();
  (void)store.Summaries("1");  // loads the experiment: the index from its file
  const double open_ms = Seconds(t_open) * 1e3;
  struct Case {
    const char* name;
    DownsampleMethod method;
    std::optional<int64_t> lo, hi;
  };
  const int64_t n = static_cast<int64_t>(points);
  const Case cases[] = {{"minmax", DownsampleMethod::kMinMax, std::nullopt, std::nullopt},
                        {"minmax_step_range_middle_half", DownsampleMethod::kMinMax, n / 4, 3 * n / 4},
                        {"lttb", DownsampleMethod::kLttb, std::nullopt, std::nullopt}};
  bool ok = true;
  for (const Case& c : cases) {
    std::vector<double> ms;
    size_t got = 0;
    for (int r = 0; r < runs; ++r) {
      const auto t0 = Clock::now();
      auto res = store.Read("1", key, SeriesQuery{.max_points = max_points, .method = c.method, .min_step = c.lo, .max_step = c.hi});
      ms.push_back(Seconds(t0) * 1e3);
      if (!res.ok()) return false;
      got = res->points.size();
    }
    std::printf("{\"bench\":\"read\",\"method\":\"%s\",\"series_points\":%zu,\"max_points\":%zu,\"returned\":%zu,"
                "\"median_ms\":%.3f,\"min_ms\":%.3f,\"runs\":%d}\n",
                c.name, points, max_points, got, Median(ms), *std::min_element(ms.begin(), ms.end()), runs);
  }
  // The same downsampling over points already in memory, for comparison.
  for (int m = 0; m < 2; ++m) {
    std::vector<double> ms;
    for (int r = 0; r < runs; ++r) {
      const auto t0 = Clock::now();
      auto out = m == 0 ? DownsampleMinMax(raw, max_points) : DownsampleLttb(raw, max_points);
      ms.push_back(Seconds(t0) * 1e3);
      if (out.empty()) ok = false;
    }
    std::printf("{\"bench\":\"downsample_in_memory\",\"method\":\"%s\",\"points\":%zu,\"max_points\":%zu,"
                "\"median_ms\":%.3f}\n",
                m == 0 ? "minmax" : "lttb", points, max_points, Median(ms));
  }
  std::printf("{\"bench\":\"open_experiment\",\"series_points\":%zu,\"ms\":%.3f}\n", points, open_ms);
  std::filesystem::remove_all(dir);
  return ok;
}

bool BenchDecode(size_t points, int runs) {
  std::string stream;
  auto batch = Batch(10, points, 0);
  for (const SeriesBatch& s : batch) AppendFrame({s}, &stream);
  std::vector<double> rates;
  for (int r = 0; r < runs; ++r) {
    const auto t0 = Clock::now();
    auto out = DecodeFrames(stream);
    const double secs = Seconds(t0);
    if (!out.ok()) return false;
    rates.push_back(static_cast<double>(points) / secs);
  }
  std::printf("{\"bench\":\"decode\",\"points\":%zu,\"bytes\":%zu,\"median_points_per_s\":%.0f}\n", points,
              stream.size(), Median(rates));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bool smoke = false;
  const char* env = ::getenv("TMPDIR");
  std::string base = env && *env ? env : "/tmp";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--smoke") == 0) {
      smoke = true;
    } else if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      base = argv[++i];
    } else {
      std::fprintf(stderr, "usage: metrics_store_bench [--smoke] [--dir DIR]\n");
      return 2;
    }
  }
  bool ok = true;
  if (smoke) {
    ok = ok && BenchAppend(base, true, 1000, 10, 5000);
    ok = ok && BenchAppend(base, false, 1000, 10, 5000);
    ok = ok && BenchRead(base, 20000, 100, 3);
    ok = ok && BenchDecode(10000, 3);
  } else {
    for (bool fsync : {true, false})
      for (size_t batch : {size_t{10000}, size_t{100000}}) ok = ok && BenchAppend(base, fsync, batch, 10, fsync ? 2000000 : 5000000);
    ok = ok && BenchRead(base, 1000000, 1000, 15);
    ok = ok && BenchDecode(1000000, 7);
  }
  return ok ? 0 : 1;
}
