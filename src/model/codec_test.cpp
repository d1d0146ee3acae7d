#include "model/codec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace lattice {
namespace {

using ::testing::HasSubstr;

const std::string kSha(64, 'a');

Json ValidBody() {
  return Json{{"script", "train.py"}, {"snapshot", kSha}};
}

Result<SubmitRequest> Parse(const Json& body) { return ParseSubmitRequest(body); }

// Asserts that body is refused, naming field, with message containing text.
void ExpectRejected(const Json& body, const std::string& field, const std::string& text) {
  auto r = Parse(body);
  ASSERT_FALSE(r.ok()) << body.dump();
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << body.dump();
  EXPECT_EQ(r.error().field, field) << body.dump() << ": " << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr(text)) << body.dump();
}

std::set<std::string> Keys(const Json& j) {
  std::set<std::string> out;
  for (const auto& [k, v] : j.items()) out.insert(k);
  return out;
}

// --- ParseSubmitRequest ---------------------------------------------------------

TEST(ParseSubmitRequest, MinimalBody_GetsDefaults) {
  auto r = Parse(ValidBody());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "");
  EXPECT_EQ(r->spec.script, "train.py");
  EXPECT_EQ(r->spec.snapshot, kSha);
  EXPECT_TRUE(r->spec.args.empty());
  EXPECT_EQ(r->spec.resources.cpus, 1);
  EXPECT_EQ(r->spec.resources.gpus, 0);
  EXPECT_EQ(r->spec.resources.memory_bytes, 0u);
  EXPECT_EQ(r->spec.max_restarts, 0);
  EXPECT_EQ(r->spec.grace_ms, -1);
}

TEST(ParseSubmitRequest, FullBody_EveryFieldRead) {
  Json body = ValidBody();
  body["name"] = "my-run";
  body["description"] = "lr sweep";
  body["args"] = {"--lr", "0.1", "ünï"};
  body["env"] = {{"WANDB_KEY", "s3cret"}, {"EMPTY", ""}};
  body["python"] = "/usr/bin/python3";
  body["max_restarts"] = 3;
  body["grace_ms"] = 5000;
  body["resources"] = {{"cpus", 2.5}, {"memory_bytes", 17179869184ull}, {"gpus", 4}};
  auto r = Parse(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "my-run");
  EXPECT_EQ(r->description, "lr sweep");
  EXPECT_EQ(r->spec.args, (std::vector<std::string>{"--lr", "0.1", "ünï"}));
  EXPECT_EQ(r->spec.env.at("WANDB_KEY"), "s3cret");
  EXPECT_EQ(r->spec.env.at("EMPTY"), "");
  EXPECT_EQ(r->spec.python, "/usr/bin/python3");
  EXPECT_EQ(r->spec.max_restarts, 3);
  EXPECT_EQ(r->spec.grace_ms, 5000);
  EXPECT_EQ(r->spec.resources.cpus, 2.5);
  EXPECT_EQ(r->spec.resources.memory_bytes, 17179869184ull);
  EXPECT_EQ(r->spec.resources.gpus, 4);
}

TEST(ParseSubmitRequest, NotAnObject_Rejected) {
  EXPECT_FALSE(Parse(Json::array()).ok());
  EXPECT_FALSE(Parse(Json("x")).ok());
}

TEST(ParseSubmitRequest, MissingScriptOrSnapshot_Required) {
  ExpectRejected(Json{{"snapshot", kSha}}, "script", "field 'script' is required");
  ExpectRejected(Json{{"script", "a.py"}}, "snapshot", "field 'snapshot' is required");
  ExpectRejected(Json{{"script", ""}, {"snapshot", kSha}}, "script", "non-empty");
}

class BadSnapshot : public ::testing::TestWithParam<std::string> {};

TEST_P(BadSnapshot, RejectedAsNotASha256) {
  Json body = ValidBody();
  body["snapshot"] = GetParam();
  ExpectRejected(body, "snapshot", "lowercase hex SHA-256 (64 characters)");
}

