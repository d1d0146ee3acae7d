// The cluster model: ParseCluster (the body of POST /clusters), ParseSshHost,
// ParseSlurmTime, and ToJson's round trip through ParseCluster.
#include "model/cluster.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace lattice {
namespace {

using ::testing::HasSubstr;

Json SlurmBody() {
  return Json{{"name", "hpc"}, {"backend", "slurm"}};
}

Json SshBody() {
  return Json{{"name", "lab"}, {"backend", "ssh"}, {"hosts", Json::array({"root@gpu1", "gpu2:2222"})}};
}

Json With(Json body, const std::string& key, const Json& value) {
  body[key] = value;
  return body;
}

// Asserts that body is refused as invalid, naming `field`, with a message containing `text`.
void ExpectRejected(const Json& body, const std::string& field, const std::string& text) {
  auto r = ParseCluster(body);
  ASSERT_FALSE(r.ok()) << body.dump();
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << body.dump();
  EXPECT_EQ(r.error().field, field) << body.dump() << ": " << r.error().message;
  EXPECT_THAT(r.error().message, HasSubstr(text)) << body.dump();
}

// --- ParseCluster: valid bodies ---------------------------------------------------

TEST(ParseCluster, MinimalSlurmBody_GetsDefaults) {
  auto r = ParseCluster(SlurmBody());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "hpc");
  EXPECT_EQ(r->backend, "slurm");
  EXPECT_EQ(r->max_nodes, 0);
  EXPECT_TRUE(r->hosts.empty());
  EXPECT_TRUE(r->partition.empty());
  EXPECT_FALSE(r->is_default);
}

TEST(ParseCluster, FullSlurmBody_KeepsEveryField) {
  Json body = SlurmBody();
  body["server_url"] = "https://head.example.org:8443/";
  body["partition"] = "gpu,gpu-long";
  body["account"] = "proj_42";
  body["qos"] = "normal.high";
  body["time_limit"] = "2-12:30:15";
  body["max_nodes"] = 16;
  body["default"] = true;
  auto r = ParseCluster(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->server_url, "https://head.example.org:8443/");
  EXPECT_EQ(r->partition, "gpu,gpu-long");
  EXPECT_EQ(r->account, "proj_42");
  EXPECT_EQ(r->qos, "normal.high");
  EXPECT_EQ(r->time_limit, "2-12:30:15");
  EXPECT_EQ(r->max_nodes, 16);
  EXPECT_TRUE(r->is_default);
}

TEST(ParseCluster, SshBody_ParsesEveryHostWithUserAndPort) {
  Json body = With(SshBody(), "identity", "/etc/lattice/id_ed25519");
  auto r = ParseCluster(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->hosts.size(), 2u);
  EXPECT_EQ(r->hosts[0].user, "root");
  EXPECT_EQ(r->hosts[0].host, "gpu1");
  EXPECT_EQ(r->hosts[0].port, 22);
  EXPECT_EQ(r->hosts[1].user, "");
  EXPECT_EQ(r->hosts[1].host, "gpu2");
  EXPECT_EQ(r->hosts[1].port, 2222);
  EXPECT_EQ(r->identity, "/etc/lattice/id_ed25519");
}

