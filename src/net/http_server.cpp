// The HTTP server: Boost.Beast's parser, Asio C++20 coroutines, one
// single-threaded io_context. This is the only server file that sees Boost.
//
// Shape: an accept coroutine spawns one coroutine per connection. Each reads a
// request with a parser that fills our HttpRequest directly, calls the
// handler, then writes whatever the handler produced. Responses are
// serialized by hand into a per-connection string and written with one
// gathered write, which keeps an immediately answered GET to two syscalls and
// a handful of small allocations.
//
// Answers that come later (long polls, streams) live in per-connection state
// that the Exchange reaches through a weak_ptr plus a request generation, so
// a handler may keep its Exchange forever and calls on it are harmless no-ops
// once the request or the connection is gone. While the handler has not
// finished, a one-shot read watches the socket so a client that hangs up is
// noticed at once (Closed() turns true and OnClose fires) instead of at the
// next write, which may never come for a long poll.
#include "net/http_server.h"

#include "net/http_wire.h"

#include <utility>  // before awaitable.hpp: it uses std::exchange

// GCC 12 with -fsanitize=address at -O2 reports a false "maybe uninitialized"
// boost::optional inside Beast's parser; the warning is Beast's, not ours.
#pragma GCC diagnostic push
#if !defined(__clang__)  // clang has no such warning, and -Werror rejects unknown ones
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#pragma GCC diagnostic pop

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <deque>
#include <optional>
#include <unordered_set>

namespace lattice::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using beast::error_code;

constexpr auto kAwait = asio::use_awaitable;
// How long and how much a closing connection keeps reading after an error
// answer, so the kernel does not reset it (and discard our answer) because
// request bytes were left unread.
constexpr auto kLingerTime = std::chrono::seconds(1);
constexpr size_t kLingerBytes = 8 << 20;
// Bytes of a pipelined next request buffered while a long poll waits.
constexpr size_t kMaxBufferedAhead = 64 << 10;
constexpr size_t kFileChunk = 1 << 20;  // read size of file-body responses

// ---------------------------------------------------------------- event loop

struct TimerState {
  explicit TimerState(asio::io_context& ioc) : timer(ioc) {}
  asio::steady_timer timer;
  std::function<void()> fn;
  bool cancelled = false;
};

class AsioTimerHandle final : public TimerHandle {
 public:
  explicit AsioTimerHandle(std::weak_ptr<TimerState> state) : state_(std::move(state)) {}
  ~AsioTimerHandle() override { Cancel(); }
  // The flag covers a timer that already expired and whose completion is
  // queued: asio's cancel() cannot stop that one any more.
  void Cancel() override {
    if (auto s = state_.lock()) {
      s->cancelled = true;
      s->fn = nullptr;  // release captures now, not when the wait unwinds
      s->timer.cancel();
    }
  }

 private:
  std::weak_ptr<TimerState> state_;  // the pending wait owns the state
};

void RunGuarded(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lattice: event loop callback threw: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "lattice: event loop callback threw\n");
  }
}

class AsioLoop final : public EventLoop {
 public:
  explicit AsioLoop(asio::io_context& ioc) : ioc_(ioc) {}
  void Post(std::function<void()> fn) override {
    asio::post(ioc_, [fn = std::move(fn)] { RunGuarded(fn); });
  }
  std::unique_ptr<TimerHandle> RunAfter(std::chrono::milliseconds delay,
                                        std::function<void()> fn) override {
    auto state = std::make_shared<TimerState>(ioc_);
    state->fn = std::move(fn);
    state->timer.expires_after(delay);
    state->timer.async_wait([state](const error_code& ec) {
      if (ec || state->cancelled || !state->fn) return;
      // Moved out first: the callback may destroy its own handle.
      auto fn = std::move(state->fn);
      state->fn = nullptr;
      RunGuarded(fn);
    });
    return std::make_unique<AsioTimerHandle>(state);
  }

 private:
  asio::io_context& ioc_;
};

