#include "server/server_main.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <functional>

#include "common/clock.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/stop_signals.h"
#include "common/token.h"
#include "net/http_server.h"
#include "server/api_service.h"
#include "server/blob_store.h"
#include "server/cluster_manager.h"
#include "server/controller.h"
#include "server/log_store.h"
#include "server/web_ui.h"
#include "store/store.h"

namespace lattice {
namespace {
constexpr const char* kLog = "server";

// Re-arms itself: the reconciler's heartbeat check.
void ScheduleTick(net::EventLoop& loop, Controller& controller, ClusterManager& clusters,
                  std::unique_ptr<net::TimerHandle>* handle) {
  // Often enough that a silent node is declared lost within a quarter second
  // of its timeout (a gang waits on it); a tick only compares timestamps.
  *handle = loop.RunAfter(std::chrono::milliseconds(250), [&loop, &controller, &clusters, handle] {
    controller.Tick();
    clusters.Sync();
    ScheduleTick(loop, controller, clusters, handle);
  });
}

// Tells this server's Slurm jobs from those of another server on the same
// cluster: a short hash of its state directory.
std::string InstanceId(const std::filesystem::path& home) {
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(std::hash<std::string>{}(home.string()) & 0xffffffffu));
  return hex;
}
}  // namespace

bool IsLoopback(const std::string& a) {
  return a == "localhost" || a == "::1" || a.rfind("127.", 0) == 0;
}

int RunServer(const ServerOptions& options) {
  auto fail = [](const Error& e) {
    LOG_ERROR(kLog, e.message);
    return 1;
  };
  auto server_dir = options.home / "server";
  for (const auto& dir : {options.home, server_dir}) {
    Status st = fs::MakeDirs(dir, 0700);
    if (!st.ok()) return fail(st.error());
  }
  auto token = LoadOrCreateToken(options.home);
  if (!token.ok()) return fail(token.error());
  bool need_token = options.require_token || !IsLoopback(options.address);
  auto web_dirs = WebDirCandidates(options.web_dir, fs::SelfExe());
  if (!web_dirs.ok()) return fail(web_dirs.error());

  auto store = OpenSqliteStore((server_dir / "lattice.db").string());
  if (!store.ok()) return fail(store.error());
  LogStore logs(server_dir / "logs");
  BlobStore blobs(server_dir / "blobs");
  metrics::MetricsStore metrics(server_dir / "metrics");
  for (Status st : {logs.Init(), blobs.Init(), metrics.Init()})
    if (!st.ok()) return fail(st.error());

  SystemClock clock;
  ApiService* api_ptr = nullptr;
  ClusterManager* clusters_ptr = nullptr;
  ControllerListener listener{
      [&api_ptr](const std::string& node) { if (api_ptr) api_ptr->NodeHasWork(node); },
      [&api_ptr, &clusters_ptr](const std::string& run) {
        if (api_ptr) api_ptr->RunChanged(run);
        if (clusters_ptr) clusters_ptr->Poke();  // a queue changed: backends may need nodes
      },
      [&api_ptr](const std::string& run) { if (api_ptr) api_ptr->LogsArrived(run); }};
  Controller controller(**store, logs, clock, ControllerOptions{options.node_timeout_ms}, listener);
  Status loaded = controller.Load();
  if (!loaded.ok()) return fail(loaded.error());

  // A signal stops the server; until then Run() serves on this thread.
  // Both atomics: whichever of the two threads comes second sees the other's write.
  std::atomic<net::HttpServer*> running{nullptr};
  std::atomic<bool> stop_requested{false};
  StopSignals signals([&running, &stop_requested](int sig) {
    LOG_INFO(kLog, "signal " << sig << ": shutting down");
    stop_requested = true;
    if (net::HttpServer* s = running.load()) s->Stop();
  });

  net::HttpServerOptions http;
  http.address = options.address;
  http.port = options.port;
  http.max_body_bytes = 512ull << 20;  // snapshots; JSON bodies have their own limit
  std::unique_ptr<ApiService> api;
  auto handler = [&api](net::HttpRequest req, std::shared_ptr<net::Exchange> ex) {
    api->Handle(std::move(req), std::move(ex));
  };
  // Without a fixed port, come back on the previous one if it is free, so
  // agents and followers of a restarted server find it where it was.
  auto previous = fs::ReadFile(server_dir / "port");
  Result<std::unique_ptr<net::HttpServer>> server = Error(ErrorCode::kUnavailable, "not started");
  if (options.port == 0 && previous.ok() && std::atoi(previous->c_str()) > 0) {
    http.port = static_cast<uint16_t>(std::atoi(previous->c_str()));
    server = net::StartHttpServer(http, handler);
    http.port = 0;
  }
  if (!server.ok()) server = net::StartHttpServer(http, handler);
  if (!server.ok()) return fail(server.error());
  uint16_t port = (*server)->BoundPort();
  (void)fs::WriteFileAtomic(server_dir / "port", std::to_string(port) + "\n", 0600);
  std::string host = options.address == "0.0.0.0" ? "127.0.0.1" : options.address;
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  std::string url = "http://" + host + ":" + std::to_string(port);

  ClusterEnvironment cluster_env;
  cluster_env.lattice_binary = fs::SelfExe();
  cluster_env.server_url = url;
  cluster_env.token_file = (options.home / "token").string();
  cluster_env.state_root = (options.home / "clusters").string();
  cluster_env.instance = InstanceId(options.home);
  auto clusters = std::make_unique<ClusterManager>(controller, (*server)->Loop(), clock, cluster_env);
  clusters_ptr = clusters.get();
  ApiOptions api_options;
  if (need_token) api_options.required_token = *token;
  api_options.web_dirs = *web_dirs;
  api = std::make_unique<ApiService>(controller, **store, blobs, metrics, (*server)->Loop(), clock, api_options,
                                     [&clusters](const std::string& name) { return clusters->StatusOf(name); });
  api_ptr = api.get();
  Json info{{"url", url}, {"pid", getpid()}, {"address", options.address}, {"port", port},
            {"token_required", need_token}};
  Status wrote = fs::WriteFileAtomic(options.home / "server.json", info.dump() + "\n", 0600);
  if (!wrote.ok()) return fail(wrote.error());
  LOG_INFO(kLog, "listening on " << url << (need_token ? " (token required)" : "") << ", state in "
                                 << options.home.string());

  std::unique_ptr<net::TimerHandle> tick;
  (*server)->Loop().Post([&] { ScheduleTick((*server)->Loop(), controller, *clusters, &tick); });

  running = server->get();
  if (stop_requested) (*server)->Stop();  // a signal came while starting
  (*server)->Run();
  running = nullptr;
  tick.reset();
  api_ptr = nullptr;
  clusters_ptr = nullptr;
  clusters.reset();  // stops the backends' threads
  // Only remove server.json if it still describes this process.
  auto current = fs::ReadFile(options.home / "server.json");
  if (current.ok() && current->find("\"pid\":" + std::to_string(getpid())) != std::string::npos)
    ::unlink((options.home / "server.json").c_str());
  LOG_INFO(kLog, "stopped");
  return 0;
}

}  // namespace lattice