TEST(ParseCluster, TheLocalClusterItselfIsAccepted) {
  auto r = ParseCluster(Json{{"name", "local"}, {"backend", "local"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->backend, "local");
}

TEST(ParseCluster, SameHostOnDifferentPorts_IsNotADuplicate) {
  auto r = ParseCluster(With(SshBody(), "hosts", Json::array({"gpu1", "gpu1:2222"})));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->hosts.size(), 2u);
}

// --- ParseCluster: refusals -------------------------------------------------------

TEST(ParseCluster, MissingNameOrBackend_RefusedNamingTheField) {
  ExpectRejected(Json{{"backend", "slurm"}}, "name", "required");
  ExpectRejected(Json{{"name", "hpc"}}, "backend", "required");
}

TEST(ParseCluster, UnknownField_Refused) {
  auto r = ParseCluster(With(SlurmBody(), "partitions", "gpu"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "partitions") << r.error().message;
}

TEST(ParseCluster, UnknownBackend_RefusedNamingBackend) {
  ExpectRejected(With(SlurmBody(), "backend", "kubernetes"), "backend", "must be local, slurm or ssh");
  ExpectRejected(With(SlurmBody(), "backend", "Slurm"), "backend", "not 'Slurm'");
}

TEST(ParseCluster, NameBreakingTheNameRules_RefusedNamingName) {
  ExpectRejected(With(SlurmBody(), "name", ""), "name", "it is empty");
  ExpectRejected(With(SlurmBody(), "name", "HPC"), "name", "must start with a lowercase letter");
  ExpectRejected(With(SlurmBody(), "name", "1hpc"), "name", "must start with a lowercase letter");
  ExpectRejected(With(SlurmBody(), "name", "hpc_a"), "name", "character 4 is not allowed");
  ExpectRejected(With(SlurmBody(), "name", "hpc-"), "name", "must not end with '-'");
  ExpectRejected(With(SlurmBody(), "name", std::string(64, 'a')), "name", "64 characters long");
}

TEST(ParseCluster, LocalNameWithAnotherBackend_Refused) {
  ExpectRejected(With(SlurmBody(), "name", "local"), "name", "'local' is this machine's cluster");
  ExpectRejected(With(SshBody(), "name", "local"), "name", "'local' is this machine's cluster");
}

TEST(ParseCluster, LocalBackendUnderAnotherName_Refused) {
  ExpectRejected(Json{{"name", "mine"}, {"backend", "local"}}, "backend", "the cluster 'local' only");
}

TEST(ParseCluster, PartitionAccountQosWithSpacesOrLeadingDash_Refused) {
  for (const char* field : {"partition", "account", "qos"}) {
    ExpectRejected(With(SlurmBody(), field, "gpu long"), field, "must be a Slurm name");
    ExpectRejected(With(SlurmBody(), field, "--wrap=rm"), field, "must be a Slurm name");
    ExpectRejected(With(SlurmBody(), field, "gpu;reboot"), field, "must be a Slurm name");
    ExpectRejected(With(SlurmBody(), field, std::string(129, 'a')), field, "must be a Slurm name");
  }
}

TEST(ParseCluster, SlurmTimeLimitForms_Accepted) {
  for (const char* t : {"30", "30:15", "4:00:00", "2-00", "2-12:30", "2-12:30:15", "UNLIMITED"}) {
    auto r = ParseCluster(With(SlurmBody(), "time_limit", t));
    EXPECT_TRUE(r.ok()) << t << ": " << r.error().message;
  }
}

TEST(ParseCluster, BadTimeLimit_RefusedNamingTimeLimit) {
  for (const char* t : {"abc", "1:2:3:4", "-5", "0", "0:00", "1-", "1h", " 30", "30 "})
    ExpectRejected(With(SlurmBody(), "time_limit", t), "time_limit", "Slurm's forms");
}

TEST(ParseCluster, EmptyTimeLimitMeansNone_Accepted) {
  // "" is how ToJson writes "no time limit"; only ParseSlurmTime refuses it.
  auto r = ParseCluster(With(SlurmBody(), "time_limit", ""));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->time_limit, "");
}

TEST(ParseCluster, MaxNodesOutOfRange_Refused) {
  ExpectRejected(With(SlurmBody(), "max_nodes", -1), "max_nodes", "between 0 (no limit) and 100000");
  ExpectRejected(With(SlurmBody(), "max_nodes", 100001), "max_nodes", "between 0 (no limit) and 100000");
  EXPECT_TRUE(ParseCluster(With(SlurmBody(), "max_nodes", 100000)).ok());
}

TEST(ParseCluster, SlurmOnlyFieldsOnAnSshCluster_Refused) {
  ExpectRejected(With(SshBody(), "partition", "gpu"), "partition", "for slurm clusters only");
  ExpectRejected(With(SshBody(), "account", "a"), "account", "for slurm clusters only");
  ExpectRejected(With(SshBody(), "qos", "q"), "qos", "for slurm clusters only");
  ExpectRejected(With(SshBody(), "time_limit", "30"), "time_limit", "for slurm clusters only");
  ExpectRejected(With(SshBody(), "max_nodes", 4), "max_nodes", "for slurm clusters only");
}

TEST(ParseCluster, SshOnlyFieldsOnASlurmCluster_Refused) {
  ExpectRejected(With(SlurmBody(), "hosts", Json::array({"gpu1"})), "hosts", "for ssh clusters only");
  ExpectRejected(With(SlurmBody(), "identity", "/root/.ssh/id"), "identity", "for ssh clusters only");
}

TEST(ParseCluster, SshWithoutHosts_Refused) {
  Json body = SshBody();
  body.erase("hosts");
  ExpectRejected(body, "hosts", "is required for ssh clusters");
  ExpectRejected(With(SshBody(), "hosts", Json::array()), "hosts", "is required for ssh clusters");
}

TEST(ParseCluster, SameHostTwice_RefusedNamingIt) {
  ExpectRejected(With(SshBody(), "hosts", Json::array({"gpu1", "root@gpu1"})), "hosts", "names root@gpu1 twice");
  ExpectRejected(With(SshBody(), "hosts", Json::array({"gpu1:2200", "gpu1:2200"})), "hosts", "gpu1:2200 twice");
}

TEST(ParseCluster, BadHost_RefusedNamingItsIndex) {
  ExpectRejected(With(SshBody(), "hosts", Json::array({"gpu1", "gpu2:0"})), "hosts[1]", "port");
  ExpectRejected(With(SshBody(), "hosts", Json::array({"-oProxyCommand=x"})), "hosts[0]", "starts with '-'");
}

TEST(ParseCluster, TooManyHosts_Refused) {
  Json hosts = Json::array();
  for (int i = 0; i < 1025; ++i) hosts.push_back("gpu" + std::to_string(i));
  ExpectRejected(With(SshBody(), "hosts", hosts), "hosts", "more than 1024 hosts");
}

TEST(ParseCluster, RelativeIdentity_Refused) {
  ExpectRejected(With(SshBody(), "identity", "id_ed25519"), "identity", "absolute path");
  ExpectRejected(With(SshBody(), "identity", "~/.ssh/id_ed25519"), "identity", "absolute path");
}

TEST(ParseCluster, ServerUrlWithoutHttpSchemeOrWithSpaces_Refused) {
  ExpectRejected(With(SlurmBody(), "server_url", "head:8080"), "server_url", "http:// or https://");
  ExpectRejected(With(SlurmBody(), "server_url", "ftp://head"), "server_url", "http:// or https://");
  ExpectRejected(With(SlurmBody(), "server_url", "http://head :8080"), "server_url", "without spaces or quotes");
  ExpectRejected(With(SlurmBody(), "server_url", "http://head/'x'"), "server_url", "without spaces or quotes");
  ExpectRejected(With(SlurmBody(), "server_url", "http://head/\nx"), "server_url", "without spaces or quotes");
  EXPECT_TRUE(ParseCluster(With(SlurmBody(), "server_url", "http://10.0.0.1:8080")).ok());
}

TEST(ParseCluster, WrongJsonTypes_RefusedNamingTheField) {
  auto r = ParseCluster(With(SlurmBody(), "max_nodes", "4"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "max_nodes");
  auto h = ParseCluster(With(SshBody(), "hosts", "gpu1,gpu2"));
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.error().field, "hosts");
}

// --- ParseSshHost -----------------------------------------------------------------

TEST(ParseSshHost, HostAlone_DefaultUserAndPort22) {
  auto h = ParseSshHost("gpu1.example.org", "hosts[0]");
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->user, "");
  EXPECT_EQ(h->host, "gpu1.example.org");
  EXPECT_EQ(h->port, 22);
  EXPECT_EQ(h->Target(), "gpu1.example.org");
  EXPECT_EQ(h->ToString(), "gpu1.example.org");
}