// Fills an HttpRequest straight from Beast's parser callbacks, skipping the
// intermediate http::fields container (an allocation per header).
class RequestParser final : public http::basic_parser<true> {
 public:
  HttpRequest request;
  std::optional<uint64_t> declared_length;  // Content-Length, for the 413 text
  bool expect_continue = false;
  bool head = false;
  int version = 11;

 private:
  void on_request_impl(http::verb verb, beast::string_view method, beast::string_view target,
                       int ver, error_code&) override {
    request.method.assign(method.data(), method.size());
    request.target.assign(target.data(), target.size());
    head = verb == http::verb::head;
    version = ver;
  }
  void on_response_impl(int, beast::string_view, int, error_code&) override {}
  void on_field_impl(http::field f, beast::string_view name, beast::string_view value,
                     error_code&) override {
    std::string lower(name.data(), name.size());
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    request.headers.emplace_back(std::move(lower), std::string(value.data(), value.size()));
    if (f == http::field::content_length) {
      uint64_t n = 0;  // Beast already validated the value
      auto res = std::from_chars(value.data(), value.data() + value.size(), n);
      if (res.ec == std::errc()) declared_length = n;
    } else if (f == http::field::expect && beast::iequals(value, "100-continue")) {
      expect_continue = true;
    }
  }
  void on_header_impl(error_code&) override {}
  void on_body_init_impl(const boost::optional<uint64_t>& length, error_code&) override {
    // Bounded so a client cannot make us reserve the whole limit by promising.
    if (length) request.body.reserve(std::min<uint64_t>(*length, 4 << 20));
  }
  size_t on_body_impl(beast::string_view body, error_code&) override {
    request.body.append(body.data(), body.size());
    return body.size();
  }
  void on_chunk_header_impl(uint64_t, beast::string_view, error_code&) override {}
  size_t on_chunk_body_impl(uint64_t, beast::string_view body, error_code&) override {
    request.body.append(body.data(), body.size());
    return body.size();
  }
  void on_finish_impl(error_code&) override {}
};

// ------------------------------------------------------------- connections

class ServerImpl;

enum class Phase { kPending, kResponded, kStreaming, kEnded };

// One connection and the exchange in flight on it. Owned by its coroutine
// (shared with in-flight completion handlers); Exchanges hold weak_ptrs.
struct Conn {
  Conn(ServerImpl& s, tcp::socket sock);
  ~Conn();
  void Wake();       // resumes the coroutine if it is parked
  void PeerGone();   // the client hung up or a write failed

  ServerImpl& server;
  tcp::socket socket;
  asio::steady_timer wake;  // a signal: the coroutine parks on it, events cancel it
  beast::flat_buffer buffer;
  std::string peer;
  std::string head;  // serialized response header, reused across requests

  // The current exchange; reset for each request.
  uint64_t generation = 0;
  Phase phase = Phase::kEnded;
  bool finished = true;   // the answer is fully written (or abandoned)
  bool abandoned = false; // the handler dropped its Exchange before finishing
  HttpResponse response;
  int stream_status = 200;
  std::string stream_type;
  std::deque<std::string> chunks;
  std::function<void()> on_close;

  bool waiting = false;     // parked on `wake`
  bool monitoring = false;  // a hang-up watching read is in flight
  bool peer_gone = false;
};

