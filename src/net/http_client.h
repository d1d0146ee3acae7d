// A blocking HTTP/1.1 client over one keep-alive connection, with timeouts.
// One instance per thread; it reconnects transparently when the server closed
// the connection. Built on Boost.Beast in http_client.cpp only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

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

// What a download learned from the response's head, before any body byte.
struct DownloadHead {
  int status = 0;
  // 206: the server honoured the Range and the body starts at `offset`.
  // False after a 200 answer to a ranged request: the body is the whole
  // resource from byte 0, so whoever asked for a range must start over.
  bool partial = false;
  uint64_t offset = 0;                    // where the body starts in the resource
  std::optional<uint64_t> total_size;     // the resource's full length, when known
  std::optional<uint64_t> content_length; // this body's length, when announced
  std::string content_type;
};

struct DownloadResult : DownloadHead {
  uint64_t received = 0;  // body bytes handed to the sink
  // A non-2xx answer's body (at most 64 KiB), for error messages; such a body
  // never reaches the sink.
  std::string error_body;
};

// Called once per piece of a 2xx body (at most about 1 MiB each), in order;
// bytes that arrived before the connection failed are handed over before the
// error is returned, so the sink has every byte received.
// An error stops the download and is returned as the download's error.
using DownloadSink = std::function<Status(std::string_view chunk)>;
// Called once after a 2xx head, before the first chunk; an error stops the
// download. Where a ranged request got a 200, this is where to start over.
using DownloadHeadHook = std::function<Status(const DownloadHead& head)>;

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

  // GETs target (below the URL's base path, like Send) and streams the body
  // to sink without holding it in memory. With offset > 0 it asks for
  // "Range: bytes=offset-" (see DownloadHead::partial for a server that
  // ignores it). timeout bounds connecting and each wait for more data, not
  // the whole transfer. The connection stays reusable after a complete
  // response; a sink or hook error closes it. Errors: transport failures as
  // for Send, a 206 whose Content-Range does not start at offset
  // (kUnavailable), and the sink's or hook's own errors.
  Result<DownloadResult> Download(const std::string& target, uint64_t offset,
                                  const DownloadSink& sink, std::chrono::milliseconds timeout,
                                  const DownloadHeadHook& on_head = {});

  // Safe from any thread: makes the request in flight (or, if none, the
  // next one) fail at once with kUnavailable, e.g. to end a long poll when
  // the process stops.
  void Interrupt();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lattice::net
