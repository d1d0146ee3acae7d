// `lattice logs RUN[/EXP] [--follow] [--tail N] [--rank R]`: reads an experiment's log
// by offset with long polls, so following survives server restarts without
// losing or repeating a byte, and moves on to the next attempt after a
// restart of the experiment.
#include <strings.h>

#include <cstdio>
#include <deque>
#include <iostream>
#include <thread>

#include "agent/rank_output.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"

namespace lattice::cli {
namespace {

std::string HeaderOf(const net::HttpResponse& r, const std::string& name) {
  for (const auto& [k, v] : r.headers)
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  return "";
}

// Keeps the last N lines of what passes through, for --tail.
class TailBuffer {
 public:
  explicit TailBuffer(size_t n) : n_(n) {}
  void Add(std::string_view data) {
    for (char c : data) {
      partial_.push_back(c);
      if (c == '\n') {
        lines_.push_back(std::move(partial_));
        partial_.clear();
        if (lines_.size() > n_) lines_.pop_front();
      }
    }
  }
  void Flush(std::FILE* out) {
    if (!partial_.empty()) {
      lines_.push_back(std::move(partial_));
      if (lines_.size() > n_) lines_.pop_front();
    }
    for (const auto& l : lines_) std::fwrite(l.data(), 1, l.size(), out);
    lines_.clear();
    partial_.clear();
    std::fflush(out);
  }

 private:
  size_t n_;
  std::deque<std::string> lines_;
  std::string partial_;
};

// Keeps one rank's lines of a multi-rank log ("[rank R] ..." with the
// prefix removed) and Lattice's own notes; drops the other ranks'.
class RankFilter {
 public:
  explicit RankFilter(int rank) : rank_(rank) {}
  std::string Feed(std::string_view data) {
    std::string out;
    partial_.append(data);
    size_t start = 0;
    for (size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      std::string_view line(partial_.data() + start, nl + 1 - start);
      size_t prefix = 0;
      if (agent::RankOfLine(line, &prefix) == rank_) out.append(line.substr(prefix));
      else if (line.rfind("lattice: ", 0) == 0) out.append(line);
    }
    partial_.erase(0, start);
    return out;
  }