class ExchangeImpl final : public Exchange {
 public:
  explicit ExchangeImpl(const std::shared_ptr<Conn>& c) : conn_(c), gen_(c->generation) {}
  ~ExchangeImpl() override {
    auto c = Current();
    if (c && (c->phase == Phase::kPending || c->phase == Phase::kStreaming)) {
      c->abandoned = true;
      c->Wake();
    }
  }
  void Respond(HttpResponse response) override {
    auto c = Current();
    if (!c || c->phase != Phase::kPending || c->peer_gone) return;
    c->response = std::move(response);
    c->phase = Phase::kResponded;
    c->Wake();
  }
  void BeginStream(int status, const std::string& content_type) override {
    auto c = Current();
    if (!c || c->phase != Phase::kPending || c->peer_gone) return;
    c->stream_status = status;
    c->stream_type = content_type;
    c->phase = Phase::kStreaming;
    c->Wake();
  }
  void Send(std::string chunk) override {
    auto c = Current();
    // An empty chunk would read as the end of a chunked body.
    if (!c || c->phase != Phase::kStreaming || c->peer_gone || chunk.empty()) return;
    c->chunks.push_back(std::move(chunk));
    c->Wake();
  }
  void End() override {
    auto c = Current();
    if (!c || c->phase != Phase::kStreaming) return;
    c->phase = Phase::kEnded;
    c->Wake();
  }
  bool Closed() const override {
    auto c = conn_.lock();
    return !c || c->peer_gone;
  }
  void OnClose(std::function<void()> fn) override {
    auto c = Current();
    if (!c) {
      // Connection gone: it did close. Finished long ago: it never will.
      if (conn_.expired() && fn) fn();
      return;
    }
    if (c->finished) return;
    if (c->peer_gone) {
      if (fn) fn();
      return;
    }
    c->on_close = std::move(fn);
  }

 private:
  std::shared_ptr<Conn> Current() const {
    auto c = conn_.lock();
    if (c && c->generation != gen_) c.reset();
    return c;
  }
  std::weak_ptr<Conn> conn_;
  const uint64_t gen_;
};

// ------------------------------------------------------------------ server

class ServerImpl final : public HttpServer {
 public:
  ServerImpl(const HttpServerOptions& options, Handler handler)
      : options_(options), handler_(std::move(handler)) {}
  ~ServerImpl() override {
    // Destroying the io_context destroys parked coroutines; their state must
    // not poke timers of a context that is being torn down.
    destroying_ = true;
  }

  Status Listen();
  EventLoop& Loop() override { return loop_; }
  uint16_t BoundPort() const override { return port_; }
  void Run() override;
  void Stop() override {
    asio::post(ioc_, [this] { DoStop(); });
  }

  bool destroying() const { return destroying_; }
  std::unordered_set<Conn*>& conns() { return conns_; }

 private:
  void DoStop();
  asio::awaitable<void> Accept();
  asio::awaitable<void> Serve(std::shared_ptr<Conn> c);
  asio::awaitable<void> Park(Conn& c);
  asio::awaitable<void> WriteResponse(Conn& c, const HttpResponse& r, bool head,
                                      bool keep_alive, int version, error_code& ec);
  asio::awaitable<void> WriteStream(const std::shared_ptr<Conn>& c, int version,
                                    error_code& ec);
  asio::awaitable<void> LingerAndClose(std::shared_ptr<Conn> c);
  void Dispatch(const std::shared_ptr<Conn>& c, HttpRequest request);
  void Monitor(const std::shared_ptr<Conn>& c);

  const HttpServerOptions options_;
  const Handler handler_;
  // Declared before ioc_ so they outlive the coroutines it destroys.
  bool destroying_ = false;
  std::unordered_set<Conn*> conns_;  // for Stop(); entries unregister themselves
  asio::io_context ioc_{1};
  tcp::acceptor acceptor_{ioc_};
  AsioLoop loop_{ioc_};
  uint16_t port_ = 0;
  bool stopped_ = false;
};

Conn::Conn(ServerImpl& s, tcp::socket sock)
    : server(s), socket(std::move(sock)), wake(socket.get_executor()) {
  error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (!ec) peer = ep.address().to_string() + ":" + std::to_string(ep.port());
  // Beast reads max(512, capacity - size) bytes per call and the body parser
  // drains the buffer, so without room here a large upload costs one
  // system call per 512 bytes.
  buffer.reserve(64 << 10);
  server.conns().insert(this);
}

Conn::~Conn() { server.conns().erase(this); }

void Conn::Wake() {
  if (waiting && !server.destroying()) wake.cancel();
}

