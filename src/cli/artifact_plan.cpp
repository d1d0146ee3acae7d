#include "cli/artifact_plan.h"

#include <map>
#include <set>
#include <tuple>

#include "cli/metrics_table.h"
#include "common/safe_path.h"

namespace lattice::cli {
namespace {

bool IsSha256(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

Result<std::vector<ArtifactEntry>> ParseArtifacts(const Json& doc) {
  if (!doc.is_object() || !doc.contains("artifacts") || !doc["artifacts"].is_array())
    return Error(ErrorCode::kInternal, "unexpected answer from the server: no \"artifacts\" array");
  std::vector<ArtifactEntry> out;
  size_t index = 0;
  for (const auto& a : doc["artifacts"]) {
    std::string where = "artifacts[" + std::to_string(index++) + "]";
    auto bad = [&](const std::string& why) {
      return Error(ErrorCode::kInternal, "unexpected answer from the server: " + where + ": " + why);
    };
    if (!a.is_object()) return bad("not an object");
    ArtifactEntry e;
    auto integer = [&](const char* key, auto* out_value) -> bool {
      auto it = a.find(key);
      if (it == a.end() || !it->is_number_integer()) return false;
      if (it->is_number_unsigned()) {
        *out_value = static_cast<std::remove_pointer_t<decltype(out_value)>>(it->template get<uint64_t>());
        return true;
      }
      int64_t v = it->template get<int64_t>();
      if (v < 0) return false;
      *out_value = static_cast<std::remove_pointer_t<decltype(out_value)>>(v);
      return true;
    };
    auto text = [&](const char* key, std::string* out_value) -> bool {
      auto it = a.find(key);
      if (it == a.end() || !it->is_string()) return false;
      *out_value = it->get<std::string>();
      return true;
    };
    uint64_t experiment = 0, attempt = 0;
    if (!integer("experiment", &experiment) || experiment > 999'999'999u) return bad("bad \"experiment\"");
    if (!integer("attempt", &attempt) || attempt > 999'999'999u) return bad("bad \"attempt\"");
    e.experiment = static_cast<int>(experiment);
    e.attempt = static_cast<int>(attempt);
    if (!integer("size", &e.size)) return bad("bad \"size\"");
    if (!text("kind", &e.kind) || (e.kind != "artifact" && e.kind != "checkpoint"))
      return bad("\"kind\" must be artifact or checkpoint");
    if (!text("path", &e.path)) return bad("bad \"path\"");
    if (!text("sha256", &e.sha256) || !IsSha256(e.sha256)) return bad("bad \"sha256\"");
    if (a.contains("created_at") && !text("created_at", &e.created_at)) return bad("bad \"created_at\"");
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::string> KindQuery(const std::string& kind) {
  if (kind == "artifact" || kind == "checkpoint") return kind;
  if (kind == "all") return std::string();
  return Error(ErrorCode::kInvalidArgument, "--kind must be artifact, checkpoint or all, not '" + kind + "'");
}

std::vector<ArtifactEntry> NewestVersions(const std::vector<ArtifactEntry>& entries) {
  std::map<std::tuple<int, std::string, std::string>, size_t> slot;
  std::vector<ArtifactEntry> out;
  for (const auto& e : entries) {
    auto [it, inserted] = slot.emplace(std::make_tuple(e.experiment, e.kind, e.path), out.size());
    if (inserted) out.push_back(e);
    else out[it->second] = e;
  }
  return out;
}

Result<std::vector<PlannedDownload>> PlanDownloads(const std::vector<ArtifactEntry>& newest) {
  std::vector<PlannedDownload> out;
  std::map<std::string, std::string> taken;  // file -> what claims it
  for (const auto& e : newest) {
    std::string what = e.kind + " '" + Printable(e.path) + "' of experiment " + std::to_string(e.experiment);
    if (Status ok = ValidateRelativePath(e.path); !ok.ok())
      return Error(ErrorCode::kFailedPrecondition, "refusing to download " + what + ": " + ok.error().message);
    PlannedDownload d;
    d.entry = e;
    d.destination = std::to_string(e.experiment) + (e.kind == "checkpoint" ? "/checkpoints/" : "/") + e.path;
    d.partial = d.destination + ".part";
    for (const std::string* p : {&d.destination, &d.partial}) {
      if (Status ok = ValidateRelativePath(*p); !ok.ok())
        return Error(ErrorCode::kFailedPrecondition, "refusing to download " + what + ": " + ok.error().message);
      auto [it, inserted] = taken.emplace(*p, what);
      if (!inserted)
        return Error(ErrorCode::kFailedPrecondition,
                     "cannot download both " + it->second + " and " + what + ": both need the file " + *p);
    }
    out.push_back(std::move(d));
  }
  // A file cannot also be a directory another file lives in.
  for (const auto& [file, what] : taken) {
    for (size_t slash = file.find('/'); slash != std::string::npos; slash = file.find('/', slash + 1)) {
      auto it = taken.find(file.substr(0, slash));
      if (it != taken.end())
        return Error(ErrorCode::kFailedPrecondition, "cannot download both " + it->second + " and " + what +
                                                      ": " + it->first + " would be a file and a directory");
    }
  }
  return out;
}

std::string ShortSha(const std::string& sha256) { return sha256.substr(0, 12); }

}  // namespace lattice::cli
