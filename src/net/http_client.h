// A blocking HTTP/1.1 client over one keep-alive connection, with timeouts.
// One instance per thread; it reconnects transparently when the server closed
// the connection. Built on Boost.Beast in http_client.cpp only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "net/http_types.h"

namespace lattice::net {

struct Url {
  std::string host;  // numeric address or name
  uint16_t port = 0;
  std::string base_path;  // e.g. "" or "/prefix"
};
// Parses "http://host:port[/base]"; https is not supported yet.
Result<Url> ParseUrl(const std::string& url);

struct ClientRequest {
  std::string method = "GET";
  std::string target;  // path and query, already encoded
  std::string body;
  std::string content_type = "application/json";
  std::chrono::milliseconds timeout{30000};
};

class HttpClient {
 public:
  explicit HttpClient(Url url, std::string token = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends the request (with "Authorization: Bearer <token>" when a token is
  // set) and returns the response, whatever its status. Errors are transport
  // failures only: kUnavailable (cannot connect / connection dropped) or
  // kDeadlineExceeded.
  Result<HttpResponse> Send(const ClientRequest& request);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lattice::net
