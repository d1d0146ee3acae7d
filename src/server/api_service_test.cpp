// ApiService::Handle driven with hand-written fakes of net::Exchange and
// net::EventLoop (no sockets), over a real Controller, stores and FakeClock.
#include "server/api_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "common/log.h"
#include "common/test_util.h"
#include "common/fs.h"
#include "snapshot/sha256.h"
#include "snapshot/snapshot.h"

namespace lattice {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::TempDir;

// Records what the handler did with one request.
class FakeExchange final : public net::Exchange {
 public:
  void Respond(net::HttpResponse r) override {
    if (closed_) return;  // the peer is gone: a no-op, as the real one
    ++responses;
    response = std::move(r);
  }
  void BeginStream(int status, const std::string& content_type) override {
    stream_status = status;
    stream_type = content_type;
  }
  void Send(std::string chunk) override {
    if (!closed_) sent += chunk;
  }
  void End() override { ended = true; }
  bool Closed() const override { return closed_; }
  void OnClose(std::function<void()> fn) override { on_close_.push_back(std::move(fn)); }

  // The peer hangs up.
  void Disconnect() {
    closed_ = true;
    auto fns = std::move(on_close_);
    for (auto& f : fns) f();
  }
  Json Body() const { return Json::parse(response.body); }
  std::string HeaderValue(const std::string& name) const {
    for (const auto& [k, v] : response.headers)
      if (k == name) return v;
    return "";
  }

  int responses = 0;
  net::HttpResponse response;
  int stream_status = 0;
  std::string stream_type, sent;
  bool ended = false;

 private:
  bool closed_ = false;
  std::vector<std::function<void()>> on_close_;
};

// Timers run when the test moves time forward; nothing runs by itself.
class FakeEventLoop final : public net::EventLoop {
 public:
  void Post(std::function<void()> fn) override { posted_.push_back(std::move(fn)); }
  std::unique_ptr<net::TimerHandle> RunAfter(std::chrono::milliseconds delay, std::function<void()> fn) override {
    auto t = std::make_shared<Timer>(Timer{now_ + delay.count(), std::move(fn), false});
    timers_.push_back(t);
    return std::make_unique<Handle>(t);
  }
  // Fires every timer that is due by now + ms, in order of due time.
  void Advance(int64_t ms) {
    now_ += ms;
    for (;;) {
      std::erase_if(timers_, [](const auto& t) { return t->cancelled; });
      auto due = std::min_element(timers_.begin(), timers_.end(),
                                  [](const auto& a, const auto& b) { return a->due < b->due; });
      if (due == timers_.end() || (*due)->due > now_) break;
      std::shared_ptr<Timer> t = *due;  // keeps the callback alive while it runs
      timers_.erase(due);
      t->cancelled = true;
      auto fn = std::move(t->fn);
      fn();
    }
  }
  size_t PendingTimers() const {
    return static_cast<size_t>(std::count_if(timers_.begin(), timers_.end(), [](const auto& t) { return !t->cancelled; }));
  }

 private:
  struct Timer {
    int64_t due;
    std::function<void()> fn;
    bool cancelled;
  };
  class Handle final : public net::TimerHandle {
   public:
    explicit Handle(std::shared_ptr<Timer> t) : t_(std::move(t)) {}
    ~Handle() override { t_->cancelled = true; }
    void Cancel() override { t_->cancelled = true; }