 private:
  int rank_;
  std::string partial_;
};

}  // namespace

Result<int> FollowLogs(ApiClient& client, const std::string& run, int exp, const LogView& view, std::FILE* out) {
  const int attempt = view.attempt;
  const bool follow = view.follow;
  uint64_t offset = 0;
  int current = attempt;  // 0: the newest
  std::optional<TailBuffer> tail_buffer;
  if (view.tail) tail_buffer.emplace(*view.tail);
  std::optional<RankFilter> rank_filter;
  if (view.rank) rank_filter.emplace(*view.rank);
  bool caught_up = false;  // --tail prints its lines once we reach the end
  int64_t backoff_ms = 100;
  for (;;) {
    net::ClientRequest req;
    req.target = "/runs/" + run + "/experiments/" + std::to_string(exp) + "/logs?offset=" + std::to_string(offset) +
                 "&attempt=" + std::to_string(current) + "&wait_ms=" + (follow && caught_up ? "10000" : "0");
    req.timeout = std::chrono::milliseconds(40000);
    auto resp = client.Send(req);
    if (!resp.ok()) {
      if (!follow) return resp.error();
      // The server may be restarting: keep the offset and try again.
      std::fprintf(stderr, "lattice: %s; retrying\n", resp.error().message.c_str());
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
      backoff_ms = std::min<int64_t>(backoff_ms * 2, 2000);
      continue;
    }
    backoff_ms = 100;
    if (resp->status != 200) return ApiClient::ErrorFrom(*resp);
    const std::string& body = resp->body;
    int number = std::atoi(HeaderOf(*resp, "x-lattice-attempt").c_str());
    bool complete = HeaderOf(*resp, "x-lattice-complete") == "1";
    std::string state = HeaderOf(*resp, "x-lattice-experiment-state");
    int attempts = std::atoi(HeaderOf(*resp, "x-lattice-attempts").c_str());
    std::string exit_code = HeaderOf(*resp, "x-lattice-exit-code");
    if (current == 0 && number > 0) current = number;  // pin the attempt we started reading
    const std::string shown = rank_filter ? rank_filter->Feed(body) : body;
    if (!shown.empty()) {
      if (tail_buffer && !caught_up) tail_buffer->Add(shown);
      else {
        std::fwrite(shown.data(), 1, shown.size(), out);
        std::fflush(out);
      }
    }
    offset = std::strtoull(HeaderOf(*resp, "x-lattice-next-offset").c_str(), nullptr, 10);
    if (body.empty() && !caught_up) {
      caught_up = true;
      if (tail_buffer) tail_buffer->Flush(out);
    }
    if (!follow && (body.empty() || complete)) {
      if (tail_buffer && !caught_up) tail_buffer->Flush(out);
      return kExitOk;
    }
    if (!complete) continue;
    bool terminal = state == "succeeded" || state == "failed" || state == "cancelled";
    if (terminal && (number == 0 || number >= attempts)) {
      if (tail_buffer && !caught_up) tail_buffer->Flush(out);
      if (state == "succeeded") return 0;
      int code = exit_code.empty() ? 1 : std::atoi(exit_code.c_str());
      return code == 0 ? 1 : code;
    }
    if (number > 0 && attempt == 0) {
      // This attempt is over and the experiment goes on: follow the next one.
      std::fprintf(stderr, "lattice: attempt %d ended; following attempt %d\n", number, number + 1);
      current = number + 1;
      offset = 0;
      if (view.rank) rank_filter.emplace(*view.rank);
    } else if (attempt != 0) {
      return kExitOk;  // the user asked for one attempt
    }
  }
}

Result<int> FollowExperiments(ApiClient& client, const std::string& run, const std::vector<int>& exps,
                              const LogView& view, std::FILE* out) {
  int worst = 0;
  for (int i : exps) {
    if (exps.size() > 1) std::fprintf(out, "==> %s/%d <==\n", run.c_str(), i);
    std::fflush(out);
    LATTICE_ASSIGN_OR_RETURN(int code, FollowLogs(client, run, i, view, out));
    worst = std::max(worst, code);
  }
  return worst;
}

int LogsCommand(const GlobalOptions& g, const LogsOptions& o) {
  auto target = ParseTarget(o.target);
  if (!target.ok()) return Fail(target.error());
  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  auto [run, exp] = *target;
  auto doc = client->Get("/runs/" + run);
  if (!doc.ok()) return Fail(doc.error());
  std::vector<int> exps;
  if (exp) exps.push_back(*exp);
  else
    for (size_t i = 0; i < (*doc)["experiments"].size(); ++i) exps.push_back(static_cast<int>(i));
  const LogView view{o.attempt, o.follow, o.tail, o.rank};
  if (!g.json) {
    auto worst = FollowExperiments(*client, run, exps, view, stdout);
    return worst.ok() ? *worst : Fail(worst.error());
  }
  // --json: one document with each experiment's text (invalid UTF-8 replaced).
  Json json_doc{{"run", run}, {"experiments", Json::array()}};
  int worst = 0;
  for (int i : exps) {
    char* buffer = nullptr;
    size_t size = 0;
    std::FILE* out = open_memstream(&buffer, &size);
    auto code = FollowLogs(*client, run, i, view, out);
    std::fclose(out);
    json_doc["experiments"].push_back(Json{{"id", std::to_string(i)}, {"log", std::string(buffer, size)}});
    std::free(buffer);
    if (!code.ok()) return Fail(code.error());
    worst = std::max(worst, *code);
  }
  std::cout << json_doc.dump(-1, ' ', false, Json::error_handler_t::replace) << "\n";
  return worst;
}

}  // namespace lattice::cli
