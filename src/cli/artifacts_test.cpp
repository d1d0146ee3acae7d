#include <gtest/gtest.h>

#include "cli/artifact_plan.h"

namespace lattice::cli {
namespace {

const std::string kShaA(64, 'a');
const std::string kShaB(64, 'b');
const std::string kShaC = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

Json Entry(int exp, int attempt, const std::string& kind, const std::string& path, const std::string& sha,
           uint64_t size = 10) {
  return {{"experiment", exp}, {"attempt", attempt}, {"kind", kind}, {"path", path},
          {"sha256", sha},     {"size", size},       {"created_at", "2026-11-26T04:00:00.123Z"}};
}

TEST(Artifacts, Parse_ReadsEveryField) {
  Json doc = {{"artifacts", {Entry(2, 1, "artifact", "confusion.json", kShaC, 1234)}}};
  auto entries = ParseArtifacts(doc);
  ASSERT_TRUE(entries.ok()) << entries.error().message;
  ASSERT_EQ(entries->size(), 1u);
  const auto& e = (*entries)[0];
  EXPECT_EQ(e.experiment, 2);
  EXPECT_EQ(e.attempt, 1);
  EXPECT_EQ(e.kind, "artifact");
  EXPECT_EQ(e.path, "confusion.json");
  EXPECT_EQ(e.sha256, kShaC);
  EXPECT_EQ(e.size, 1234u);
  EXPECT_EQ(e.created_at, "2026-11-26T04:00:00.123Z");
  EXPECT_EQ(ShortSha(e.sha256), "0123456789ab");
}

TEST(Artifacts, Parse_RefusesMalformedEntries) {
  EXPECT_FALSE(ParseArtifacts(Json::object()).ok());
  EXPECT_FALSE(ParseArtifacts(Json{{"artifacts", 3}}).ok());
  auto with = [](const char* key, Json value) {
    Json e = Entry(0, 1, "artifact", "a", kShaA);
    e[key] = std::move(value);
    return Json{{"artifacts", {e}}};
  };
  for (const Json& doc : {with("sha256", "ABC"), with("sha256", std::string(64, 'A')), with("size", -1),
                          with("size", "10"), with("experiment", -2), with("experiment", 1.5),
                          with("kind", "log"), with("path", 7), with("attempt", nullptr)}) {
    auto r = ParseArtifacts(doc);
    ASSERT_FALSE(r.ok()) << doc.dump();
    EXPECT_EQ(r.error().code, ErrorCode::kInternal);
    EXPECT_NE(r.error().message.find("artifacts[0]"), std::string::npos);
  }
  Json no_created = Entry(0, 1, "artifact", "a", kShaA);
  no_created.erase("created_at");
  EXPECT_TRUE(ParseArtifacts(Json{{"artifacts", {no_created}}}).ok());
}

TEST(Artifacts, KindQuery) {
  EXPECT_EQ(*KindQuery("artifact"), "artifact");
  EXPECT_EQ(*KindQuery("checkpoint"), "checkpoint");
  EXPECT_EQ(*KindQuery("all"), "");
  EXPECT_EQ(KindQuery("logs").error().code, ErrorCode::kInvalidArgument);
}

TEST(Artifacts, NewestVersions_LastListedWinsPerExperimentKindPath) {
  Json doc = {{"artifacts",
               {Entry(0, 1, "artifact", "model.pt", kShaA), Entry(1, 1, "artifact", "model.pt", kShaA),
                Entry(0, 1, "checkpoint", "model.pt", kShaA), Entry(0, 2, "artifact", "model.pt", kShaB),
                Entry(0, 2, "artifact", "log.txt", kShaC)}}};
  auto newest = NewestVersions(*ParseArtifacts(doc));
  ASSERT_EQ(newest.size(), 4u);
  EXPECT_EQ(newest[0].experiment, 0);
  EXPECT_EQ(newest[0].kind, "artifact");
  EXPECT_EQ(newest[0].sha256, kShaB);  // the newer version, in the first one's place
  EXPECT_EQ(newest[0].attempt, 2);
  EXPECT_EQ(newest[1].experiment, 1);
  EXPECT_EQ(newest[2].kind, "checkpoint");
  EXPECT_EQ(newest[3].path, "log.txt");
}

TEST(Artifacts, Plan_MapsArtifactsAndCheckpoints) {
  auto entries = *ParseArtifacts(Json{{"artifacts",
                                       {Entry(3, 1, "artifact", "model/conf.json", kShaA),
                                        Entry(3, 2, "checkpoint", "epoch-1.ckpt", kShaB)}}});
  auto plan = PlanDownloads(entries);
  ASSERT_TRUE(plan.ok()) << plan.error().message;
  ASSERT_EQ(plan->size(), 2u);
  EXPECT_EQ((*plan)[0].destination, "3/model/conf.json");
  EXPECT_EQ((*plan)[0].partial, "3/model/conf.json.part");
  EXPECT_EQ((*plan)[1].destination, "3/checkpoints/epoch-1.ckpt");
  EXPECT_EQ((*plan)[1].partial, "3/checkpoints/epoch-1.ckpt.part");
}

TEST(Artifacts, Plan_RefusesUnsafePaths) {
  for (const char* bad : {"../escape", "/etc/passwd", "a/../../b", "a//b", "./a", "a/", "", "a\\b", "x\ty"}) {
    auto plan = PlanDownloads({ArtifactEntry{0, 1, "artifact", bad, kShaA, 1, ""}});
    ASSERT_FALSE(plan.ok()) << bad;
    EXPECT_EQ(plan.error().code, ErrorCode::kFailedPrecondition) << bad;
    EXPECT_NE(plan.error().message.find("refusing to download"), std::string::npos);
  }
  // A name at the component limit leaves no room for ".part".
  auto plan = PlanDownloads({ArtifactEntry{0, 1, "artifact", std::string(255, 'n'), kShaA, 1, ""}});
  ASSERT_FALSE(plan.ok());
}

TEST(Artifacts, Plan_RefusesCollisions) {
  // An artifact literally named "checkpoints/x" and a checkpoint "x".
  auto same = PlanDownloads({ArtifactEntry{0, 1, "artifact", "checkpoints/x", kShaA, 1, ""},
                             ArtifactEntry{0, 1, "checkpoint", "x", kShaB, 1, ""}});
  ASSERT_FALSE(same.ok());
  EXPECT_NE(same.error().message.find("0/checkpoints/x"), std::string::npos);
  // "a.part" would be the partial file of "a".
  EXPECT_FALSE(PlanDownloads({ArtifactEntry{0, 1, "artifact", "a", kShaA, 1, ""},
                              ArtifactEntry{0, 1, "artifact", "a.part", kShaB, 1, ""}})
                   .ok());
  // A file cannot be a directory of another.
  auto dir = PlanDownloads({ArtifactEntry{0, 1, "artifact", "a/b", kShaA, 1, ""},
                            ArtifactEntry{0, 1, "artifact", "a", kShaB, 1, ""}});
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message.find("a file and a directory"), std::string::npos);
  // The same path in two experiments is fine.
  EXPECT_TRUE(PlanDownloads({ArtifactEntry{0, 1, "artifact", "a", kShaA, 1, ""},
                             ArtifactEntry{1, 1, "artifact", "a", kShaB, 1, ""}})
                  .ok());
}

}  // namespace
}  // namespace lattice::cli