   private:
    std::shared_ptr<Timer> t_;
  };
  int64_t now_ = 0;
  std::vector<std::shared_ptr<Timer>> timers_;
  std::vector<std::function<void()>> posted_;
};

class ApiServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log::SetLevel(log::Level::kError);
    auto s = OpenSqliteStore((dir_ / "lattice.db").string());
    ASSERT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(s).value();
    ASSERT_TRUE(logs_.Init().ok());
    ASSERT_TRUE(blobs_.Init().ok());
    ASSERT_TRUE(metrics_.Init().ok());
    // A real code archive: the server refuses blobs that are not one.
    ASSERT_TRUE(fs::MakeDirs(dir_ / "code").ok());
    ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "code" / "train.py", "print('hello')\n").ok());
    auto snap = snapshot::CreateSnapshot(dir_ / "code", {});
    ASSERT_TRUE(snap.ok()) << snap.error().message;
    archive_ = snap->manifest;
    chunks_ = snap->chunks;
    snapshot_ = snap->sha256;
    ControllerListener listener{[this](const std::string& n) { if (api_) api_->NodeHasWork(n); },
                                [this](const std::string& r) { if (api_) api_->RunChanged(r); },
                                [this](const std::string& r) { if (api_) api_->LogsArrived(r); }};
    controller_ = std::make_unique<Controller>(*store_, logs_, clock_, ControllerOptions{}, listener);
    ASSERT_TRUE(controller_->Load().ok());
    MakeApi(ApiOptions{});
  }

  void MakeApi(ApiOptions options) {
    options.max_json_bytes = 4096;
    options.max_wait_ms = 30'000;
    api_.reset();
    api_ = std::make_unique<ApiService>(*controller_, *store_, blobs_, metrics_, loop_, clock_, options);
  }

  std::shared_ptr<FakeExchange> Call(const std::string& method, const std::string& target, std::string body = "",
                                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    net::HttpRequest req;
    req.method = method;
    req.target = target;
    EXPECT_TRUE(net::ParseTarget(target, &req.path, &req.query)) << target;
    req.headers = std::move(headers);
    req.body = std::move(body);
    auto ex = std::make_shared<FakeExchange>();
    api_->Handle(std::move(req), ex);
    return ex;
  }

  // Expects one JSON error answer with this status and code.
  static void ExpectError(const FakeExchange& ex, int status, const std::string& code) {
    ASSERT_EQ(ex.responses, 1);
    EXPECT_EQ(ex.response.status, status) << ex.response.body;
    EXPECT_EQ(ex.response.content_type, "application/json");
    Json body = ex.Body();
    ASSERT_TRUE(body.contains("error")) << ex.response.body;
    EXPECT_EQ(body["error"]["code"], code) << ex.response.body;
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
  }

  void UploadSnapshot() {
    for (const snapshot::Chunk& c : chunks_) {
      EXPECT_EQ(Call("PUT", "/api/v1/blobs/" + c.sha256, c.data)->response.status, 201);
    }
    auto ex = Call("PUT", "/api/v1/blobs/" + snapshot_, archive_);
    EXPECT_EQ(ex->response.status, 201) << ex->response.body;
  }

  std::shared_ptr<FakeExchange> SubmitRun(const std::string& name, int gpus = 0) {
    Json body{{"name", name}, {"script", "train.py"}, {"snapshot", snapshot_}, {"resources", {{"gpus", gpus}}}};
    return Call("POST", "/api/v1/runs", body.dump());
  }

  void RegisterNode(const std::string& id, int gpus = 0) {
    Json gpu_list = Json::array();
    for (int i = 0; i < gpus; ++i) gpu_list.push_back({{"index", i}, {"name", "Sim"}});
    auto ex = Call("POST", "/api/v1/agents/register", Json{{"id", id}, {"cpus", 8}, {"gpus", gpu_list}}.dump());
    ASSERT_EQ(ex->response.status, 200) << ex->response.body;
  }

  // Submits run `name`, places it on node n1 and has the agent report it running.
  int64_t StartRunOnNode(const std::string& name) {
    RegisterNode("n1");
    EXPECT_EQ(SubmitRun(name)->response.status, 201);
    const Attempt* a = controller_->FindAttempt(name, 0, 0);
    EXPECT_NE(a, nullptr);
    int64_t id = a ? a->id : 0;
    auto sync = Call("POST", "/api/v1/agents/n1/sync", Json{{"attempts", {{{"id", id}, {"state", "running"}}}}}.dump());
    EXPECT_EQ(sync->responses, 1);
    return id;
  }

  TempDir dir_;
  FakeClock clock_;
  FakeEventLoop loop_;
  std::unique_ptr<Store> store_;
  LogStore logs_{dir_ / "logs"};
  BlobStore blobs_{dir_ / "blobs"};
  metrics::MetricsStore metrics_{dir_ / "metrics", metrics::MetricsStoreOptions{.fsync = false}};
  std::unique_ptr<Controller> controller_;
  std::unique_ptr<ApiService> api_;
  std::string archive_, snapshot_;  // the snapshot's manifest and its sha256 (its id)
  std::vector<snapshot::Chunk> chunks_;
};

// --- basics and errors ----------------------------------------------------------------

TEST_F(ApiServiceTest, Health_200) {
  auto ex = Call("GET", "/api/v1/health");
  ASSERT_EQ(ex->responses, 1);
  EXPECT_EQ(ex->response.status, 200);
  EXPECT_EQ(ex->Body(), (Json{{"status", "ok"}}));
}

TEST_F(ApiServiceTest, PathOutsideTheApiOrUnknown_404JsonError) {
  ExpectError(*Call("POST", "/"), 404, "not_found");
  ExpectError(*Call("GET", "/api/v2/runs"), 404, "not_found");
  ExpectError(*Call("GET", "/api/v1/frobnicate"), 404, "not_found");
  EXPECT_THAT(Call("PUT", "/nope")->Body()["error"]["message"].get<std::string>(), HasSubstr("/api/v1/"));
}

TEST_F(ApiServiceTest, WrongMethod_RefusedNamingIt) {
  auto ex = Call("DELETE", "/api/v1/runs");
  ExpectError(*ex, 400, "invalid_argument");
  EXPECT_THAT(ex->Body()["error"]["message"].get<std::string>(), HasSubstr("method DELETE is not allowed"));
}

TEST_F(ApiServiceTest, MalformedJson_400NamingTheProblem) {
  auto ex = Call("POST", "/api/v1/runs", R"({"script": "a.py",)");
  ExpectError(*ex, 400, "invalid_argument");
  std::string message = ex->Body()["error"]["message"];
  EXPECT_THAT(message, HasSubstr("not valid JSON"));
  EXPECT_THAT(message, HasSubstr("at byte"));
}

TEST_F(ApiServiceTest, UnknownField_400WithField) {
  UploadSnapshot();
  Json body{{"script", "a.py"}, {"snapshot", snapshot_}, {"gpus", 2}};
  auto ex = Call("POST", "/api/v1/runs", body.dump());
  ExpectError(*ex, 400, "invalid_argument");
  EXPECT_EQ(ex->Body()["error"]["field"], "gpus");
  EXPECT_THAT(ex->Body()["error"]["message"].get<std::string>(), HasSubstr("known fields"));
}

TEST_F(ApiServiceTest, WrongType_400WithDottedField) {
  Json body{{"script", "a.py"}, {"snapshot", snapshot_}, {"resources", {{"gpus", "two"}}}};
  auto ex = Call("POST", "/api/v1/runs", body.dump());
  ExpectError(*ex, 400, "invalid_argument");
  EXPECT_EQ(ex->Body()["error"]["field"], "resources.gpus");
}

TEST_F(ApiServiceTest, JsonBodyOverTheLimit_413) {
  Json body{{"script", "a.py"}, {"snapshot", snapshot_}, {"description", std::string(5000, 'x')}};
  auto ex = Call("POST", "/api/v1/runs", body.dump());
  ExpectError(*ex, 413, "resource_exhausted");
  EXPECT_THAT(ex->Body()["error"]["message"].get<std::string>(), HasSubstr("exceeds the limit of 4096 bytes"));
  ExpectError(*Call("POST", "/api/v1/agents/register", std::string(5000, ' ')), 413, "resource_exhausted");
}

