#include "server/artifact_api.h"

#include "common/log.h"
#include "common/safe_path.h"
#include "model/codec.h"
#include "server/api_util.h"

namespace lattice {
namespace {

constexpr size_t kMaxFilesPerRegistration = 10'000;

}  // namespace

Json ToJson(const ArtifactRecord& r) {
  return Json{{"experiment", r.experiment}, {"attempt", r.attempt_number}, {"kind", r.kind},
              {"path", r.path},             {"sha256", r.sha256},          {"size", r.size},
              {"mode", r.mode},             {"group", r.group},            {"created_at", IsoTime(r.created_at_ms)}};
}

void ArtifactApi::Register(const std::string& node, int64_t attempt_id, const net::HttpRequest& req,
                           net::Exchange& ex) {
  auto fail = [&](const Error& e) { ex.Respond(ErrorResponse(e)); };
  if (Status st = controller_.AcceptsData(node, attempt_id); !st.ok()) return fail(st.error());
  const Attempt* a = controller_.FindAttempt(attempt_id);
  auto body = ParseJson(req.body);
  if (!body.ok()) return fail(body.error());
  std::string kind;
  JsonReader r(*body, "");
  r.Required("kind", &kind);
  const Json* list = r.OptionalArray("files");
  if (Status st = r.Finish(); !st.ok()) return fail(st.error());
  if (kind != "artifact" && kind != "checkpoint")
    return fail(Error(ErrorCode::kInvalidArgument, "kind must be artifact or checkpoint, got '" + kind + "'", "kind"));
  const Json files = list ? *list : Json::array();
  if (files.empty() || files.size() > kMaxFilesPerRegistration)
    return fail(Error(ErrorCode::kInvalidArgument,
                      "files must be a list of 1 to " + std::to_string(kMaxFilesPerRegistration) + " files", "files"));
  std::vector<ArtifactRecord> records;
  for (size_t i = 0; i < files.size(); ++i) {
    const std::string where = "files[" + std::to_string(i) + "]";
    ArtifactRecord rec;
    JsonReader f(files[i], where);
    int64_t size_field = -1, mode = 0644;
    f.Required("path", &rec.path);
    f.Required("sha256", &rec.sha256);
    f.Required("size", &size_field);
    f.Optional("mode", &mode);
    if (Status st = f.Finish(); !st.ok()) return fail(st.error());
    if (size_field < 0)
      return fail(Error(ErrorCode::kInvalidArgument, where + ".size must not be negative", where + ".size"));
    if (mode < 0 || mode > 07777)
      return fail(Error(ErrorCode::kInvalidArgument, where + ".mode must be a permission mode from 0 to 07777",
                        where + ".mode"));
    rec.size = static_cast<uint64_t>(size_field);
    rec.mode = static_cast<uint32_t>(mode);
    if (Status st = ValidateRelativePath(rec.path); !st.ok())
      return fail(Error(ErrorCode::kInvalidArgument, where + ".path: " + st.error().message, where + ".path"));
    if (!BlobStore::ValidName(rec.sha256))
      return fail(Error(ErrorCode::kInvalidArgument, where + ".sha256 must be a lowercase hex SHA-256",
                        where + ".sha256"));
    auto size = blobs_.Size(rec.sha256);
    if (!size.ok())
      return fail(Error(ErrorCode::kFailedPrecondition,
                        where + ": blob " + rec.sha256 + " was not uploaded; upload it to /api/v1/blobs/ first",
                        where + ".sha256"));
    if (*size != rec.size)
      return fail(Error(ErrorCode::kInvalidArgument,
                        where + ": size " + std::to_string(rec.size) + " differs from the blob's " + std::to_string(*size),
                        where + ".size"));
    rec.run = a->run;
    rec.experiment = a->experiment;
    rec.attempt = a->id;
    rec.attempt_number = a->number;
    rec.kind = kind;
    rec.created_at_ms = clock_.NowMs();
    records.push_back(std::move(rec));
  }
  if (Status st = store_.AddArtifacts(&records); !st.ok()) return fail(st.error());
  ex.Respond(JsonResponse(200, Json{{"recorded", records.size()}, {"group", records.front().group}}));
}

void ArtifactApi::List(const std::string& run_name, const net::HttpRequest& req, net::Exchange& ex) {
  auto fail = [&](const Error& e) { ex.Respond(ErrorResponse(e)); };
  const Run* run = controller_.FindRun(run_name);
  if (!run) return fail(Error(ErrorCode::kNotFound, "no run named '" + run_name + "'"));
  int exp = -1;
  if (auto it = req.query.find("experiment"); it != req.query.end() && !it->second.empty()) {
    auto parsed = ParseExperimentId(it->second);
    if (!parsed.ok()) return fail(parsed.error());
    if (static_cast<size_t>(*parsed) >= run->experiments.size())
      return fail(Error(ErrorCode::kNotFound, "run '" + run_name + "' has no experiment " + it->second, "experiment"));
    exp = *parsed;
  }
  std::string kind;
  if (auto it = req.query.find("kind"); it != req.query.end() && it->second != "all") kind = it->second;
  if (!kind.empty() && kind != "artifact" && kind != "checkpoint")
    return fail(Error(ErrorCode::kInvalidArgument, "kind must be artifact, checkpoint or all", "kind"));
  auto records = store_.ListArtifacts(run_name, exp, kind);
  if (!records.ok()) return fail(records.error());
  Json out = Json::array();
  for (const auto& rec : *records) out.push_back(ToJson(rec));
  ex.Respond(JsonResponse(200, Json{{"run", run_name}, {"artifacts", std::move(out)}}));
}

void ArtifactApi::AddRestores(AgentWork* work) {
  for (Assignment& a : work->assign) {
    auto latest = store_.LatestCheckpoint(a.run, a.experiment);
    if (!latest.ok()) {
      // The attempt still runs, from scratch; say why.
      LOG_WARN("api", "cannot look up the checkpoint of " << a.run << "/" << a.experiment << ": "
                                                           << latest.error().message);
      continue;
    }
    a.restore.clear();
    for (const auto& rec : *latest) a.restore.push_back(RestoreFile{rec.path, rec.sha256, rec.size, rec.mode});
  }
}

}  // namespace lattice