TEST(ParseSshHost, UserHostAndPort_AllParsedAndPrintedBack) {
  auto h = ParseSshHost("ml.ops@10.0.0.5:2222", "hosts[3]");
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->user, "ml.ops");
  EXPECT_EQ(h->host, "10.0.0.5");
  EXPECT_EQ(h->port, 2222);
  EXPECT_EQ(h->Target(), "ml.ops@10.0.0.5");
  EXPECT_EQ(h->ToString(), "ml.ops@10.0.0.5:2222");
}

TEST(ParseSshHost, ExplicitPort22_PrintsWithoutIt) {
  auto h = ParseSshHost("root@gpu1:22", "hosts[0]");
  ASSERT_TRUE(h.ok()) << h.error().message;
  EXPECT_EQ(h->ToString(), "root@gpu1");
}

TEST(ParseSshHost, PortBounds_1And65535Accepted) {
  EXPECT_TRUE(ParseSshHost("gpu1:1", "f").ok());
  EXPECT_TRUE(ParseSshHost("gpu1:65535", "f").ok());
}

void ExpectBadHost(const std::string& text, const std::string& phrase) {
  auto h = ParseSshHost(text, "hosts[2]");
  ASSERT_FALSE(h.ok()) << text;
  EXPECT_EQ(h.error().code, ErrorCode::kInvalidArgument) << text;
  EXPECT_EQ(h.error().field, "hosts[2]") << text;
  EXPECT_THAT(h.error().message, HasSubstr(phrase)) << text;
  EXPECT_THAT(h.error().message, HasSubstr("[user@]host[:port]")) << text;
}

