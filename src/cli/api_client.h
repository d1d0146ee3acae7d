// The CLI's view of a server: finds it (--server, LATTICE_SERVER, or the
// local one under LATTICE_HOME, started on first use), and sends JSON
// requests, turning error answers back into the error model.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "common/json.h"
#include "net/http_client.h"

namespace lattice::cli {

struct Connection {
  std::string url;
  std::string token;
  bool local = false;  // a server under LATTICE_HOME (maybe started by us)
};

struct ConnectOptions {
  std::string server;  // --server; empty: LATTICE_SERVER or local
  std::filesystem::path home;
  bool start_local = true;  // start a local server and agent if none runs
};

Result<Connection> Connect(const ConnectOptions& options);

class ApiClient final {
 public:
  explicit ApiClient(Connection connection);
  const Connection& connection() const { return connection_; }

  Result<Json> Get(const std::string& path);
  Result<Json> Post(const std::string& path, const Json& body);
  Result<Json> Delete(const std::string& path);
  Result<Json> Patch(const std::string& path, const Json& body);
  // Raw access (blobs, logs): path is below /api/v1.
  Result<net::HttpResponse> Send(net::ClientRequest request);
  // Converts a non-2xx answer into an Error carrying the server's message.
  static Error ErrorFrom(const net::HttpResponse& response);

 private:
  Result<Json> Call(const std::string& method, const std::string& path, std::string body);

  Connection connection_;
  std::string base_;
  std::unique_ptr<net::HttpClient> http_;
};

}  // namespace lattice::cli
