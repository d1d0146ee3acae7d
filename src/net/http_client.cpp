// The blocking HTTP client over Boost.Beast: the only client file that sees
// Boost. Each call runs Beast's async operations on a private io_context
// until they finish; beast::tcp_stream's expiry turns a missed deadline into
// error::timeout and closes the socket, so no operation outlives its call.
#include "net/http_client.h"

#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/span_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace lattice::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;

Result<Url> ParseUrl(const std::string& url) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "invalid URL \"" + url + "\": " + why);
  };
  constexpr std::string_view kScheme = "http://";
  if (url.rfind("https://", 0) == 0) return bad("https is not supported yet");
  if (url.rfind(kScheme, 0) != 0) return bad("expected http://host:port");
  std::string rest = url.substr(kScheme.size());
  if (rest.find_first_of("?#") != std::string::npos) return bad("a query or fragment is not allowed");
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  Url out;
  if (slash != std::string::npos) {
    out.base_path = rest.substr(slash);
    while (!out.base_path.empty() && out.base_path.back() == '/') out.base_path.pop_back();
  }
  std::optional<std::string> port;
  if (!authority.empty() && authority[0] == '[') {  // [v6 address]:port
    size_t close = authority.find(']');
    if (close == std::string::npos) return bad("unterminated [ in host");
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size()) {
      if (authority[close + 1] != ':') return bad("expected : after ]");
      port = authority.substr(close + 2);
    }
  } else {
    size_t colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return bad("missing host");
  if (out.host.find('@') != std::string::npos) return bad("credentials in the URL are not supported");
  if (!port) {
    out.port = 80;
  } else {
    unsigned value = 0;
    auto res = std::from_chars(port->data(), port->data() + port->size(), value);
    if (res.ec != std::errc() || res.ptr != port->data() + port->size() || value == 0 ||
        value > 65535)
      return bad("port must be a number from 1 to 65535");
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

namespace {

// The peer hung up on a kept connection: the request never got an answer.
bool IsDropped(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == asio::error::not_connected;
}

// Downloads hand the sink pieces of up to this many bytes.
constexpr size_t kDownloadChunk = 1 << 20;
// How much of an error answer's body a download keeps for the message.
constexpr size_t kMaxErrorBody = 64 << 10;

bool ParseU64(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  auto res = std::from_chars(text.data(), text.data() + text.size(), *out);
  return res.ec == std::errc() && res.ptr == text.data() + text.size();
}

// "bytes FIRST-LAST/TOTAL" (TOTAL may be "*"), as in a 206 answer.
bool ParseContentRange(std::string_view value, uint64_t* first, std::optional<uint64_t>* total) {
  constexpr std::string_view kUnit = "bytes ";
  if (value.substr(0, kUnit.size()) != kUnit) return false;
  value.remove_prefix(kUnit.size());
  size_t dash = value.find('-');
  size_t slash = value.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos || slash < dash) return false;
  uint64_t last = 0;
  if (!ParseU64(value.substr(0, dash), first) ||
      !ParseU64(value.substr(dash + 1, slash - dash - 1), &last) || last < *first)
    return false;
  std::string_view rest = value.substr(slash + 1);
  if (rest == "*") {
    total->reset();
    return true;
  }
  uint64_t t = 0;
  if (!ParseU64(rest, &t) || t <= last) return false;
  *total = t;
  return true;
}

}  // namespace

struct HttpClient::Impl {
  Impl(Url u, std::string t) : url(std::move(u)), token(std::move(t)) {
    bool v6 = url.host.find(':') != std::string::npos;
    where = (v6 ? "[" + url.host + "]" : url.host) + ":" + std::to_string(url.port);
    host_header = where;
    // Room for 64 KiB per read: Beast otherwise reads bodies 512 bytes at a
    // time (see Conn in http_server.cpp).
    buffer.reserve(64 << 10);
  }

  // Starts one async operation and runs the private context until it (and
  // the stream's timer) completed. Returns the operation's error.
  template <typename Start>
  error_code RunOp(Start&& start) {
    error_code result = asio::error::would_block;
    start([&result](const error_code& ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  }

  void Close() {
    if (stream) {
      error_code ec;
      stream->socket().shutdown(tcp::socket::shutdown_both, ec);
      stream->close();
    }
    stream.reset();
    buffer.clear();
  }

  // A kept connection the server closed while idle reads as EOF right away;
  // catching it here avoids sending a request into a dead connection at all.
  bool IdleConnectionAlive() {
    if (!stream || !stream->socket().is_open()) return false;
    char byte;
    ssize_t n = ::recv(stream->socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
    return false;  // 0: EOF; > 0: bytes nobody asked for, so the stream is out of step
  }

  Error TimedOut(const char* what, std::chrono::milliseconds timeout) const {
    return Error(ErrorCode::kDeadlineExceeded, std::string(what) + " " + where +
                                                   " timed out after " +
                                                   std::to_string(timeout.count()) + " ms");
  }

  Status Connect(std::chrono::steady_clock::time_point deadline,
                 std::chrono::milliseconds timeout) {
    Close();
    error_code ec;
    std::vector<tcp::endpoint> endpoints;
    auto address = asio::ip::make_address(url.host, ec);
    if (!ec) {
      endpoints.emplace_back(address, url.port);
    } else {
      // Name lookups are synchronous (getaddrinfo cannot be cancelled) and
      // therefore not bounded by the timeout.
      tcp::resolver resolver(ioc);
      auto results = resolver.resolve(url.host, std::to_string(url.port), ec);
      if (ec)
        return Error(ErrorCode::kUnavailable, "cannot resolve " + where + ": " + ec.message());
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }
    stream.emplace(ioc);
    stream->expires_at(deadline);
    ec = RunOp([&](auto handler) { stream->async_connect(endpoints, std::move(handler)); });
    if (ec) {
      Close();
      if (ec == beast::error::timeout) return TimedOut("connecting to", timeout);
      return Error(ErrorCode::kUnavailable, "cannot connect to " + where + ": " + ec.message());
    }
    stream->socket().set_option(tcp::no_delay(true), ec);
    return OkStatus();
  }

  // One attempt on the current connection. *retry says whether the request
  // certainly did not reach a live server, so sending it again is safe.
  Result<HttpResponse> Attempt(const ClientRequest& request,
                               std::chrono::steady_clock::time_point deadline, bool reused,
                               bool* retry) {
    *retry = false;
    http::request<http::span_body<const char>> req;
    http::verb verb = http::string_to_verb(request.method);
    if (verb == http::verb::unknown) {
      req.method_string(request.method);
    } else {
      req.method(verb);
    }
    req.target(url.base_path + request.target);
    req.version(11);
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, "lattice");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (!request.body.empty()) req.set(http::field::content_type, request.content_type);
    // span_body points at the caller's body: a large upload is not copied.
    req.body() = {request.body.data(), request.body.size()};
    req.prepare_payload();

    stream->expires_at(deadline);
    error_code ec = RunOp([&](auto handler) { http::async_write(*stream, req, std::move(handler)); });
    if (ec) {
      Close();
      if (ec == beast::error::timeout) return TimedOut("sending a request to", request.timeout);
      *retry = reused && IsDropped(ec);
      return Error(ErrorCode::kUnavailable,
                   "sending a request to " + where + " failed: " + ec.message());
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    parser.header_limit(1 << 20);
    if (verb == http::verb::head) parser.skip(true);
    stream->expires_at(deadline);
    ec = RunOp([&](auto handler) { http::async_read(*stream, buffer, parser, std::move(handler)); });
    if (ec) {
      bool got_some = parser.got_some();
      Close();
      if (ec == beast::error::timeout) return TimedOut("waiting for an answer from", request.timeout);
      *retry = reused && !got_some && IsDropped(ec);
      return Error(ErrorCode::kUnavailable,
                   "connection to " + where + " lost while waiting for an answer: " +
                       ec.message());
    }
    if (!parser.keep_alive()) Close();
    if (stream) stream->expires_never();

    auto message = parser.release();
    HttpResponse out;
    out.status = static_cast<int>(message.result_int());
    out.body = std::move(message.body());
    for (const auto& field : message) {
      std::string name(field.name_string().data(), field.name_string().size());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value(field.value().data(), field.value().size());
      if (name == "content-type") {
        out.content_type = std::move(value);
      } else {
        out.headers.emplace_back(std::move(name), std::move(value));
      }
    }
    if (message.find(http::field::content_type) == message.end()) out.content_type.clear();
    return out;
  }

  Result<HttpResponse> Send(const ClientRequest& request) {
    auto deadline = std::chrono::steady_clock::now() + request.timeout;
    for (int attempt = 0;; ++attempt) {
      bool reused = IdleConnectionAlive();
      if (!reused) LATTICE_RETURN_IF_ERROR(Connect(deadline, request.timeout));
      bool retry = false;
      auto result = Attempt(request, deadline, reused, &retry);
      if (result.ok() || !retry || attempt > 0) return result;
    }
  }

  // One streamed GET on the current connection; *retry as for Attempt.
  Result<DownloadResult> AttemptDownload(const std::string& target, uint64_t offset,
                                         const DownloadSink& sink, const DownloadHeadHook& on_head,
                                         std::chrono::milliseconds timeout, bool reused,
                                         bool* retry) {
    *retry = false;
    http::request<http::empty_body> req{http::verb::get, url.base_path + target, 11};
    req.set(http::field::host, host_header);
    req.set(http::field::user_agent, "lattice");
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    if (offset > 0) req.set(http::field::range, "bytes=" + std::to_string(offset) + "-");

    stream->expires_after(timeout);
    error_code ec = RunOp([&](auto handler) { http::async_write(*stream, req, std::move(handler)); });
    if (ec) {
      Close();
      if (ec == beast::error::timeout) return TimedOut("sending a request to", timeout);
      *retry = reused && IsDropped(ec);
      return Error(ErrorCode::kUnavailable,
                   "sending a request to " + where + " failed: " + ec.message());
    }

    http::response_parser<http::buffer_body> parser;
    parser.body_limit(std::numeric_limits<uint64_t>::max());
    parser.header_limit(1 << 20);
    stream->expires_after(timeout);
    ec = RunOp([&](auto handler) {
      http::async_read_header(*stream, buffer, parser, std::move(handler));
    });
    if (ec) {
      bool got_some = parser.got_some();
      Close();
      if (ec == beast::error::timeout) return TimedOut("waiting for an answer from", timeout);
      *retry = reused && !got_some && IsDropped(ec);
      return Error(ErrorCode::kUnavailable,
                   "connection to " + where + " lost while waiting for an answer: " +
                       ec.message());
    }

    DownloadResult out;
    const auto& head = parser.get();
    out.status = static_cast<int>(head.result_int());
    if (auto it = head.find(http::field::content_type); it != head.end())
      out.content_type = std::string(it->value().data(), it->value().size());
    if (auto length = parser.content_length()) out.content_length = *length;
    const bool success = out.status / 100 == 2;
    if (out.status == 206) {
      uint64_t first = 0;
      auto it = head.find(http::field::content_range);
      std::string_view range;
      if (it != head.end()) range = std::string_view(it->value().data(), it->value().size());
      if (!ParseContentRange(range, &first, &out.total_size) || first != offset) {
        Close();
        return Error(ErrorCode::kUnavailable,
                     "a partial answer from " + where + " has Content-Range \"" +
                         std::string(range) + "\" for a request from byte " +
                         std::to_string(offset));
      }
      out.partial = true;
      out.offset = first;
    } else if (out.status == 200) {
      out.total_size = out.content_length;
    }
    if (success && on_head) {
      Status hooked = on_head(out);
      if (!hooked.ok()) {
        Close();
        return std::move(hooked).error();
      }
    }

    std::vector<char> chunk(success ? kDownloadChunk : (16 << 10));
    while (!parser.is_done()) {
      parser.get().body().data = chunk.data();
      parser.get().body().size = chunk.size();
      stream->expires_after(timeout);
      ec = RunOp([&](auto handler) { http::async_read(*stream, buffer, parser, std::move(handler)); });
      if (ec == http::error::need_buffer) ec = {};
      // Bytes that arrived before a failure still go to the sink, so a
      // resumed download goes on from the last byte received.
      size_t n = chunk.size() - parser.get().body().size;
      if (n > 0 && success) {
        out.received += n;
        Status taken = sink(std::string_view(chunk.data(), n));
        if (!taken.ok()) {
          Close();
          return std::move(taken).error();
        }
      } else if (n > 0) {
        out.error_body.append(chunk.data(), std::min(n, kMaxErrorBody - out.error_body.size()));
        if (!ec && out.error_body.size() >= kMaxErrorBody) {
          Close();  // not worth reading the rest of an oversized error
          return out;
        }
      }
      if (ec) {
        Close();
        if (ec == beast::error::timeout) return TimedOut("waiting for data from", timeout);
        return Error(ErrorCode::kUnavailable, "connection to " + where + " lost after " +
                                                  std::to_string(out.received) +
                                                  " bytes of a download: " + ec.message());
      }
    }
    if (!parser.keep_alive()) Close();
    if (stream) stream->expires_never();
    return out;
  }

  Result<DownloadResult> Download(const std::string& target, uint64_t offset,
                                  const DownloadSink& sink, const DownloadHeadHook& on_head,
                                  std::chrono::milliseconds timeout) {
    for (int attempt = 0;; ++attempt) {
      bool reused = IdleConnectionAlive();
      if (!reused)
        LATTICE_RETURN_IF_ERROR(Connect(std::chrono::steady_clock::now() + timeout, timeout));
      bool retry = false;
      auto result = AttemptDownload(target, offset, sink, on_head, timeout, reused, &retry);
      if (result.ok() || !retry || attempt > 0) return result;
    }
  }

  const Url url;
  const std::string token;
  std::string where;        // "host:port" for messages
  std::string host_header;
  asio::io_context ioc{1};
  std::optional<beast::tcp_stream> stream;  // engaged while a connection is kept
  beast::flat_buffer buffer;
};

HttpClient::HttpClient(Url url, std::string token)
    : impl_(std::make_unique<Impl>(std::move(url), std::move(token))) {}

HttpClient::~HttpClient() { impl_->Close(); }

void HttpClient::Interrupt() {
  // Runs on the calling thread's next ioc.run(): inside the operation in
  // flight, or at the start of the next one.
  Impl* impl = impl_.get();
  asio::post(impl->ioc, [impl] {
    if (impl->stream) impl->stream->cancel();
  });
}

Result<HttpResponse> HttpClient::Send(const ClientRequest& request) {
  try {
    return impl_->Send(request);
  } catch (const std::exception& e) {
    impl_->Close();
    return Error(ErrorCode::kUnavailable,
                 "request to " + impl_->where + " failed: " + e.what());
  }
}

Result<DownloadResult> HttpClient::Download(const std::string& target, uint64_t offset,
                                            const DownloadSink& sink,
                                            std::chrono::milliseconds timeout,
                                            const DownloadHeadHook& on_head) {
  try {
    return impl_->Download(target, offset, sink, on_head, timeout);
  } catch (const std::exception& e) {
    impl_->Close();
    return Error(ErrorCode::kUnavailable,
                 "download from " + impl_->where + " failed: " + e.what());
  }
}

}  // namespace lattice::net