void Conn::PeerGone() {
  peer_gone = true;
  if (!finished && on_close) {
    auto fn = std::move(on_close);
    on_close = nullptr;
    RunGuarded(fn);
  }
  Wake();
}

Status ServerImpl::Listen() {
  error_code ec;
  std::string where = options_.address + ":" + std::to_string(options_.port);
  auto address = asio::ip::make_address(options_.address, ec);
  if (ec) {
    tcp::resolver resolver(ioc_);
    auto results = resolver.resolve(options_.address, "", ec);
    if (ec || results.empty())
      return Error(ErrorCode::kInvalidArgument, "cannot resolve listen address " + where);
    address = results.begin()->endpoint().address();
  }
  tcp::endpoint endpoint(address, options_.port);
  auto fail = [&](const char* what) {
    return Error(ErrorCode::kUnavailable,
                 std::string("cannot ") + what + " " + where + ": " + ec.message());
  };
  if (acceptor_.open(endpoint.protocol(), ec)) return fail("open a socket for");
  if (acceptor_.set_option(tcp::acceptor::reuse_address(true), ec)) return fail("configure");
  if (acceptor_.bind(endpoint, ec)) return fail("bind");
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec)) return fail("listen on");
  port_ = acceptor_.local_endpoint(ec).port();
  if (ec) return fail("read the port of");
  asio::co_spawn(ioc_, Accept(), asio::detached);
  return OkStatus();
}

void ServerImpl::Run() {
  for (;;) {
    try {
      ioc_.run();
      return;
    } catch (const std::exception& e) {  // keep serving: one bad callback is not fatal
      std::fprintf(stderr, "lattice: http server loop: %s\n", e.what());
    }
  }
}

void ServerImpl::DoStop() {
  stopped_ = true;
  error_code ec;
  acceptor_.close(ec);
  for (Conn* c : conns_) c->socket.close(ec);
  // Loop timers (heartbeats, long-poll deadlines) would keep run() busy:
  // stop outright; the io_context destroys what is left with the server.
  ioc_.stop();
}

asio::awaitable<void> ServerImpl::Accept() {
  asio::steady_timer backoff(ioc_);
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(kAwait, ec));
    if (ec) {
      if (stopped_ || !acceptor_.is_open() || ec == asio::error::operation_aborted) co_return;
      // Out of descriptors and the like: back off rather than spin.
      backoff.expires_after(std::chrono::milliseconds(50));
      co_await backoff.async_wait(asio::redirect_error(kAwait, ec));
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(ioc_, Serve(std::make_shared<Conn>(*this, std::move(socket))),
                   asio::detached);
  }
}

asio::awaitable<void> ServerImpl::Park(Conn& c) {
  c.waiting = true;
  c.wake.expires_at(asio::steady_timer::time_point::max());
  error_code ec;
  co_await c.wake.async_wait(asio::redirect_error(kAwait, ec));
  c.waiting = false;
}

void ServerImpl::Monitor(const std::shared_ptr<Conn>& c) {
  c->monitoring = true;
  c->socket.async_read_some(c->buffer.prepare(4096), [c](const error_code& ec, size_t n) {
    c->monitoring = false;
    if (ec) {
      c->PeerGone();
      return;
    }
    // Bytes of the next request (pipelining): keep them for the parser and
    // keep watching while the current answer is still owed.
    c->buffer.commit(n);
    if (!c->finished && c->buffer.size() < kMaxBufferedAhead) c->server.Monitor(c);
    c->Wake();
  });
}

void ServerImpl::Dispatch(const std::shared_ptr<Conn>& c, HttpRequest request) {
  c->generation++;
  c->phase = Phase::kPending;
  c->finished = false;
  c->abandoned = false;
  c->chunks.clear();
  c->on_close = nullptr;
  try {
    handler_(std::move(request), std::make_shared<ExchangeImpl>(c));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lattice: http handler threw: %s\n", e.what());
    c->abandoned = true;
  } catch (...) {
    c->abandoned = true;
  }
}

