// `lattice run`: snapshot the script's directory, upload it (once per
// content), submit, then print the run's name or follow its logs.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "common/units.h"
#include "snapshot/snapshot.h"

namespace lattice::cli {
namespace {

Status CheckReadable(const std::filesystem::path& script) {
  std::error_code ec;
  if (!std::filesystem::exists(script, ec))
    return Error(ErrorCode::kNotFound, "script '" + script.string() + "' does not exist");
  if (std::filesystem::is_directory(script, ec))
    return Error(ErrorCode::kInvalidArgument, "script '" + script.string() + "' is a directory, not a file");
  int fd = ::open(script.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot read script '" + script.string() + "'", errno);
  ::close(fd);
  return OkStatus();
}

Result<Json> BuildSubmission(const RunOptions& o, const std::string& snapshot, const std::string& script_name) {
  Json resources{{"cpus", o.cpus}, {"gpus", o.gpus}};
  if (!o.memory.empty()) {
    LATTICE_ASSIGN_OR_RETURN(uint64_t bytes, ParseBytes(o.memory));
    resources["memory_bytes"] = bytes;
  }
  Json env = Json::object();
  for (const auto& kv : o.env) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return Error(ErrorCode::kInvalidArgument, "--env '" + kv.substr(0, 40) + "' must look like NAME=VALUE", "env");
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  Json body{{"script", script_name}, {"args", o.args},        {"snapshot", snapshot},
            {"resources", resources}, {"env", env},           {"max_restarts", o.max_restarts},
            {"description", o.description}};
  if (!o.name.empty()) body["name"] = o.name;
  if (!o.python.empty()) body["python"] = o.python;
  if (!o.grace.empty()) {
    LATTICE_ASSIGN_OR_RETURN(int64_t ms, ParseDurationMs(o.grace));
    body["grace_ms"] = ms;
  }
  return body;
}

Status Upload(ApiClient& client, const snapshot::Snapshot& snap) {
  net::ClientRequest head;
  head.method = "HEAD";
  head.target = "/blobs/" + snap.sha256;
  LATTICE_ASSIGN_OR_RETURN(net::HttpResponse exists, client.Send(head));
  if (exists.status == 200) return OkStatus();  // stored once, by content
  net::ClientRequest put;
  put.method = "PUT";
  put.target = "/blobs/" + snap.sha256;
  put.body = snap.archive;
  put.content_type = "application/octet-stream";
  put.timeout = std::chrono::milliseconds(300000);
  LATTICE_ASSIGN_OR_RETURN(net::HttpResponse resp, client.Send(put));
  if (resp.status / 100 != 2) return ApiClient::ErrorFrom(resp).Wrap("uploading the code snapshot");
  return OkStatus();
}

}  // namespace

int RunCommand(const GlobalOptions& g, const RunOptions& o) {
  std::filesystem::path script = o.script;
  if (Status st = CheckReadable(script); !st.ok()) return Fail(st.error());
  // Validate everything local before touching the server: nothing is created on error.
  if (auto body = BuildSubmission(o, std::string(64, '0'), "x"); !body.ok()) return Fail(body.error());

  std::error_code ec;
  auto abs = std::filesystem::absolute(script, ec);
  auto dir = abs.parent_path();
  auto snap = snapshot::CreateSnapshot(dir, snapshot::SnapshotOptions{});
  if (!snap.ok()) return Fail(snap.error());

  auto client = Client(g);
  if (!client.ok()) return Fail(client.error());
  if (Status st = Upload(*client, *snap); !st.ok()) return Fail(st.error());
  auto body = BuildSubmission(o, snap->sha256, abs.filename().string());
  if (!body.ok()) return Fail(body.error());
  auto run = client->Post("/runs", *body);
  if (!run.ok()) return Fail(run.error());
  std::string name = (*run)["name"].get<std::string>();

  if (!o.follow) {
    if (g.json) std::cout << run->dump() << "\n";
    else std::cout << name << "\n";
    return kExitOk;
  }
  if (!g.json) std::cerr << "lattice: run " << name << " submitted; following its logs (Ctrl-C stops following, not the run)\n";
  auto code = FollowLogs(*client, name, 0, 0, /*follow=*/true, std::nullopt, g.json ? stderr : stdout);
  if (!code.ok()) return Fail(code.error());
  if (g.json) {
    auto final_doc = client->Get("/runs/" + name);
    if (final_doc.ok()) std::cout << final_doc->dump() << "\n";
  }
  return *code;
}

}  // namespace lattice::cli