INSTANTIATE_TEST_SUITE_P(Hashes, BadSnapshot,
                         ::testing::Values(std::string(), std::string(63, 'a'), std::string(65, 'a'),
                                           std::string(64, 'A'), std::string(63, 'a') + "g",
                                           std::string(63, 'a') + " ", "../../../../etc/passwd" + std::string(42, 'a'),
                                           std::string(63, 'a') + std::string(1, '\0')));

TEST(ParseSubmitRequest, SnapshotWrongType_NamesField) {
  Json body = ValidBody();
  body["snapshot"] = 5;
  ExpectRejected(body, "snapshot", "field 'snapshot' must be a string");
}

TEST(ParseSubmitRequest, NegativeOrHugeGpus_RejectedWithDottedPath) {
  Json body = ValidBody();
  body["resources"] = {{"gpus", -1}};
  ExpectRejected(body, "resources.gpus", "between 0 and 4096");
  body["resources"] = {{"gpus", 4097}};
  ExpectRejected(body, "resources.gpus", "between 0 and 4096");
  body["resources"] = {{"gpus", 1.5}};
  ExpectRejected(body, "resources.gpus", "must be an integer");
}

TEST(ParseSubmitRequest, NonPositiveCpusOrNegativeMemory_Rejected) {
  Json body = ValidBody();
  body["resources"] = {{"cpus", 0}};
  ExpectRejected(body, "resources.cpus", "positive");
  body["resources"] = {{"cpus", -2}};
  ExpectRejected(body, "resources.cpus", "positive");
  body["resources"] = {{"memory_bytes", -1}};
  ExpectRejected(body, "resources.memory_bytes", "non-negative integer");
  body["resources"] = "4G";
  ExpectRejected(body, "resources", "must be an object");
}

TEST(ParseSubmitRequest, UnknownResourceField_NamesDottedPath) {
  Json body = ValidBody();
  body["resources"] = {{"gpu", 1}};
  ExpectRejected(body, "resources.gpu", "unknown field 'resources.gpu'");
}

TEST(ParseSubmitRequest, NulInArgs_Rejected) {
  Json body = ValidBody();
  body["args"] = {"ok", std::string("a\0b", 3)};
  ExpectRejected(body, "args", "NUL");
}

TEST(ParseSubmitRequest, NulInEnvValueOrName_Rejected) {
  Json body = ValidBody();
  body["env"] = {{"K", std::string("v\0w", 3)}};
  ExpectRejected(body, "env", "env value of 'K' contains a NUL byte");
  body["env"] = Json::object();
  body["env"][std::string("K\0L", 3)] = "v";
  ExpectRejected(body, "env", "is not a valid variable name");
}

TEST(ParseSubmitRequest, EnvNameEmptyOrWithEquals_Rejected) {
  Json body = ValidBody();
  body["env"] = {{"A=B", "v"}};
  ExpectRejected(body, "env", "env name 'A=B' is not a valid variable name");
  body["env"] = {{"", "v"}};
  ExpectRejected(body, "env", "is not a valid variable name");
}

TEST(ParseSubmitRequest, EnvValueNotAString_NamesField) {
  Json body = ValidBody();
  body["env"] = {{"K", 1}};
  ExpectRejected(body, "env", "field 'env' must be an object whose values are strings");
}

TEST(ParseSubmitRequest, UnknownTopLevelField_NamedWithKnownOnes) {
  Json body = ValidBody();
  body["gpus"] = 2;
  auto r = Parse(body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "gpus");
  EXPECT_THAT(r.error().message, HasSubstr("unknown field 'gpus'"));
  EXPECT_THAT(r.error().message, HasSubstr("resources"));
  EXPECT_THAT(r.error().message, HasSubstr("script"));
}

TEST(ParseSubmitRequest, WrongTypes_NameTheField) {
  Json body = ValidBody();
  body["args"] = "--lr 0.1";
  ExpectRejected(body, "args", "field 'args' must be an array of strings");
  body = ValidBody();
  body["args"] = {"--lr", 0.1};
  ExpectRejected(body, "args", "an array of strings");
  body = ValidBody();
  body["max_restarts"] = "3";
  ExpectRejected(body, "max_restarts", "an integer");
  body = ValidBody();
  body["name"] = 7;
  ExpectRejected(body, "name", "a string");
}