// --- tokens ------------------------------------------------------------------------------

TEST_F(ApiServiceTest, TokenRequired_MissingOrWrong401_HealthStill200) {
  ApiOptions options;
  options.required_token = "s3cret-token";
  MakeApi(options);
  ExpectError(*Call("GET", "/api/v1/runs"), 401, "unauthenticated");
  ExpectError(*Call("GET", "/api/v1/runs", "", {{"authorization", "Bearer wrong-token"}}), 401, "unauthenticated");
  ExpectError(*Call("GET", "/api/v1/runs", "", {{"authorization", "Bearer s3cret-toke"}}), 401, "unauthenticated");
  ExpectError(*Call("GET", "/api/v1/runs", "", {{"authorization", "s3cret-token"}}), 401, "unauthenticated");
  ExpectError(*Call("POST", "/api/v1/agents/register", "{}"), 401, "unauthenticated");
  auto health = Call("GET", "/api/v1/health");
  EXPECT_EQ(health->response.status, 200);
  auto ok = Call("GET", "/api/v1/runs", "", {{"authorization", "Bearer s3cret-token"}});
  EXPECT_EQ(ok->response.status, 200);
  EXPECT_EQ(ok->Body(), (Json{{"runs", Json::array()}, {"total", 0}}));
}

TEST_F(ApiServiceTest, NoTokenConfigured_NoHeaderNeeded) {
  EXPECT_EQ(Call("GET", "/api/v1/runs")->response.status, 200);
}

// --- runs ---------------------------------------------------------------------------------

TEST_F(ApiServiceTest, SubmitWithoutUploadedSnapshot_400NamingSnapshot) {
  auto ex = SubmitRun("r");
  ExpectError(*ex, 400, "invalid_argument");
  EXPECT_EQ(ex->Body()["error"]["field"], "snapshot");
  EXPECT_THAT(ex->Body()["error"]["message"].get<std::string>(), HasSubstr("was not uploaded"));
  EXPECT_EQ(controller_->FindRun("r"), nullptr);
}

TEST_F(ApiServiceTest, BlobWithWrongHash_400) {
  auto ex = Call("PUT", "/api/v1/blobs/" + std::string(64, '0'), archive_);
  ExpectError(*ex, 400, "invalid_argument");
  ExpectError(*Call("PUT", "/api/v1/blobs/not-a-hash", archive_), 400, "invalid_argument");
  EXPECT_EQ(Call("HEAD", "/api/v1/blobs/" + snapshot_)->response.status, 404);
}

TEST_F(ApiServiceTest, SubmitWithABlobThatIsNoCodeArchive_400NamingSnapshot) {
  const std::string junk = "print('not an archive')\n";
  snapshot_ = snapshot::Sha256Hex(junk);
  ASSERT_EQ(Call("PUT", "/api/v1/blobs/" + snapshot_, junk)->response.status, 201);
  auto ex = SubmitRun("r");
  ExpectError(*ex, 400, "invalid_argument");
  EXPECT_EQ(ex->Body()["error"]["field"], "snapshot");
  EXPECT_THAT(ex->Body()["error"]["message"].get<std::string>(), HasSubstr("is not a valid code archive"));
}

TEST_F(ApiServiceTest, SubmitWithChunksMissing_400NamingThem) {
  ASSERT_EQ(Call("PUT", "/api/v1/blobs/" + snapshot_, archive_)->response.status, 201);
  auto ex = SubmitRun("r");
  ExpectError(*ex, 400, "invalid_argument");
  EXPECT_EQ(ex->Body()["error"]["field"], "snapshot");
  const std::string message = ex->Body()["error"]["message"].get<std::string>();
  EXPECT_THAT(message, HasSubstr("lacks 1 of its 1 chunks (" + chunks_[0].sha256 + ")"));
  EXPECT_THAT(message, HasSubstr("POST /api/v1/blobs/missing"));
  EXPECT_EQ(controller_->FindRun("r"), nullptr);
  UploadSnapshot();
  EXPECT_EQ(SubmitRun("r")->response.status, 201);
}

TEST_F(ApiServiceTest, SubmitWithACorruptChunk_400) {
  // A chunk stored under its name that does not unpack: a manifest naming
  // a blob that is not a zstd frame of the declared size.
  const std::string junk = "not a zstd frame";
  const std::string junk_sha = snapshot::Sha256Hex(junk);
  ASSERT_EQ(Call("PUT", "/api/v1/blobs/" + junk_sha, junk)->response.status, 201);
  const std::string manifest = "lattice-snapshot-v2\nfiles 0\nbytes 0\nchunks 1\n" + junk_sha + " " +
                               std::to_string(junk.size()) + " 1024\n";
  snapshot_ = snapshot::Sha256Hex(manifest);
  ASSERT_EQ(Call("PUT", "/api/v1/blobs/" + snapshot_, manifest)->response.status, 201);
  auto ex = SubmitRun("r");
  ExpectError(*ex, 400, "invalid_argument");
  EXPECT_THAT(ex->Body()["error"]["message"].get<std::string>(), HasSubstr("is not one zstd frame"));
}

TEST_F(ApiServiceTest, BlobsMissing_ListsTheAbsentInOrder) {
  UploadSnapshot();
  const std::string a(64, 'a'), b(64, 'b');
  auto ex = Call("POST", "/api/v1/blobs/missing", Json{{"sha256", {b, snapshot_, a, chunks_[0].sha256, b}}}.dump());
  ASSERT_EQ(ex->response.status, 200) << ex->response.body;
  EXPECT_EQ(ex->Body(), (Json{{"missing", {b, a, b}}}));
  ex = Call("POST", "/api/v1/blobs/missing", Json{{"sha256", Json::array()}}.dump());
  EXPECT_EQ(ex->Body(), (Json{{"missing", Json::array()}}));
}