asio::awaitable<void> ServerImpl::WriteResponse(Conn& c, const HttpResponse& r, bool head,
                                                bool keep_alive, int version,
                                                error_code& ec) {
  c.head.clear();
  wire::AppendResponseHead(c.head, r, keep_alive, version);
  const bool omit = wire::OmitsBody(wire::ValidStatus(r.status), head);
  if (!r.file || omit) {
    std::array<asio::const_buffer, 2> buffers{asio::buffer(c.head), omit ? asio::const_buffer() : asio::buffer(r.body)};
    co_await asio::async_write(c.socket, buffers, asio::redirect_error(kAwait, ec));
    co_return;
  }
  co_await asio::async_write(c.socket, asio::buffer(c.head), asio::redirect_error(kAwait, ec));
  if (ec) co_return;
  // Reads stay on the loop thread: a chunk from the page cache costs far less
  // than the socket write it feeds, and the await is the backpressure.
  int fd = ::open(r.file->path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    ec = asio::error::connection_reset;  // the head is out: only a hang-up can say it failed
    co_return;
  }
  std::string chunk(kFileChunk, '\0');
  uint64_t offset = r.file->offset, left = r.file->length;
  while (left > 0) {
    ssize_t n = ::pread(fd, chunk.data(), static_cast<size_t>(std::min<uint64_t>(left, kFileChunk)),
                        static_cast<off_t>(offset));
    if (n <= 0) {
      ec = asio::error::connection_reset;  // the file shrank under us
      break;
    }
    co_await asio::async_write(c.socket, asio::buffer(chunk.data(), static_cast<size_t>(n)),
                               asio::redirect_error(kAwait, ec));
    if (ec) break;
    offset += static_cast<uint64_t>(n);
    left -= static_cast<uint64_t>(n);
  }
  ::close(fd);
}

// Writes a streamed answer: chunked for HTTP/1.1, raw until close for 1.0.
asio::awaitable<void> ServerImpl::WriteStream(const std::shared_ptr<Conn>& c, int version,
                                              error_code& ec) {
  const bool chunked = version >= 11;
  std::string out;
  wire::AppendStreamHead(out, c->stream_status, c->stream_type, chunked);
  for (;;) {
    for (const auto& chunk : c->chunks) wire::AppendChunk(out, chunk, chunked);
    c->chunks.clear();
    bool last = c->phase == Phase::kEnded || c->abandoned;
    if (last && chunked) wire::AppendLastChunk(out);
    if (!out.empty()) {
      co_await asio::async_write(c->socket, asio::buffer(out), asio::redirect_error(kAwait, ec));
      if (ec) co_return;
      out.clear();
    }
    if (last) co_return;
    while (c->chunks.empty() && c->phase == Phase::kStreaming && !c->abandoned &&
           !c->peer_gone)
      co_await Park(*c);
    if (c->peer_gone) {
      ec = asio::error::connection_reset;
      co_return;
    }
  }
}

asio::awaitable<void> ServerImpl::LingerAndClose(std::shared_ptr<Conn> c) {
  error_code ec;
  c->socket.shutdown(tcp::socket::shutdown_send, ec);
  c->wake.expires_after(kLingerTime);
  c->wake.async_wait([c](const error_code& e) {
    error_code ignored;
    if (!e) c->socket.close(ignored);
  });
  size_t drained = 0;
  while (!ec && drained < kLingerBytes) {
    c->buffer.consume(c->buffer.size());
    size_t n = co_await c->socket.async_read_some(c->buffer.prepare(64 << 10),
                                                  asio::redirect_error(kAwait, ec));
    drained += n;
  }
  c->wake.cancel();
  c->socket.close(ec);
}