TEST(ParseSubmitRequest, RangeLimits_Enforced) {
  Json body = ValidBody();
  body["max_restarts"] = -1;
  ExpectRejected(body, "max_restarts", "between 0 and 1000");
  body["max_restarts"] = 1001;
  ExpectRejected(body, "max_restarts", "between 0 and 1000");
  body = ValidBody();
  body["grace_ms"] = -2;
  ExpectRejected(body, "grace_ms", "between 0 and one day");
  body["grace_ms"] = 86'400'001;
  ExpectRejected(body, "grace_ms", "between 0 and one day");
  // 2^64-1 must not wrap around to -1 ("the agent's default").
  body["grace_ms"] = UINT64_MAX;
  ExpectRejected(body, "grace_ms", "an integer");
  body = ValidBody();
  body["description"] = std::string(10001, 'x');
  ExpectRejected(body, "description", "longer than 10000");
}

TEST(ParseSubmitRequest, NullFields_TreatedAsAbsent) {
  Json body = ValidBody();
  body["name"] = nullptr;
  body["args"] = nullptr;
  body["resources"] = nullptr;
  auto r = Parse(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->spec.args.empty());
}

// --- RunToJson -------------------------------------------------------------------

Run SampleRun() {
  Run run;
  run.name = "brave-otter-1234";
  run.description = "d";
  run.created_at_ms = 1'700'000'000'123;
  run.spec.script = "train.py";
  run.spec.args = {"--lr", "0.1"};
  run.spec.snapshot = kSha;
  run.spec.env = {{"HF_TOKEN", "hf_supersecretvalue"}, {"WANDB_API_KEY", "wandb-secret-42"}};
  run.spec.resources.gpus = 2;
  Experiment e0;
  e0.index = 0;
  e0.state = ExperimentState::kFailed;
  e0.args = {"--lr", "0.1"};
  e0.exit_code = 3;
  e0.attempts = 2;
  e0.restarts = 1;
  e0.node = "gpu-box";
  e0.current_attempt = 9;
  Experiment e1;
  e1.index = 1;
  e1.args = {"--lr", "0.01"};
  run.experiments = {e0, e1};
  return run;
}

TEST(RunToJson, HasTheDocumentedKeysWithTheirTypes) {
  lattice::Run run = SampleRun();
  Json j = RunToJson(run, {});
  for (const char* k : {"name", "state", "created_at", "experiments"}) EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["name"], "brave-otter-1234");
  EXPECT_EQ(j["state"], "running");  // one failed, one queued: under way
  EXPECT_EQ(j["created_at"], "2023-11-14T22:13:20.123Z");
  ASSERT_TRUE(j["experiments"].is_array());
  ASSERT_EQ(j["experiments"].size(), 2u);
  const Json& e0 = j["experiments"][0];
  for (const char* k : {"id", "state", "args", "exit_code", "attempts", "node"}) EXPECT_TRUE(e0.contains(k)) << k;
  EXPECT_EQ(e0["id"], "0");
  EXPECT_EQ(e0["state"], "failed");
  EXPECT_EQ(e0["args"], Json({"--lr", "0.1"}));
  EXPECT_EQ(e0["exit_code"], 3);
  EXPECT_EQ(e0["attempts"], 2);
  EXPECT_EQ(e0["node"], "gpu-box");
  const Json& e1 = j["experiments"][1];
  EXPECT_EQ(e1["id"], "1");
  EXPECT_EQ(e1["state"], "queued");
  EXPECT_TRUE(e1["exit_code"].is_null());
  EXPECT_TRUE(e1["node"].is_null());
  EXPECT_EQ(e1["attempts"], 0);
}

TEST(RunToJson, ExactKeySet_NoSurprises) {
  // Pins the shape so additions are deliberate (api/openapi.yaml must follow).
  Json j = RunToJson(SampleRun(), {});
  EXPECT_EQ(Keys(j), (std::set<std::string>{"name", "state", "description", "created_at", "script", "args",
                                            "snapshot", "resources", "env_names", "python", "max_restarts",
                                            "grace_ms", "priority", "max_parallel", "sweep", "environment",
                                            "experiments", "nodes", "launcher", "cluster", "max_cost",
                                            "max_duration_ms", "user"}));
  EXPECT_EQ(Keys(j["experiments"][0]),
            (std::set<std::string>{"id", "state", "args", "exit_code", "attempts", "restarts", "node", "reason",
                                   "started_at", "ended_at", "gpus", "params"}));
}