TEST_F(ApiServiceTest, BlobsBatch_StoresThemAll) {
  std::string body;
  for (const snapshot::Chunk& c : chunks_) body += c.sha256 + " " + std::to_string(c.data.size()) + "\n" + c.data;
  auto ex = Call("POST", "/api/v1/blobs/batch", body);
  ASSERT_EQ(ex->response.status, 201) << ex->response.body;
  EXPECT_EQ(ex->Body(), (Json{{"blobs", chunks_.size()}, {"bytes", chunks_[0].data.size()}, {"new", 1}}));
  EXPECT_TRUE(blobs_.Has(chunks_[0].sha256));
  EXPECT_EQ(Call("POST", "/api/v1/blobs/batch", body)->Body()["new"], 0);
  auto bad = Call("POST", "/api/v1/blobs/batch", chunks_[0].sha256 + " 5\nabc");
  ExpectError(*bad, 400, "invalid_argument");
  EXPECT_THAT(bad->Body()["error"]["message"].get<std::string>(), HasSubstr("ends inside the blob"));
  ExpectError(*Call("GET", "/api/v1/blobs/batch"), 400, "invalid_argument");
}

TEST_F(ApiServiceTest, BlobsMissing_BadRequests) {
  const std::string path = "/api/v1/blobs/missing";
  auto bad = [&](const std::string& body, const std::string& field, const std::string& message) {
    auto ex = Call("POST", path, body);
    ExpectError(*ex, 400, "invalid_argument");
    if (field.empty()) {
      EXPECT_FALSE(ex->Body()["error"].contains("field")) << body;
    } else {
      EXPECT_EQ(ex->Body()["error"]["field"], field) << body;
    }
    EXPECT_THAT(ex->Body()["error"]["message"].get<std::string>(), HasSubstr(message)) << body;
  };
  bad("{}", "sha256", "field 'sha256' is required");
  bad("", "sha256", "field 'sha256' is required");
  bad(R"({"sha256": "abc"})", "sha256", "must be an array");
  bad(R"({"sha256": ["abc"]})", "sha256[0]", "must be a lowercase hex SHA-256");
  bad(Json{{"sha256", {std::string(64, 'a'), std::string(64, 'A')}}}.dump(), "sha256[1]", "lowercase hex");
  bad(R"({"sha256": [7]})", "sha256[0]", "lowercase hex");
  bad(R"({"sha256": [], "extra": 1})", "extra", "unknown field");
  bad("[1]", "", "must be a JSON object");
  bad("{", "", "not valid JSON");
  ExpectError(*Call("GET", path), 400, "invalid_argument");
  EXPECT_THAT(Call("GET", path)->Body()["error"]["message"].get<std::string>(),
              HasSubstr("method GET is not allowed on " + path));
  Json many = Json{{"sha256", std::vector<std::string>(kMaxMissingNames + 1, std::string(64, 'c'))}};
  ExpectError(*Call("POST", path, many.dump()), 413, "resource_exhausted");
  ExpectError(*Call("POST", path, std::string(kMaxMissingBodyBytes + 1, ' ')), 413, "resource_exhausted");
}

TEST_F(ApiServiceTest, SubmitThenGet_201ThenTheSameDocument) {
  UploadSnapshot();
  EXPECT_EQ(Call("HEAD", "/api/v1/blobs/" + snapshot_)->response.status, 200);
  auto created = SubmitRun("my-run");
  ASSERT_EQ(created->response.status, 201) << created->response.body;
  Json doc = created->Body();
  EXPECT_EQ(doc["name"], "my-run");
  EXPECT_EQ(doc["state"], "queued");
  EXPECT_EQ(doc["experiments"].size(), 1u);
  auto got = Call("GET", "/api/v1/runs/my-run");
  EXPECT_EQ(got->response.status, 200);
  EXPECT_EQ(got->Body(), doc);
  auto list = Call("GET", "/api/v1/runs");
  ASSERT_EQ(list->Body()["runs"].size(), 1u);
  EXPECT_EQ(list->Body()["runs"][0]["name"], "my-run");
}

TEST_F(ApiServiceTest, GetRun_AfterAChange_ShowsTheNewState) {
  UploadSnapshot();
  SubmitRun("r");
  EXPECT_EQ(Call("GET", "/api/v1/runs/r")->Body()["experiments"][0]["state"], "queued");
  RegisterNode("n1");
  EXPECT_EQ(Call("GET", "/api/v1/runs/r")->Body()["experiments"][0]["state"], "starting");
}

TEST_F(ApiServiceTest, DuplicateRunName_409) {
  UploadSnapshot();
  SubmitRun("r");
  ExpectError(*SubmitRun("r"), 409, "already_exists");
}

TEST_F(ApiServiceTest, UnknownRun_404) {
  ExpectError(*Call("GET", "/api/v1/runs/nope"), 404, "not_found");
  ExpectError(*Call("POST", "/api/v1/runs/nope/cancel"), 404, "not_found");
  ExpectError(*Call("GET", "/api/v1/runs/nope/experiments/0/logs"), 404, "not_found");
}

TEST_F(ApiServiceTest, CancelQueuedRun_200WithCancelledDocument) {
  UploadSnapshot();
  SubmitRun("r");
  auto ex = Call("POST", "/api/v1/runs/r/cancel");
  ASSERT_EQ(ex->response.status, 200);
  EXPECT_EQ(ex->Body()["state"], "cancelled");
  ExpectError(*Call("POST", "/api/v1/runs/r/experiments/x/cancel"), 400, "invalid_argument");
  ExpectError(*Call("POST", "/api/v1/runs/r/experiments/3/cancel"), 404, "not_found");
}

// --- agents: registration, reports, long-poll sync ----------------------------------------