TEST(ParseSshHost, BadPort_RefusedNamingTheField) {
  for (const char* t : {"gpu1:0", "gpu1:70000", "gpu1:abc", "gpu1:", "gpu1:-1", "gpu1:9999999999"})
    ExpectBadHost(t, "the port must be a number from 1 to 65535");
}

TEST(ParseSshHost, EmptyUserOrOnlyAnAt_Refused) {
  ExpectBadHost("@gpu1", "the user before '@' is empty");
  ExpectBadHost("@", "the user before '@' is empty");
}

TEST(ParseSshHost, EmptyHost_Refused) {
  ExpectBadHost("", "the host name is empty");
  ExpectBadHost("root@", "the host name is empty");
  ExpectBadHost(":22", "the host name is empty");
}

TEST(ParseSshHost, HostWithSlashOrOtherSpecialCharacters_Refused) {
  ExpectBadHost("gpu1/x", "has a '/'");
  ExpectBadHost("gpu 1", "has a ' '");
  ExpectBadHost("root@a@b", "has a '@'");
  ExpectBadHost("gpu1;ls", "has a ';'");
}

TEST(ParseSshHost, LeadingDashInHostOrUser_Refused) {
  ExpectBadHost("-oProxyCommand=sh", "the host name starts with '-'");
  ExpectBadHost("root@-gpu1", "the host name starts with '-'");
  ExpectBadHost("-l@gpu1", "the user name starts with '-'");
}

TEST(ParseSshHost, UserWithSpecialCharacters_Refused) {
  ExpectBadHost("ro ot@gpu1", "the user name has a ' '");
  ExpectBadHost("r$x@gpu1", "the user name has a '$'");
}

TEST(ParseSshHost, OverlongHost_Refused) {
  ExpectBadHost(std::string(254, 'a'), "longer than 253 characters");
  EXPECT_TRUE(ParseSshHost(std::string(253, 'a'), "f").ok());
}

// --- ParseSlurmTime ---------------------------------------------------------------