TEST(RunToJson, EnvironmentCredentialsAreMaskedButStoredWhole) {
  lattice::Run run = SampleRun();
  run.spec.environment.requirements = "--index-url https://alice:hunter2@pypi.example/simple\nsix\n";
  run.spec.environment.source = "requirements.txt";
  run.spec.environment.setup = "pip install --extra-index-url https://tok3n@x.example/s pkg";
  std::string shown = RunToJson(run, {}).dump();
  EXPECT_EQ(shown.find("hunter2"), std::string::npos);
  EXPECT_EQ(shown.find("tok3n"), std::string::npos);
  EXPECT_NE(shown.find("https://****@pypi.example/simple"), std::string::npos);
  auto stored = SpecFromJson(SpecToJson(run.spec));
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->environment.requirements, run.spec.environment.requirements);
  EXPECT_EQ(stored->environment.setup, run.spec.environment.setup);
}

TEST(ParseSubmitRequest, EnvironmentWithNulOrUnknownFieldIsRefusedByName) {
  Json body{{"script", "t.py"}, {"snapshot", std::string(64, 'a')},
            {"environment", {{"requirements", std::string("six\0", 4)}}}};
  auto r = ParseSubmitRequest(body);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "environment.requirements");
  body["environment"] = Json{{"requirement", "six"}};
  auto unknown = ParseSubmitRequest(body);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("requirement"), std::string::npos);
}

TEST(RunToJson, NeverContainsEnvValues_OnlyNames) {
  Json j = RunToJson(SampleRun(), {});
  std::string text = j.dump();
  EXPECT_EQ(text.find("hf_supersecretvalue"), std::string::npos);
  EXPECT_EQ(text.find("wandb-secret-42"), std::string::npos);
  EXPECT_FALSE(j.contains("env"));
  EXPECT_EQ(j["env_names"], Json({"HF_TOKEN", "WANDB_API_KEY"}));
  EXPECT_EQ(RunSummaryToJson(SampleRun(), {}).dump().find("secret"), std::string::npos);
}