TEST_F(ApiServiceTest, RegisterMalformed_400WithField) {
  auto ex = Call("POST", "/api/v1/agents/register", R"({"id": "a/b", "cpus": 4})");
  ExpectError(*ex, 400, "invalid_argument");
  EXPECT_EQ(ex->Body()["error"]["field"], "id");
}

TEST_F(ApiServiceTest, ReportMalformed_400WithFieldPath) {
  RegisterNode("n1");
  auto ex = Call("POST", "/api/v1/agents/n1/report", R"({"attempts":[{"id":1,"state":"sleeping"}]})");
  ExpectError(*ex, 400, "invalid_argument");
  EXPECT_EQ(ex->Body()["error"]["field"], "attempts[0].state");
}

TEST_F(ApiServiceTest, SyncFromUnregisteredNode_404) {
  ExpectError(*Call("POST", "/api/v1/agents/ghost/sync?wait_ms=1000", "{}"), 404, "not_found");
  EXPECT_EQ(loop_.PendingTimers(), 0u);
}

TEST_F(ApiServiceTest, SyncWaitTooLong_400) {
  RegisterNode("n1");
  auto ex = Call("POST", "/api/v1/agents/n1/sync?wait_ms=30001", "{}");
  ExpectError(*ex, 400, "invalid_argument");
  EXPECT_EQ(ex->Body()["error"]["field"], "wait_ms");
}

TEST_F(ApiServiceTest, SyncWithoutWait_AnsweredAtOnce) {
  RegisterNode("n1");
  auto ex = Call("POST", "/api/v1/agents/n1/sync", "");
  ASSERT_EQ(ex->responses, 1);
  EXPECT_EQ(ex->Body(), Json::parse(R"({"assign":[],"cancel":[],"forget":[],"abort":[],"master_ports":[]})"));
}

