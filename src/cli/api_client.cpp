#include "cli/api_client.h"

#include "cli/exit_codes.h"
#include "cli/local_daemon.h"
#include "common/token.h"

namespace lattice::cli {

int ExitCodeFor(const Error& e) {
  switch (e.code) {
    case ErrorCode::kInvalidArgument: return kExitUsage;
    case ErrorCode::kNotFound: return kExitNotFound;
    case ErrorCode::kUnavailable:
    case ErrorCode::kDeadlineExceeded: return kExitUnreachable;
    default: return kExitInternal;
  }
}

Result<Connection> Connect(const ConnectOptions& options) {
  std::string url = options.server;
  if (url.empty()) {
    if (const char* env = std::getenv("LATTICE_SERVER"); env && *env) url = env;
  }
  if (!url.empty()) {
    LATTICE_RETURN_IF_ERROR(net::ParseUrl(url).ok() ? OkStatus() : Status(net::ParseUrl(url).error()));
    return Connection{url, ReadToken(options.home), false};
  }
  LATTICE_ASSIGN_OR_RETURN(std::string local, EnsureLocalServer(options.home, options.start_local));
  return Connection{local, ReadToken(options.home), true};
}

ApiClient::ApiClient(Connection connection) : connection_(std::move(connection)) {
  auto url = net::ParseUrl(connection_.url);
  net::Url u = url.ok() ? *url : net::Url{"127.0.0.1", 1, ""};
  base_ = "/api/v1";  // the client puts the URL's base path in front
  http_ = std::make_unique<net::HttpClient>(u, connection_.token);
}

Error ApiClient::ErrorFrom(const net::HttpResponse& r) {
  ErrorCode code = ErrorCode::kInternal;
  switch (r.status) {
    case 400: code = ErrorCode::kInvalidArgument; break;
    case 401: code = ErrorCode::kUnauthenticated; break;
    case 404: code = ErrorCode::kNotFound; break;
    case 409: code = ErrorCode::kFailedPrecondition; break;
    case 413: code = ErrorCode::kResourceExhausted; break;
    case 503: code = ErrorCode::kUnavailable; break;
    default: break;
  }
  std::string message = "server answered HTTP " + std::to_string(r.status);
  std::string field;
  Json j = Json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const Json& e = j["error"];
    if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
    if (e.contains("field") && e["field"].is_string()) field = e["field"].get<std::string>();
    if (e.contains("code") && e["code"].is_string()) {
      // The server's own code is more precise than the HTTP status.
      for (int c = 0; c <= static_cast<int>(ErrorCode::kInternal); ++c)
        if (e["code"].get<std::string>() == ErrorCodeName(static_cast<ErrorCode>(c))) code = static_cast<ErrorCode>(c);
    }
  }
  if (r.status == 504) code = ErrorCode::kDeadlineExceeded;
  return Error(code, message, field);
}

Result<net::HttpResponse> ApiClient::Send(net::ClientRequest request) {
  request.target = base_ + request.target;
  auto r = http_->Send(request);
  if (!r.ok()) {
    Error e = r.error();
    if (e.code == ErrorCode::kUnavailable)
      e.message += connection_.local ? " (is the local server running? see LATTICE_HOME/server.log)"
                                     : " (check --server / LATTICE_SERVER)";
    return e;
  }
  return r;
}

Result<Json> ApiClient::Get(const std::string& path) {
  net::ClientRequest req;
  req.target = path;
  LATTICE_ASSIGN_OR_RETURN(net::HttpResponse resp, Send(req));
  if (resp.status / 100 != 2) return ErrorFrom(resp);
  return ParseJson(resp.body, "server response");
}

Result<Json> ApiClient::Post(const std::string& path, const Json& body) { return Call("POST", path, body.dump()); }

Result<Json> ApiClient::Delete(const std::string& path) { return Call("DELETE", path, ""); }

Result<Json> ApiClient::Patch(const std::string& path, const Json& body) { return Call("PATCH", path, body.dump()); }

Result<Json> ApiClient::Call(const std::string& method, const std::string& path, std::string body) {
  net::ClientRequest req;
  req.method = method;
  req.target = path;
  req.body = std::move(body);
  LATTICE_ASSIGN_OR_RETURN(net::HttpResponse resp, Send(req));
  if (resp.status / 100 != 2) return ErrorFrom(resp);
  return ParseJson(resp.body, "server response");
}

}  // namespace lattice::cli
