#include "cli/snapshot_upload.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <vector>

#include "common/units.h"

namespace lattice::cli {
namespace {

// The server's cap on names per POST /blobs/missing (server/blob_api.h).
constexpr size_t kMissingBatch = 100'000;
// Chunks go up in POST /blobs/batch requests of about this many bytes (the
// server syncs each request's blobs together: one by one, a PUT per chunk
// waits for its own fsync, ~4 ms each) and at most this many blobs.
constexpr size_t kUploadBatchBytes = 8 << 20;
constexpr size_t kUploadBatchBlobs = 1000;

int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Plural(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// Which of `names` the server lacks.
Result<std::set<std::string>> AskMissing(ApiClient& client, const std::vector<std::string>& names) {
  std::set<std::string> missing;
  for (size_t at = 0; at < names.size(); at += kMissingBatch) {
    const size_t end = std::min(names.size(), at + kMissingBatch);
    Json body{{"sha256", std::vector<std::string>(names.begin() + static_cast<std::ptrdiff_t>(at),
                                                  names.begin() + static_cast<std::ptrdiff_t>(end))}};
    LATTICE_ASSIGN_OR_RETURN(Json answer, client.Post("/blobs/missing", body));
    if (!answer.is_object() || !answer.contains("missing") || !answer["missing"].is_array()) {
      return Error(ErrorCode::kInternal, "the server's answer to POST /blobs/missing has no 'missing' list");
    }
    for (const Json& name : answer["missing"]) {
      if (!name.is_string()) return Error(ErrorCode::kInternal, "POST /blobs/missing answered a non-string name");
      missing.insert(name.get<std::string>());
    }
  }
  return missing;
}

Status Send(ApiClient& client, const std::string& method, const std::string& target, std::string body) {
  net::ClientRequest req;
  req.method = method;
  req.target = target;
  req.body = std::move(body);
  req.content_type = "application/octet-stream";
  req.timeout = std::chrono::milliseconds(120000);
  LATTICE_ASSIGN_OR_RETURN(net::HttpResponse resp, client.Send(req));
  if (resp.status / 100 != 2) return ApiClient::ErrorFrom(resp);
  return OkStatus();
}

// One POST /blobs/batch body: "<sha256> <size>\n" and the bytes, per chunk.
std::string BatchBody(const std::vector<const snapshot::Chunk*>& chunks) {
  size_t size = 0;
  for (const snapshot::Chunk* c : chunks) size += c->data.size() + 90;
  std::string body;
  body.reserve(size);
  for (const snapshot::Chunk* c : chunks) {
    body += c->sha256 + " " + std::to_string(c->data.size()) + "\n";
    body += c->data;
  }
  return body;
}

}  // namespace

UploadProgress::UploadProgress(uint64_t total_bytes, int64_t start_ms, const UploadOptions& options)
    : total_(total_bytes),
      start_ms_(start_ms),
      tty_(options.tty),
      quiet_ms_(options.quiet_ms),
      every_ms_(options.progress_every_ms) {}

std::string UploadProgress::Update(int64_t now_ms, uint64_t done) {
  const int64_t elapsed = now_ms - start_ms_;
  if (elapsed < quiet_ms_) return "";
  // A terminal line is cheap to rewrite, but not on every chunk.
  const int64_t gap = tty_ ? 100 : every_ms_;
  if (last_ms_ >= 0 && now_ms - last_ms_ < gap) return "";
  last_ms_ = now_ms;
  const double seconds = static_cast<double>(elapsed) / 1000.0;
  const uint64_t rate = seconds > 0 ? static_cast<uint64_t>(static_cast<double>(done) / seconds) : 0;
  const int percent = total_ == 0 ? 100 : static_cast<int>(100.0 * static_cast<double>(done) / static_cast<double>(total_));
  std::string line = "lattice: uploading code: " + HumanBytes(done) + " of " + HumanBytes(total_) + " (" +
                     std::to_string(percent) + "%), " + HumanBytes(rate) + "/s";
  // "\x1b[K" clears what a longer previous line left on the right.
  return tty_ ? "\r" + line + "\x1b[K" : line + "\n";
}

std::string UploadProgress::Finish() { return tty_ && last_ms_ >= 0 ? "\n" : ""; }

std::string UploadSummary(const UploadResult& r, const UploadOptions& options) {
  const bool uploaded = r.new_chunks > 0 || r.manifest_uploaded;
  if (!uploaded && r.elapsed_ms < options.quiet_ms) return "";
  std::string line = "lattice: code " + HumanBytes(r.code_bytes) + " in " + Plural(r.chunks, "chunk", "chunks") +
                     "; ";
  line += uploaded ? "uploaded " + HumanBytes(r.uploaded_bytes) + " (" +
                         Plural(r.new_chunks, "new chunk", "new chunks") + ")"
                   : "nothing to upload";
  if (r.elapsed_ms >= options.quiet_ms) {
    char secs[32];
    std::snprintf(secs, sizeof secs, " in %.1f s", static_cast<double>(r.elapsed_ms) / 1000.0);
    line += secs;
  }
  return line + "\n";
}

Result<UploadResult> UploadSnapshot(ApiClient& client, const snapshot::Snapshot& snap,
                                    const UploadOptions& options) {
  const auto now = options.now_ms ? options.now_ms : std::function<int64_t()>(&SteadyMs);
  const int64_t start = now();
  auto print = [&](const std::string& text) {
    if (options.out != nullptr && !text.empty()) {
      std::fputs(text.c_str(), options.out);
      std::fflush(options.out);
    }
  };

  UploadResult result;
  result.chunks = snap.chunks.size();
  result.code_bytes = snap.total_bytes;
  result.snapshot_bytes = snap.manifest.size();
  std::vector<std::string> names;
  names.reserve(snap.chunks.size() + 1);
  for (const snapshot::Chunk& c : snap.chunks) {
    names.push_back(c.sha256);
    result.snapshot_bytes += c.data.size();
  }
  names.push_back(snap.sha256);
  auto missing = AskMissing(client, names);
  if (!missing.ok()) return missing.error().Wrap("asking the server which code chunks it lacks");

  uint64_t total = 0;
  for (const snapshot::Chunk& c : snap.chunks) {
    if (missing->count(c.sha256)) total += c.data.size();
  }
  result.manifest_uploaded = missing->count(snap.sha256) > 0;
  if (result.manifest_uploaded) total += snap.manifest.size();

  UploadProgress progress(total, start, options);
  auto sent = [&](uint64_t bytes) {
    result.uploaded_bytes += bytes;
    print(progress.Update(now(), result.uploaded_bytes));
  };
  std::vector<const snapshot::Chunk*> batch;
  uint64_t batch_bytes = 0;
  auto flush = [&]() -> Status {
    if (batch.empty()) return OkStatus();
    Status st = Send(client, "POST", "/blobs/batch", BatchBody(batch));
    if (!st.ok()) {
      return st.error().Wrap("uploading " + std::to_string(batch.size()) + " code chunks (" +
                             batch.front()->sha256.substr(0, 12) + "...)");
    }
    result.new_chunks += batch.size();
    sent(batch_bytes);
    batch.clear();
    batch_bytes = 0;
    return OkStatus();
  };
  for (const snapshot::Chunk& c : snap.chunks) {
    if (!missing->count(c.sha256)) continue;
    batch.push_back(&c);
    batch_bytes += c.data.size();
    if (batch_bytes >= kUploadBatchBytes || batch.size() >= kUploadBatchBlobs) {
      if (Status st = flush(); !st.ok()) {
        print(progress.Finish());
        return st.error();
      }
    }
  }
  if (Status st = flush(); !st.ok()) {
    print(progress.Finish());
    return st.error();
  }
  // Last: a stored manifest promises that its chunks are there.
  if (result.manifest_uploaded) {
    if (Status st = Send(client, "PUT", "/blobs/" + snap.sha256, snap.manifest); !st.ok()) {
      print(progress.Finish());
      return st.error().Wrap("uploading the code snapshot's manifest");
    }
    sent(snap.manifest.size());
  }
  print(progress.Finish());
  result.elapsed_ms = now() - start;
  print(UploadSummary(result, options));
  return result;
}

}  // namespace lattice::cli