TEST_F(ApiServiceTest, SyncLongPoll_AnsweredWhenWorkAppears) {
  UploadSnapshot();
  RegisterNode("n1", 2);
  auto poll = Call("POST", "/api/v1/agents/n1/sync?wait_ms=20000", "{}");
  EXPECT_EQ(poll->responses, 0);
  EXPECT_EQ(loop_.PendingTimers(), 1u);
  ASSERT_EQ(SubmitRun("r", 2)->response.status, 201);
  ASSERT_EQ(poll->responses, 1);
  EXPECT_EQ(poll->response.status, 200);
  Json work = poll->Body();
  ASSERT_EQ(work["assign"].size(), 1u);
  EXPECT_EQ(work["assign"][0]["run"], "r");
  EXPECT_EQ(work["assign"][0]["gpus"], Json({0, 1}));
  EXPECT_EQ(loop_.PendingTimers(), 0u);  // its timer went with it
  loop_.Advance(20'000);
  EXPECT_EQ(poll->responses, 1);
}

TEST_F(ApiServiceTest, SyncLongPoll_AtTimerExpiryAnsweredWithEmptyWork) {
  RegisterNode("n1");
  auto poll = Call("POST", "/api/v1/agents/n1/sync?wait_ms=1000", "{}");
  loop_.Advance(999);
  EXPECT_EQ(poll->responses, 0);
  loop_.Advance(1);
  ASSERT_EQ(poll->responses, 1);
  EXPECT_EQ(poll->response.status, 200);
  EXPECT_EQ(poll->Body(), Json::parse(R"({"assign":[],"cancel":[],"forget":[],"abort":[],"master_ports":[]})"));
  // Answered once: a later wake-up finds no waiter.
  api_->NodeHasWork("n1");
  EXPECT_EQ(poll->responses, 1);
}

TEST_F(ApiServiceTest, SyncLongPoll_PeerGone_NeverAnswered) {
  UploadSnapshot();
  RegisterNode("n1");
  auto poll = Call("POST", "/api/v1/agents/n1/sync?wait_ms=5000", "{}");
  poll->Disconnect();
  EXPECT_EQ(loop_.PendingTimers(), 0u);
  SubmitRun("r");
  loop_.Advance(5000);
  EXPECT_EQ(poll->responses, 0);
  // The work is still there for the agent's next sync.
  auto next = Call("POST", "/api/v1/agents/n1/sync", "{}");
  EXPECT_EQ(next->Body()["assign"].size(), 1u);
}

TEST_F(ApiServiceTest, CancelRunning_WakesTheAgentsLongPollWithTheCancel) {
  UploadSnapshot();
  int64_t id = StartRunOnNode("r");
  std::string running = Json{{"attempts", {{{"id", id}, {"state", "running"}}}}}.dump();
  auto poll = Call("POST", "/api/v1/agents/n1/sync?wait_ms=20000", running);
  EXPECT_EQ(poll->responses, 0);
  ASSERT_EQ(Call("POST", "/api/v1/runs/r/cancel")->response.status, 200);
  ASSERT_EQ(poll->responses, 1);
  EXPECT_EQ(poll->Body()["cancel"], Json({id}));
}

// --- logs -----------------------------------------------------------------------------------

TEST_F(ApiServiceTest, LogLongPoll_AnsweredWhenBytesArrive) {
  UploadSnapshot();
  int64_t id = StartRunOnNode("r");
  auto poll = Call("GET", "/api/v1/runs/r/experiments/0/logs?wait_ms=10000");
  EXPECT_EQ(poll->responses, 0);
  auto put = Call("PUT", "/api/v1/agents/n1/attempts/" + std::to_string(id) + "/log?offset=0", "hello\n");
  ASSERT_EQ(put->response.status, 200) << put->response.body;
  EXPECT_EQ(put->Body(), (Json{{"length", 6}}));
  ASSERT_EQ(poll->responses, 1);
  EXPECT_EQ(poll->response.status, 200);
  EXPECT_EQ(poll->response.body, "hello\n");
  EXPECT_EQ(poll->HeaderValue("X-Lattice-Next-Offset"), "6");
  EXPECT_EQ(poll->HeaderValue("X-Lattice-Complete"), "0");
  EXPECT_EQ(poll->HeaderValue("X-Lattice-Attempt"), "1");
  EXPECT_EQ(poll->HeaderValue("X-Lattice-Experiment-State"), "running");
}

TEST_F(ApiServiceTest, LogLongPoll_NothingNewByExpiry_EmptyAnswer) {
  UploadSnapshot();
  int64_t id = StartRunOnNode("r");
  Call("PUT", "/api/v1/agents/n1/attempts/" + std::to_string(id) + "/log?offset=0", "abc");
  auto poll = Call("GET", "/api/v1/runs/r/experiments/0/logs?offset=3&wait_ms=2000");
  EXPECT_EQ(poll->responses, 0);
  loop_.Advance(2000);
  ASSERT_EQ(poll->responses, 1);
  EXPECT_EQ(poll->response.body, "");
  EXPECT_EQ(poll->HeaderValue("X-Lattice-Next-Offset"), "3");
}

TEST_F(ApiServiceTest, LogFinished_CompleteAndExitCodeHeaders) {
  UploadSnapshot();
  int64_t id = StartRunOnNode("r");
  Call("PUT", "/api/v1/agents/n1/attempts/" + std::to_string(id) + "/log?offset=0", "bye\n");
  Call("POST", "/api/v1/agents/n1/report",
       Json{{"attempts", {{{"id", id}, {"state", "exited"}, {"exit_code", 3}, {"log_bytes", 4}}}}}.dump());
  auto ex = Call("GET", "/api/v1/runs/r/experiments/0/logs");
  ASSERT_EQ(ex->responses, 1);
  EXPECT_EQ(ex->response.body, "bye\n");
  EXPECT_EQ(ex->HeaderValue("X-Lattice-Complete"), "1");
  EXPECT_EQ(ex->HeaderValue("X-Lattice-Exit-Code"), "3");
  EXPECT_EQ(ex->HeaderValue("X-Lattice-Experiment-State"), "failed");
}

TEST_F(ApiServiceTest, LogPutWithGap_409CarryingTheServersLength) {
  UploadSnapshot();
  int64_t id = StartRunOnNode("r");
  Call("PUT", "/api/v1/agents/n1/attempts/" + std::to_string(id) + "/log?offset=0", "abc");
  auto ex = Call("PUT", "/api/v1/agents/n1/attempts/" + std::to_string(id) + "/log?offset=10", "xyz");
  ExpectError(*ex, 409, "failed_precondition");
  EXPECT_EQ(ex->Body()["length"], 3);
  ExpectError(*Call("PUT", "/api/v1/agents/n1/attempts/abc/log", "x"), 400, "invalid_argument");
  ExpectError(*Call("PUT", "/api/v1/agents/n1/attempts/999/log", "x"), 404, "not_found");
  RegisterNode("n2");
  auto wrong_node = Call("PUT", "/api/v1/agents/n2/attempts/" + std::to_string(id) + "/log?offset=0", "x");
  ExpectError(*wrong_node, 404, "not_found");
  EXPECT_FALSE(wrong_node->Body().contains("length"));
  ExpectError(*Call("GET", "/api/v1/runs/r/experiments/0/logs?offset=-1"), 400, "invalid_argument");
}

// --- server-sent events ------------------------------------------------------------------------

TEST_F(ApiServiceTest, EventStream_StartsWithCurrentStateThenFollowsChanges) {
  UploadSnapshot();
  SubmitRun("r");
  auto ex = Call("GET", "/api/v1/events");
  EXPECT_EQ(ex->stream_status, 200);
  EXPECT_EQ(ex->stream_type, "text/event-stream");
  EXPECT_THAT(ex->sent, HasSubstr("event: run\ndata: "));
  EXPECT_THAT(ex->sent, HasSubstr("\"name\":\"r\""));
  ex->sent.clear();
  RegisterNode("n1");  // r starts
  EXPECT_THAT(ex->sent, HasSubstr("\"state\":\"running\""));
  ExpectError(*Call("GET", "/api/v1/events?run=nope"), 404, "not_found");
  EXPECT_THAT(Call("GET", "/api/v1/runs/r/experiments/0/logs/stream")->sent, HasSubstr("retry:"));
}

TEST_F(ApiServiceTest, EventStream_InitialZeroSendsOnlyChanges) {
  UploadSnapshot();
  SubmitRun("r");
  auto ex = Call("GET", "/api/v1/events?initial=0");
  EXPECT_EQ(ex->stream_status, 200);
  EXPECT_EQ(ex->sent, "retry: 1000\n\n");
  RegisterNode("n1");  // r starts
  EXPECT_THAT(ex->sent, HasSubstr("\"name\":\"r\""));
  EXPECT_THAT(Call("GET", "/api/v1/events?initial=1")->sent, HasSubstr("\"name\":\"r\""));
  auto bad = Call("GET", "/api/v1/events?initial=yes");
  ExpectError(*bad, 400, "invalid_argument");
  EXPECT_EQ(bad->Body()["error"]["field"], "initial");
}

// --- listing runs, attempts, reruns, node work ------------------------------------------------

TEST_F(ApiServiceTest, ListRuns_FiltersPagesAndCounts) {
  UploadSnapshot();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(SubmitRun("run-" + std::to_string(i))->response.status, 201);
  ASSERT_EQ(Call("POST", "/api/v1/runs/run-1/cancel")->response.status, 200);
  auto names = [](const Json& body) {
    std::vector<std::string> out;
    for (const auto& r : body["runs"]) out.push_back(r["name"]);
    return out;
  };
  Json all = Call("GET", "/api/v1/runs")->Body();
  EXPECT_EQ(all["total"], 5);
  EXPECT_EQ(names(all).size(), 5u);
  Json page = Call("GET", "/api/v1/runs?limit=2&offset=1&order=newest")->Body();
  EXPECT_EQ(names(page), (std::vector<std::string>{"run-3", "run-2"}));
  EXPECT_EQ(page["total"], 5);
  Json cancelled = Call("GET", "/api/v1/runs?state=cancelled,running")->Body();
  EXPECT_EQ(names(cancelled), (std::vector<std::string>{"run-1"}));
  EXPECT_EQ(cancelled["total"], 1);
  Json text = Call("GET", "/api/v1/runs?q=RUN-4")->Body();
  EXPECT_EQ(names(text), (std::vector<std::string>{"run-4"}));
  auto bad = Call("GET", "/api/v1/runs?limit=0");
  ExpectError(*bad, 400, "invalid_argument");
  EXPECT_EQ(bad->Body()["error"]["field"], "limit");
  // The summary's new fields.
  Json first = all["runs"][0];
  EXPECT_EQ(first["gpus"], 0);
  EXPECT_EQ(first["cluster"], "local");
  EXPECT_EQ(first["started_at"], "");
  EXPECT_EQ(first["ended_at"], "");
}

TEST_F(ApiServiceTest, RunSummaryTimes_FollowTheAttempts) {
  UploadSnapshot();
  int64_t id = StartRunOnNode("r");
  Json running = Call("GET", "/api/v1/runs?q=r")->Body()["runs"][0];
  EXPECT_NE(running["started_at"], "");
  EXPECT_EQ(running["ended_at"], "");
  clock_.Advance(5000);
  Call("POST", "/api/v1/agents/n1/report",
       Json{{"attempts", {{{"id", id}, {"state", "exited"}, {"exit_code", 0}, {"log_bytes", 0}}}}}.dump());
  Json done = Call("GET", "/api/v1/runs")->Body()["runs"][0];
  EXPECT_EQ(done["state"], "succeeded");
  EXPECT_EQ(done["started_at"], running["started_at"]);
  EXPECT_NE(done["ended_at"], "");
  EXPECT_GT(done["ended_at"].get<std::string>(), done["started_at"].get<std::string>());
}

TEST_F(ApiServiceTest, Attempts_ListedWithTheirEndReasons) {
  UploadSnapshot();
  int64_t id = StartRunOnNode("r");
  Json list = Call("GET", "/api/v1/runs/r/experiments/0/attempts")->Body();
  ASSERT_EQ(list["attempts"].size(), 1u);
  EXPECT_EQ(list["attempts"][0]["number"], 1);
  EXPECT_EQ(list["attempts"][0]["state"], "running");
  EXPECT_EQ(list["attempts"][0]["node"], "n1");
  EXPECT_EQ(list["attempts"][0]["nodes"], Json({"n1"}));
  EXPECT_EQ(list["attempts"][0]["reason"], "");
  EXPECT_TRUE(list["attempts"][0]["exit_code"].is_null());
  Call("POST", "/api/v1/agents/n1/report",
       Json{{"attempts", {{{"id", id}, {"state", "exited"}, {"exit_code", 2}, {"log_bytes", 0}}}}}.dump());
  Json ended = Call("GET", "/api/v1/runs/r/experiments/0/attempts")->Body()["attempts"][0];
  EXPECT_EQ(ended["state"], "failed");
  EXPECT_EQ(ended["exit_code"], 2);
  EXPECT_EQ(ended["reason"], "exited with code 2");
  EXPECT_NE(ended["ended_at"], "");
  ExpectError(*Call("GET", "/api/v1/runs/r/experiments/x/attempts"), 400, "invalid_argument");
  ExpectError(*Call("GET", "/api/v1/runs/r/experiments/1/attempts"), 404, "not_found");
  ExpectError(*Call("GET", "/api/v1/runs/nope/experiments/0/attempts"), 404, "not_found");
  ExpectError(*Call("POST", "/api/v1/runs/r/experiments/0/attempts"), 400, "invalid_argument");
}

TEST_F(ApiServiceTest, Attempts_ALostAttemptSaysWhyAndTheNextOneFollows) {
  UploadSnapshot();
  RegisterNode("n1");
  Json body{{"name", "r"}, {"script", "train.py"}, {"snapshot", snapshot_}, {"max_restarts", 1}};
  ASSERT_EQ(Call("POST", "/api/v1/runs", body.dump())->response.status, 201);
  const Attempt* a = controller_->FindAttempt("r", 0, 0);
  ASSERT_NE(a, nullptr);
  Call("POST", "/api/v1/agents/n1/sync", Json{{"attempts", {{{"id", a->id}, {"state", "running"}}}}}.dump());
  clock_.Advance(10'000);  // n1 falls silent
  controller_->Tick();
  RegisterNode("n2");
  Json list = Call("GET", "/api/v1/runs/r/experiments/0/attempts")->Body();
  ASSERT_EQ(list["attempts"].size(), 2u) << list.dump();
  EXPECT_EQ(list["attempts"][0]["state"], "lost");
  EXPECT_EQ(list["attempts"][0]["reason"], "lost: node n1 stopped responding");
  EXPECT_EQ(list["attempts"][1]["number"], 2);
  EXPECT_EQ(list["attempts"][1]["node"], "n2");
}

TEST_F(ApiServiceTest, Nodes_ListWhatRunsOnThem) {
  UploadSnapshot();
  RegisterNode("n1", 2);
  ASSERT_EQ(SubmitRun("r", 1)->response.status, 201);
  Json nodes = Call("GET", "/api/v1/nodes")->Body()["nodes"];
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0]["running"],
            Json::array({Json{{"run", "r"}, {"experiment", 0}, {"attempt", 1}, {"gpus", {0}}}}));
  ASSERT_EQ(Call("POST", "/api/v1/runs/r/cancel")->response.status, 200);
  const Attempt* a = controller_->FindAttempt("r", 0, 0);
  Call("POST", "/api/v1/agents/n1/sync", Json{{"attempts", Json::array()}}.dump());  // the agent never had it
  EXPECT_EQ(a->state, AttemptState::kCancelled);
  EXPECT_EQ(a->reason, "cancelled");
  EXPECT_EQ(Call("GET", "/api/v1/nodes")->Body()["nodes"][0]["running"], Json::array());
}

