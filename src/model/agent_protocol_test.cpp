#include "model/agent_protocol.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lattice {
namespace {

using ::testing::HasSubstr;

Json J(const char* text) { return Json::parse(text); }

// --- node registration -------------------------------------------------------------

TEST(NodeRegistration, RoundTrip_KeepsEveryField) {
  NodeRegistration r;
  r.id = "node-7f3a";
  r.hostname = "gpu01.example";
  r.cpus = 63.5;
  r.memory_bytes = 1ull << 40;
  r.gpus = {Gpu{0, "NVIDIA H100 80GB HBM3", 85899345920ull}, Gpu{3, "NVIDIA H100 80GB HBM3", 85899345920ull}};
  r.address = "10.77.0.11";
  auto back = ParseNodeRegistration(Json::parse(ToJson(r).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->id, r.id);
  EXPECT_EQ(back->address, "10.77.0.11");
  EXPECT_EQ(back->hostname, r.hostname);
  EXPECT_EQ(back->cpus, 63.5);
  EXPECT_EQ(back->memory_bytes, 1ull << 40);
  ASSERT_EQ(back->gpus.size(), 2u);
  EXPECT_EQ(back->gpus[1].index, 3);
  EXPECT_EQ(back->gpus[1].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(back->gpus[1].memory_bytes, 85899345920ull);
}

TEST(NodeRegistration, MissingId_Required) {
  auto r = ParseNodeRegistration(J(R"({"cpus": 4})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "id");
  EXPECT_THAT(r.error().message, HasSubstr("required"));
}

TEST(NodeRegistration, IdThatCouldBreakAUrl_Rejected) {
  for (const std::string& id : std::vector<std::string>{"", "a/b", "a?b", "a#b", "a b", std::string(129, 'x')}) {
    Json j{{"id", id}, {"cpus", 1}};
    auto r = ParseNodeRegistration(j);
    ASSERT_FALSE(r.ok()) << id;
    EXPECT_EQ(r.error().field, "id") << id;
  }
  Json ok{{"id", std::string(128, 'x')}, {"cpus", 1}};
  EXPECT_TRUE(ParseNodeRegistration(ok).ok());
}

TEST(NodeRegistration, NoOrNegativeCpus_Rejected) {
  for (const char* body : {R"({"id":"n"})", R"({"id":"n","cpus":0})", R"({"id":"n","cpus":-1})"}) {
    auto r = ParseNodeRegistration(J(body));
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().field, "cpus") << body;
  }
}

TEST(NodeRegistration, MalformedGpu_NamesIndexedPath) {
  auto r = ParseNodeRegistration(J(R"({"id":"n","cpus":1,"gpus":[{"index":0},{"index":1,"uuid":"x"}]})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "gpus[1].uuid");
  EXPECT_THAT(r.error().message, HasSubstr("unknown field 'gpus[1].uuid'"));
  r = ParseNodeRegistration(J(R"({"id":"n","cpus":1,"gpus":{"index":0}})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "gpus");
}

TEST(NodeRegistration, UnknownField_Named) {
  auto r = ParseNodeRegistration(J(R"({"id":"n","cpus":1,"gpu_count":2})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "gpu_count");
}

// --- attempt reports -----------------------------------------------------------------

TEST(AttemptReports, RoundTrip_EveryStateAndOptionalFields) {
  std::vector<AttemptReport> in(4);
  in[0] = AttemptReport{1, ReportedState::kRunning, std::nullopt, 10, "", 29500};
  in[1] = AttemptReport{2, ReportedState::kExited, 0, 0, "", 0};
  in[2] = AttemptReport{3, ReportedState::kExited, -9, 1ull << 33, "killed by SIGKILL", 0};
  in[3] = AttemptReport{4, ReportedState::kLost, std::nullopt, 5, "could not start: python3: not found", 0};
  auto back = ParseAttemptReports(Json::parse(ToJson(in).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->size(), 4u);
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ((*back)[i].id, in[i].id);
    EXPECT_EQ((*back)[i].state, in[i].state);
    EXPECT_EQ((*back)[i].exit_code, in[i].exit_code) << i;
    EXPECT_EQ((*back)[i].log_bytes, in[i].log_bytes);
    EXPECT_EQ((*back)[i].message, in[i].message);
    EXPECT_EQ((*back)[i].master_port, in[i].master_port);
  }
}

TEST(AttemptReports, EmptyBodyOrNoAttempts_EmptyList) {
  auto r = ParseAttemptReports(Json::object());
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
  r = ParseAttemptReports(J(R"({"attempts": []})"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

TEST(AttemptReports, NullExitCode_MeansNone) {
  auto r = ParseAttemptReports(J(R"({"attempts":[{"id":1,"state":"exited","exit_code":null}]})"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE((*r)[0].exit_code.has_value());
}

struct Malformed {
  const char* body;
  const char* field;
  const char* text;
};

class MalformedReports : public ::testing::TestWithParam<Malformed> {};

TEST_P(MalformedReports, RejectedNamingFieldPath) {
  auto r = ParseAttemptReports(Json::parse(GetParam().body));
  ASSERT_FALSE(r.ok()) << GetParam().body;
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().field, GetParam().field) << GetParam().body << ": " << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr(GetParam().text));
}

INSTANTIATE_TEST_SUITE_P(
    Bodies, MalformedReports,
    ::testing::Values(
        Malformed{R"({"attempts": {}})", "attempts", "must be an array"},
        Malformed{R"({"attempts": [], "extra": 1})", "extra", "unknown field"},
        Malformed{R"({"attempts": [5]})", "attempts[0]", "must be a JSON object"},
        Malformed{R"({"attempts": [{"state":"running"}]})", "attempts[0].id", "is required"},
        Malformed{R"({"attempts": [{"id":"1","state":"running"}]})", "attempts[0].id", "an integer"},
        Malformed{R"({"attempts": [{"id":1}]})", "attempts[0].state", "is required"},
        Malformed{R"({"attempts": [{"id":1,"state":"running"},{"id":2,"state":"done"}]})", "attempts[1].state",
                  "must be running, exited or lost"},
        Malformed{R"({"attempts": [{"id":1,"state":"exited","exit_code":"0"}]})", "attempts[0].exit_code",
                  "an integer"},
        Malformed{R"({"attempts": [{"id":1,"state":"exited","exit_code":4294967296}]})",
                  "attempts[0].exit_code", "32-bit"},
        Malformed{R"({"attempts": [{"id":1,"state":"running","log_bytes":-1}]})", "attempts[0].log_bytes",
                  "non-negative"},
        Malformed{R"({"attempts": [{"id":1,"state":"running","pid":7}]})", "attempts[0].pid",
                  "unknown field 'attempts[0].pid'"}));

TEST(AttemptReports, BodyNotAnObject_Rejected) {
  EXPECT_FALSE(ParseAttemptReports(J("[]")).ok());
}

// --- agent work -------------------------------------------------------------------------

TEST(AgentWork, RoundTrip_KeepsAssignmentsCancelsAndForgets) {
  AgentWork w;
  Assignment a;
  a.attempt = 12;
  a.run = "brave-otter-4821";
  a.experiment = 3;
  a.number = 2;
  a.script = "train.py";
  a.args = {"--lr", "0.1", "ü"};
  a.snapshot = std::string(64, 'c');
  a.env = {{"K", "v"}};
  a.python = "python3";
  a.grace_ms = 1500;
  a.resources = Resources{2, 1024, 2};
  a.gpus = {4, 6};
  a.restore = {RestoreFile{"epoch=3/model.ckpt", std::string(64, 'd'), 5000, 0600}};
  a.environment = EnvironmentSpec{"six==1.16.0\n--index-url https://u:p@h/simple\n", "requirements.txt", true,
                                  "pip install -e ."};
  a.nnodes = 3;
  a.node_rank = 2;
  a.launcher = "per-gpu";
  a.ranks_per_node = 2;
  a.master_addr = "10.77.0.11";
  a.master_port = 29511;
  w.assign.push_back(a);
  w.cancel = {7, 8};
  w.forget = {8};
  w.abort = {9};
  w.master_ports = {MasterPort{10, 29600}};
  auto back = ParseAgentWork(Json::parse(ToJson(w).dump()));
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->assign.size(), 1u);
  const Assignment& b = back->assign[0];
  EXPECT_EQ(b.attempt, 12);
  EXPECT_EQ(b.run, a.run);
  EXPECT_EQ(b.experiment, 3);
  EXPECT_EQ(b.number, 2);
  EXPECT_EQ(b.script, a.script);
  EXPECT_EQ(b.args, a.args);
  EXPECT_EQ(b.snapshot, a.snapshot);
  EXPECT_EQ(b.env, a.env);
  EXPECT_EQ(b.python, a.python);
  EXPECT_EQ(b.grace_ms, 1500);
  EXPECT_EQ(b.resources.cpus, 2);
  EXPECT_EQ(b.resources.memory_bytes, 1024u);
  EXPECT_EQ(b.resources.gpus, 2);
  EXPECT_EQ(b.gpus, (std::vector<int>{4, 6}));
  ASSERT_EQ(b.restore.size(), 1u);
  EXPECT_EQ(b.restore[0].path, "epoch=3/model.ckpt");
  EXPECT_EQ(b.restore[0].sha256, std::string(64, 'd'));
  EXPECT_EQ(b.restore[0].size, 5000u);
  EXPECT_EQ(b.restore[0].mode, 0600u);
  // The agent gets the requirements whole, credentials included: it builds.
  EXPECT_EQ(b.environment.requirements, a.environment.requirements);
  EXPECT_EQ(b.environment.source, "requirements.txt");
  EXPECT_TRUE(b.environment.system_site_packages);
  EXPECT_EQ(b.environment.setup, "pip install -e .");
  EXPECT_EQ(b.nnodes, 3);
  EXPECT_EQ(b.node_rank, 2);
  EXPECT_EQ(b.launcher, "per-gpu");
  EXPECT_EQ(b.ranks_per_node, 2);
  EXPECT_EQ(b.master_addr, "10.77.0.11");
  EXPECT_EQ(b.master_port, 29511);
  EXPECT_EQ(back->abort, (std::vector<int64_t>{9}));
  ASSERT_EQ(back->master_ports.size(), 1u);
  EXPECT_EQ(back->master_ports[0].attempt, 10);
  EXPECT_EQ(back->master_ports[0].port, 29600);
  EXPECT_EQ(back->cancel, (std::vector<int64_t>{7, 8}));
  EXPECT_EQ(back->forget, (std::vector<int64_t>{8}));
  EXPECT_FALSE(back->empty());
}

TEST(AgentWork, ImpossibleGangShape_Rejected) {
  auto r = ParseAgentWork(J(R"({"assign":[{"attempt":1,"run":"r","experiment":0,"number":1,"script":"s","args":[],
      "snapshot":"x","env":{},"python":"","grace_ms":0,"resources":{"cpus":1},"gpus":[],
      "nnodes":2,"node_rank":2,"launcher":"per-gpu","ranks_per_node":1,"master_addr":"a","master_port":1}],
      "cancel":[],"forget":[]})"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("impossible gang shape"), std::string::npos) << r.error().message;
}

TEST(AgentWork, Empty_RoundTripsAndIsEmpty) {
  AgentWork w;
  EXPECT_TRUE(w.empty());
  Json j = ToJson(w);
  EXPECT_EQ(j, J(R"({"assign":[],"cancel":[],"forget":[],"abort":[],"master_ports":[]})"));
  auto back = ParseAgentWork(j);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->empty());
}

TEST(AgentWork, Malformed_RejectedWithoutThrowing) {
  for (const char* body : {R"([])", R"({})", R"({"assign":[],"cancel":[]})",
                           R"({"assign":[{"attempt":1}],"cancel":[],"forget":[]})",
                           R"({"assign":[],"cancel":["x"],"forget":[]})", R"({"assign":5,"cancel":[],"forget":[]})"}) {
    auto r = ParseAgentWork(J(body));
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << body;
  }
}

TEST(AgentWork, NumbersThatDoNotFit_RejectedNamingTheField) {
  // A plain get<int64_t>() casts 4.9e22 (undefined behaviour) and wraps
  // 2^63; found by fuzz_submit_request.
  AgentWork w;
  w.assign.push_back(Assignment{});
  const Json good = ToJson(w);
  const std::vector<std::pair<std::string, Json>> cases = {
      {"attempt", 4.9e22}, {"attempt", 1.5}, {"experiment", int64_t{1} << 31},
      {"number", -1e30},   {"grace_ms", 9223372036854775808u}, {"gpus", Json::array({0, 1e10})}};
  for (const auto& [key, value] : cases) {
    Json j = good;
    j["assign"][0][key] = value;
    auto r = ParseAgentWork(j);
    ASSERT_FALSE(r.ok()) << key << "=" << value;
    EXPECT_THAT(r.error().message, HasSubstr("'" + key + "'")) << value;
  }
  for (const char* key : {"cancel", "forget"}) {
    Json j = good;
    j[key] = Json::array({1, 18446744073709551615u});
    EXPECT_FALSE(ParseAgentWork(j).ok()) << key;
    j[key] = Json::array({2.5});
    EXPECT_FALSE(ParseAgentWork(j).ok()) << key;
  }
}

TEST(AgentWork, BadResourcesInAssignment_NamesField) {
  AgentWork w;
  w.assign.push_back(Assignment{});
  Json j = ToJson(w);
  j["assign"][0]["resources"]["gpus"] = -1;
  auto r = ParseAgentWork(j);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "resources.gpus");
}

}  // namespace
}  // namespace lattice