asio::awaitable<void> ServerImpl::Serve(std::shared_ptr<Conn> c) {
  error_code ec;
  for (;;) {
    RequestParser parser;
    parser.body_limit(options_.max_body_bytes);
    parser.header_limit(static_cast<uint32_t>(
        std::min<size_t>(options_.max_header_bytes, UINT32_MAX)));
    co_await http::async_read_header(c->socket, c->buffer, parser,
                                     asio::redirect_error(kAwait, ec));
    if (!ec && !parser.is_done()) {
      if (parser.expect_continue) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await asio::async_write(c->socket, asio::buffer(kContinue),
                                   asio::redirect_error(kAwait, ec));
      }
      if (!ec)
        co_await http::async_read(c->socket, c->buffer, parser, asio::redirect_error(kAwait, ec));
    }
    if (ec) {
      // A hang-up between or in the middle of requests is no protocol error.
      if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
          ec.category() != http::make_error_code(http::error::bad_method).category())
        break;
      HttpResponse answer;
      if (ec == http::error::body_limit) {
        std::string size = parser.declared_length
                               ? std::to_string(*parser.declared_length) + " bytes"
                               : "more than " + std::to_string(options_.max_body_bytes) + " bytes";
        answer = wire::ErrorResponse(413, "resource_exhausted",
                               "request body of " + size + " exceeds the limit of " +
                                   std::to_string(options_.max_body_bytes) + " bytes");
      } else if (ec == http::error::header_limit) {
        answer = wire::ErrorResponse(431, "resource_exhausted",
                               "request header exceeds the limit of " +
                                   std::to_string(options_.max_header_bytes) + " bytes");
      } else {
        answer = wire::ErrorResponse(400, "invalid_argument", "malformed HTTP request: " + ec.message());
      }
      co_await WriteResponse(*c, answer, false, false, 11, ec);
      if (!ec) co_await LingerAndClose(c);
      break;
    }

    const bool head = parser.head;
    const int version = parser.version;
    bool keep_alive = parser.keep_alive();
    HttpRequest& request = parser.request;
    if (!ParseTarget(request.target, &request.path, &request.query)) {
      co_await WriteResponse(*c,
                             wire::ErrorResponse(400, "invalid_argument",
                                           "malformed percent escape in request target"),
                             head, keep_alive, version, ec);
      if (ec || !keep_alive) break;
      continue;
    }
    request.peer = c->peer;
    Dispatch(c, std::move(request));

    if (c->phase == Phase::kPending || c->phase == Phase::kStreaming) {
      if (!c->abandoned && c->buffer.size() == 0) Monitor(c);
    }
    while (c->phase == Phase::kPending && !c->abandoned && !c->peer_gone) co_await Park(*c);
    if (c->peer_gone) break;
    if (c->phase == Phase::kPending) {  // abandoned: the handler can never answer now
      c->response = wire::ErrorResponse(500, "internal", "the request handler did not answer");
      c->phase = Phase::kResponded;
    }
    if (c->phase == Phase::kResponded) {
      co_await WriteResponse(*c, c->response, head, keep_alive, version, ec);
      // Free a large body now, not at the next request; Respond() replaces
      // the whole response, so nothing else needs resetting.
      std::string().swap(c->response.body);
    } else {
      co_await WriteStream(c, version, ec);
      if (version < 11) keep_alive = false;
    }
    if (ec) {
      c->PeerGone();
      break;
    }
    c->finished = true;
    c->on_close = nullptr;
    if (!keep_alive) break;
    // A hang-up watch still in flight owns the buffer until the next request
    // arrives or the client leaves.
    while (c->monitoring && !c->peer_gone) co_await Park(*c);
    if (c->peer_gone) break;
  }
  c->finished = true;
  c->on_close = nullptr;
  c->socket.shutdown(tcp::socket::shutdown_send, ec);
  c->socket.close(ec);
}

}  // namespace

Result<std::unique_ptr<HttpServer>> StartHttpServer(const HttpServerOptions& options,
                                                    Handler handler) {
  try {
    auto server = std::make_unique<ServerImpl>(options, std::move(handler));
    LATTICE_RETURN_IF_ERROR(server->Listen());
    return std::unique_ptr<HttpServer>(std::move(server));
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, std::string("starting the HTTP server: ") + e.what());
  }
}

}  // namespace lattice::net