TEST_F(ApiServiceTest, Rerun_CopiesTheRunWithNewArgsExpanded) {
  UploadSnapshot();
  Json body{{"name", "r"}, {"script", "train.py"}, {"snapshot", snapshot_}, {"args", {"--lr", "0.1"}},
            {"env", {{"SECRET", "v"}}}, {"priority", 3}, {"description", "first"}};
  ASSERT_EQ(Call("POST", "/api/v1/runs", body.dump())->response.status, 201);
  auto same = Call("POST", "/api/v1/runs/r/rerun");
  ASSERT_EQ(same->response.status, 201) << same->response.body;
  Json doc = same->Body();
  EXPECT_NE(doc["name"], "r");
  EXPECT_EQ(doc["args"], Json({"--lr", "0.1"}));
  EXPECT_EQ(doc["description"], "first");
  EXPECT_EQ(doc["priority"], 3);
  EXPECT_EQ(doc["env_names"], Json({"SECRET"}));
  EXPECT_EQ(controller_->FindRun(doc["name"])->spec.env.at("SECRET"), "v");

  auto swept = Call("POST", "/api/v1/runs/r/rerun",
                    Json{{"args", {"--lr", "[0.1, 0.2]"}}, {"name", "r2"}, {"description", "sweep"}}.dump());
  ASSERT_EQ(swept->response.status, 201) << swept->response.body;
  Json two = swept->Body();
  EXPECT_EQ(two["name"], "r2");
  ASSERT_EQ(two["experiments"].size(), 2u);
  EXPECT_EQ(two["experiments"][1]["args"], Json({"--lr", "0.2"}));
  EXPECT_EQ(two["experiments"][1]["params"], (Json{{"lr", "0.2"}}));
  EXPECT_EQ(two["sweep"]["parameters"], Json({"lr"}));

  auto bad = Call("POST", "/api/v1/runs/r/rerun", Json{{"args", {"--lr=[0.1"}}}.dump());
  ExpectError(*bad, 400, "invalid_argument");
  EXPECT_EQ(bad->Body()["error"]["field"], "args");
  ExpectError(*Call("POST", "/api/v1/runs/r/rerun", R"({"args": "x"})"), 400, "invalid_argument");
  ExpectError(*Call("POST", "/api/v1/runs/nope/rerun"), 404, "not_found");
  ExpectError(*Call("POST", "/api/v1/runs/r/rerun", R"({"name": "r2"})"), 409, "already_exists");
  ExpectError(*Call("GET", "/api/v1/runs/r/rerun"), 400, "invalid_argument");
}

