// An HTTP/1.1 server (keep-alive, one event-loop thread) that hands each
// request to a Handler and lets the handler answer later (long polls) or
// stream (server-sent events). Built on Boost.Beast with C++20 coroutines in
// http_server.cpp only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "common/result.h"
#include "net/event_loop.h"
#include "net/http_types.h"

namespace lattice::net {

// One in-flight request. The handler must call exactly one of Respond() or
// BeginStream() (then any number of Send() and finally End()). All calls on
// the loop thread. Safe to call after the client went away (they do nothing).
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void Respond(HttpResponse response) = 0;
  virtual void BeginStream(int status, const std::string& content_type) = 0;
  virtual void Send(std::string chunk) = 0;
  virtual void End() = 0;
  // True once the peer disconnected; long polls and streams check it.
  virtual bool Closed() const = 0;
  // Called once if the peer disconnects before the exchange is finished.
  virtual void OnClose(std::function<void()> fn) = 0;
};

using Handler = std::function<void(HttpRequest, std::shared_ptr<Exchange>)>;

struct HttpServerOptions {
  std::string address = "127.0.0.1";
  uint16_t port = 0;  // 0 picks a free port; see BoundPort()
  size_t max_body_bytes = 64 * 1024 * 1024;
  size_t max_header_bytes = 64 * 1024;
};

class HttpServer {
 public:
  virtual ~HttpServer() = default;
  virtual EventLoop& Loop() = 0;
  virtual uint16_t BoundPort() const = 0;
  // Serves until Stop(); returns on the calling thread.
  virtual void Run() = 0;
  // Thread-safe and async-signal-unsafe; call from the loop or another thread.
  virtual void Stop() = 0;
};

// Binds and listens (so BoundPort() is valid on return) but does not serve
// until Run(). Requests that exceed limits are answered 413/431 by the server
// itself with a JSON error; the handler never sees them.
Result<std::unique_ptr<HttpServer>> StartHttpServer(const HttpServerOptions& options,
                                                    Handler handler);

}  // namespace lattice::net