TEST(RunToJson, CurrentAttempt_AddsTimesAndGpus) {
  lattice::Run run = SampleRun();
  Attempt a;
  a.id = 9;
  a.started_at_ms = 1'700'000'000'000;
  a.ended_at_ms = 1'700'000'060'000;
  a.gpu_indices = {2, 5};
  Json j = RunToJson(run, {&a, nullptr});
  EXPECT_EQ(j["experiments"][0]["started_at"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(j["experiments"][0]["ended_at"], "2023-11-14T22:14:20.000Z");
  EXPECT_EQ(j["experiments"][0]["gpus"], Json({2, 5}));
  EXPECT_EQ(j["experiments"][1]["started_at"], "");
  EXPECT_EQ(j["experiments"][1]["gpus"], Json::array());
}

TEST(RunSummaryToJson, CountsExperimentStates) {
  Json j = RunSummaryToJson(SampleRun(), {});
  EXPECT_EQ(j["experiments"], 2);
  EXPECT_EQ(j["experiment_states"], (Json{{"failed", 1}, {"queued", 1}}));
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["started_at"], "");
  EXPECT_EQ(j["ended_at"], "");
}

TEST(RunSummaryToJson, GpusPerExperimentClusterAndTimes) {
  lattice::Run run = SampleRun();
  run.spec.resources.gpus = 4;
  run.spec.nodes = 2;
  run.spec.cluster = "slurm1";
  Json j = RunSummaryToJson(run, RunTimes{1'700'000'000'000, 1'700'000'060'000});
  EXPECT_EQ(j["gpus"], 8);
  EXPECT_EQ(j["cluster"], "slurm1");
  EXPECT_EQ(j["started_at"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(j["ended_at"], "2023-11-14T22:14:20.000Z");
}

TEST(AttemptToJson, OneNodeAttempt) {
  Attempt a;
  a.id = 7;
  a.number = 2;
  a.node = "n1";
  a.state = AttemptState::kFailed;
  a.exit_code = 3;
  a.started_at_ms = 1000;
  a.ended_at_ms = 2000;
  a.gpu_indices = {1};
  a.reason = "exited with code 3";
  Json j = AttemptToJson(a, {&a});
  EXPECT_EQ(j, (Json{{"number", 2}, {"state", "failed"}, {"node", "n1"}, {"nodes", {"n1"}}, {"exit_code", 3},
                     {"started_at", "1970-01-01T00:00:01.000Z"}, {"ended_at", "1970-01-01T00:00:02.000Z"},
                     {"gpus", {1}}, {"reason", "exited with code 3"}}));
  a.state = AttemptState::kRunning;
  a.exit_code.reset();
  a.ended_at_ms = 0;
  a.reason.clear();
  j = AttemptToJson(a, {&a});
  EXPECT_TRUE(j["exit_code"].is_null());
  EXPECT_EQ(j["ended_at"], "");
  EXPECT_EQ(j["reason"], "");
}

TEST(AttemptToJson, GangShowsEveryNodeAndRankZerosGpus) {
  Attempt head;
  head.id = 10;
  head.node = "n1";
  head.nnodes = 2;
  Attempt p0 = head, p1 = head;
  p0.id = 11;
  p0.gang = 10;
  p0.gpu_indices = {0, 1};
  p1.id = 12;
  p1.gang = 10;
  p1.node = "n2";
  p1.node_rank = 1;
  p1.gpu_indices = {2, 3};
  Json j = AttemptToJson(head, {&p0, &p1});
  EXPECT_EQ(j["node"], "n1");
  EXPECT_EQ(j["nodes"], Json({"n1", "n2"}));
  EXPECT_EQ(j["gpus"], Json({0, 1}));
}

TEST(ParseRerunRequest, AbsentFieldsKeepTheOldRuns) {
  auto r = ParseRerunRequest(Json::object());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->args.has_value());
  EXPECT_FALSE(r->description.has_value());
  EXPECT_EQ(r->name, "");
  r = ParseRerunRequest(Json{{"args", nullptr}, {"description", nullptr}});
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->args.has_value());
  r = ParseRerunRequest(Json{{"args", Json::array()}, {"name", "again-1"}, {"description", ""}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->args, std::optional<std::vector<std::string>>(std::vector<std::string>{}));
  EXPECT_EQ(r->name, "again-1");
  EXPECT_EQ(r->description, std::optional<std::string>(""));
}

TEST(ParseRerunRequest, BadFieldsAreNamed) {
  for (const auto& [body, field] : std::vector<std::pair<Json, std::string>>{
           {Json{{"args", "--lr 1"}}, "args"},
           {Json{{"args", {1}}}, "args"},
           {Json{{"args", {std::string("a\0b", 3)}}}, "args"},
           {Json{{"name", "Bad Name"}}, "name"},
           {Json{{"description", std::string(10001, 'x')}}, "description"},
           {Json{{"script", "other.py"}}, "script"}}) {
    auto r = ParseRerunRequest(body);
    ASSERT_FALSE(r.ok()) << body.dump();
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(r.error().field.find(field), std::string::npos) << body.dump() << ": " << r.error().field;
  }
}

TEST(IsoTime, ZeroIsEmptyAndMillisecondsKept) {
  EXPECT_EQ(IsoTime(0), "");
  EXPECT_EQ(IsoTime(-5), "");
  EXPECT_EQ(IsoTime(1), "1970-01-01T00:00:00.001Z");
  EXPECT_EQ(IsoTime(951'782'400'999), "2000-02-29T00:00:00.999Z");
}

// --- spec persistence and the smaller codecs ---------------------------------------

TEST(SpecJson, RoundTrip_KeepsEveryField) {
  RunSpec s;
  s.script = "dir/train.py";
  s.args = {"ä", "--x=1", ""};
  s.snapshot = kSha;
  s.resources = Resources{3.5, 123456789012ull, 8};
  s.env = {{"A", "1"}, {"B", "two words"}};
  s.python = "python3.12";
  s.max_restarts = 7;
  s.grace_ms = 0;
  s.max_cost = 49.5;
  s.max_duration_ms = 7'200'000;
  s.user = "ada";
  auto back = SpecFromJson(SpecToJson(s));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->script, s.script);
  EXPECT_EQ(back->args, s.args);
  EXPECT_EQ(back->snapshot, s.snapshot);
  EXPECT_EQ(back->resources.cpus, 3.5);
  EXPECT_EQ(back->resources.memory_bytes, 123456789012ull);
  EXPECT_EQ(back->resources.gpus, 8);
  EXPECT_EQ(back->env, s.env);
  EXPECT_EQ(back->python, s.python);
  EXPECT_EQ(back->max_restarts, 7);
  EXPECT_EQ(back->grace_ms, 0);
  EXPECT_EQ(back->max_cost, 49.5);
  EXPECT_EQ(back->max_duration_ms, 7'200'000);
  EXPECT_EQ(back->user, "ada");
}

TEST(ParseSubmitRequest, LimitsOutOfRange_RejectedNamingTheField) {
  for (const auto& [field, value] : std::vector<std::pair<std::string, Json>>{
           {"max_cost", -1}, {"max_cost", 1e13}, {"max_duration_ms", -5}, {"max_duration_ms", 400LL * 86400000},
           {"user", std::string(300, 'u')}}) {
    Json body{{"script", "t.py"}, {"snapshot", kSha}};
    body[field] = value;
    auto r = ParseSubmitRequest(body);
    ASSERT_FALSE(r.ok()) << field;
    EXPECT_EQ(r.error().field, field);
  }
  Json ok{{"script", "t.py"}, {"snapshot", kSha}, {"max_cost", 50}, {"max_duration_ms", 3600000}, {"user", "ada"}};
  auto r = ParseSubmitRequest(ok);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->spec.max_cost, 50);
  EXPECT_EQ(r->spec.max_duration_ms, 3600000);
}

TEST(SpecJson, UnknownStoredField_RejectedWithSpecPath) {
  Json j = SpecToJson(RunSpec{});
  j["script"] = "a.py";
  j["snapshot"] = kSha;
  j["extra"] = 1;
  auto r = SpecFromJson(j);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "spec.extra");
}

TEST(ParseGpus, EntriesValidatedWithIndexedPath) {
  std::vector<Gpu> gpus;
  ASSERT_TRUE(ParseGpus(Json::parse(R"([{"index":3,"name":"H100","memory_bytes":85899345920}])"), "gpus", &gpus).ok());
  ASSERT_EQ(gpus.size(), 1u);
  EXPECT_EQ(gpus[0].index, 3);
  EXPECT_EQ(gpus[0].name, "H100");
  Status st = ParseGpus(Json::parse(R"([{"index":0},{"index":"1"}])"), "gpus", &gpus);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().field, "gpus[1].index");
  st = ParseGpus(Json::parse(R"({"index":0})"), "node.gpus", &gpus);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().field, "node.gpus");
}

TEST(NodeToJson, HasStateAndTimes) {
  Node n;
  n.id = "n1";
  n.hostname = "box";
  n.cpus = 16;
  n.gpus = {Gpu{0, "A100", 1}};
  n.state = NodeState::kLost;
  n.registered_at_ms = 1000;
  Json j = ToJson(n, {NodeWork{"r1", 3, 2, {0}}});
  EXPECT_EQ(j["running"], (Json::array({Json{{"run", "r1"}, {"experiment", 3}, {"attempt", 2}, {"gpus", {0}}}})));
  EXPECT_EQ(ToJson(n, {})["running"], Json::array());
  EXPECT_EQ(j["state"], "lost");
  EXPECT_EQ(j["registered_at"], "1970-01-01T00:00:01.000Z");
  EXPECT_EQ(j["last_seen"], "");
  EXPECT_EQ(j["gpus"][0]["name"], "A100");
}

}  // namespace
}  // namespace lattice