TEST_F(ApiServiceTest, Rerun_ThatNoNodeCouldHold_409) {
  UploadSnapshot();
  RegisterNode("n1", 1);
  ASSERT_EQ(SubmitRun("r", 1)->response.status, 201);
  RegisterNode("n1", 0);  // the node comes back without its GPU: no node could hold the run now
  auto ex = Call("POST", "/api/v1/runs/r/rerun");
  ExpectError(*ex, 409, "failed_precondition");
  EXPECT_EQ(ex->Body()["error"]["field"], "resources");
}

// --- the web UI -------------------------------------------------------------------------------

TEST_F(ApiServiceTest, WebUi_ServedOutsideTheApiWithoutAToken) {
  ASSERT_TRUE(fs::MakeDirs(dir_ / "web" / "assets").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "web" / "index.html", "<html>ui</html>").ok());
  ASSERT_TRUE(fs::WriteFileAtomic(dir_ / "web" / "assets" / "app-1.js", "go()").ok());
  ApiOptions options;
  options.required_token = "s3cret-token";
  options.web_dirs = {dir_ / "nowhere", dir_ / "web"};
  MakeApi(options);
  for (const char* path : {"/", "/runs/abc", "/nodes"}) {
    auto ex = Call("GET", path);
    ASSERT_EQ(ex->responses, 1);
    EXPECT_EQ(ex->response.status, 200) << path;
    EXPECT_EQ(ex->response.body, "<html>ui</html>") << path;
    EXPECT_EQ(ex->HeaderValue("Cache-Control"), "no-cache");
  }
  auto js = Call("HEAD", "/assets/app-1.js");
  EXPECT_EQ(js->response.status, 200);
  EXPECT_EQ(js->response.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(js->HeaderValue("Cache-Control"), "public, max-age=31536000, immutable");
  EXPECT_EQ(Call("GET", "/assets/nope.js")->response.status, 404);
  ExpectError(*Call("GET", "/api/v1/runs"), 401, "unauthenticated");  // the API still needs it
  ExpectError(*Call("POST", "/"), 404, "not_found");  // only GET and HEAD are the UI
}

TEST_F(ApiServiceTest, WebUi_NotBuilt_SaysHow) {
  ApiOptions options;
  options.web_dirs = {dir_ / "nowhere"};
  MakeApi(options);
  auto ex = Call("GET", "/");
  EXPECT_EQ(ex->response.status, 404);
  EXPECT_EQ(ex->response.content_type, "text/html; charset=utf-8");
  EXPECT_THAT(ex->response.body, HasSubstr("scripts/build-web.sh"));
  EXPECT_THAT(ex->response.body, HasSubstr("--web-dir"));
}

}  // namespace
}  // namespace lattice