int64_t Seconds(const std::string& text) {
  auto r = ParseSlurmTime(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.error().message;
  return r.ok() ? *r : -2;
}

TEST(ParseSlurmTime, EachSlurmForm_GivesItsSeconds) {
  EXPECT_EQ(Seconds("30"), 30 * 60);                                // MINUTES
  EXPECT_EQ(Seconds("30:15"), 30 * 60 + 15);                        // MINUTES:SECONDS
  EXPECT_EQ(Seconds("4:00:00"), 4 * 3600);                          // HOURS:MINUTES:SECONDS
  EXPECT_EQ(Seconds("2-00"), 2 * 86400);                            // DAYS-HOURS
  EXPECT_EQ(Seconds("2-12"), 2 * 86400 + 12 * 3600);                // DAYS-HOURS
  EXPECT_EQ(Seconds("2-12:30"), 2 * 86400 + 12 * 3600 + 30 * 60);   // DAYS-HOURS:MINUTES
  EXPECT_EQ(Seconds("2-12:30:15"), 2 * 86400 + 12 * 3600 + 30 * 60 + 15);
  EXPECT_EQ(Seconds("0:30"), 30);
  EXPECT_EQ(Seconds("0-00:00:01"), 1);
}

TEST(ParseSlurmTime, UnlimitedAndInfinite_AreMinusOne) {
  EXPECT_EQ(Seconds("UNLIMITED"), -1);
  EXPECT_EQ(Seconds("INFINITE"), -1);
  EXPECT_EQ(Seconds("unlimited"), -1);
}

TEST(ParseSlurmTime, MalformedOrZero_RefusedNamingTimeLimit) {
  for (const char* t : {"", "abc", "1:2:3:4", "-5", "0", "00:00", "0-0", "1--2", "1-2-3", "2-1:2:3:4", ":", "1:",
                        "1234567890", "+5"}) {
    auto r = ParseSlurmTime(t);
    ASSERT_FALSE(r.ok()) << "'" << t << "' gave " << *r;
    EXPECT_EQ(r.error().field, "time_limit") << t;
    EXPECT_THAT(r.error().message, HasSubstr("is '" + std::string(t) + "'"));
    EXPECT_THAT(r.error().message, HasSubstr("UNLIMITED"));
  }
}

// --- ToJson -------------------------------------------------------------------------

TEST(ClusterToJson, SlurmCluster_RoundTripsThroughParseCluster) {
  Cluster c;
  c.name = "hpc";
  c.backend = "slurm";
  c.server_url = "http://head:8080";
  c.partition = "gpu";
  c.account = "proj";
  c.qos = "high";
  c.time_limit = "1-00:00:00";
  c.max_nodes = 8;
  c.is_default = true;
  const Json j = ToJson(c);
  auto r = ParseCluster(j);
  ASSERT_TRUE(r.ok()) << r.error().message << " in " << j.dump();
  EXPECT_EQ(ToJson(*r), j);
  EXPECT_EQ(r->name, c.name);
  EXPECT_EQ(r->partition, "gpu");
  EXPECT_EQ(r->time_limit, "1-00:00:00");
  EXPECT_EQ(r->max_nodes, 8);
  EXPECT_TRUE(r->is_default);
}

TEST(ClusterToJson, SshCluster_RoundTripsHostsAsWritten) {
  auto parsed = ParseCluster(With(With(SshBody(), "identity", "/k/id"), "hosts",
                                  Json::array({"root@gpu1", "gpu2:2222", "u@gpu3:22"})));
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const Json j = ToJson(*parsed);
  EXPECT_EQ(j["hosts"], Json::array({"root@gpu1", "gpu2:2222", "u@gpu3"}));
  EXPECT_EQ(j["identity"], "/k/id");
  EXPECT_EQ(j["default"], false);
  auto again = ParseCluster(j);
  ASSERT_TRUE(again.ok()) << again.error().message;
  EXPECT_EQ(ToJson(*again), j);
  ASSERT_EQ(again->hosts.size(), 3u);
  EXPECT_EQ(again->hosts[1].port, 2222);
  EXPECT_EQ(again->hosts[2].user, "u");
}

TEST(ClusterToJson, LocalCluster_RoundTrips) {
  Cluster c;
  c.name = kLocalCluster;
  c.backend = "local";
  auto r = ParseCluster(ToJson(c));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(ToJson(*r), ToJson(c));
}

}  // namespace
}  // namespace lattice

namespace lattice {
namespace {

TEST(ParseCluster, PricingFields_KeptAndShown) {
  auto c = ParseCluster(Json{{"name", "gpus"}, {"backend", "ssh"}, {"hosts", {"root@g1"}},
                             {"price_per_node_hour", 12.24}, {"instance_type", "p3.8xlarge"},
                             {"monthly_budget", 5000}});
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->price_per_node_hour, 12.24);
  EXPECT_EQ(c->instance_type, "p3.8xlarge");
  EXPECT_EQ(c->monthly_budget, 5000);
  Json j = ToJson(*c);
  EXPECT_EQ(j["price_per_node_hour"], 12.24);
  EXPECT_EQ(j["monthly_budget"], 5000);
}

TEST(ParseCluster, BadPricing_RejectedNamingTheField) {
  for (const auto& [field, value] : std::vector<std::pair<std::string, Json>>{
           {"price_per_node_hour", -1}, {"price_per_node_hour", 5e6}, {"monthly_budget", -0.5},
           {"instance_type", "g5 xlarge"}, {"instance_type", std::string(200, 'g')}}) {
    Json body{{"name", "local"}, {"backend", "local"}};
    body[field] = value;
    auto c = ParseCluster(body);
    ASSERT_FALSE(c.ok()) << field;
    EXPECT_EQ(c.error().field, field);
  }
}

TEST(ParseClusterUpdate, ChangesOnlyThePricingGiven) {
  Cluster current;
  current.name = "slurm1";
  current.backend = "slurm";
  current.partition = "gpu";
  current.price_per_node_hour = 3;
  auto c = ParseClusterUpdate(Json{{"monthly_budget", 100}}, current);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_EQ(c->monthly_budget, 100);
  EXPECT_EQ(c->price_per_node_hour, 3);
  EXPECT_EQ(c->partition, "gpu");
  auto bad = ParseClusterUpdate(Json{{"partition", "other"}}, current);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "partition");
  EXPECT_FALSE(ParseClusterUpdate(Json{{"price_per_node_hour", -2}}, current).ok());
}

}  // namespace
}  // namespace lattice
