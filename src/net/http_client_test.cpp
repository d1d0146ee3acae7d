// The client against our server and against a scripted raw-socket server
// that misbehaves on cue (drops kept connections, never answers).
#include "net/http_client.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <random>
#include <thread>

#include <gtest/gtest.h>

#include "net/http_server.h"
#include "net/net_test_util.h"

namespace lattice::net {
namespace {

using namespace std::chrono_literals;
using testing::Await;
using testing::ServerThread;

// Accepts connections one at a time on a thread and hands each to a script
// with its 0-based number.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::function<void(int index, int fd)> script)
      : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len), 0);
    EXPECT_EQ(::listen(listen_fd_, 16), 0);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (int index = 0;; ++index) {
        int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd < 0) return;  // shut down
        connections_++;
        script_(index, fd);
        ::close(fd);
      }
    });
  }
  ~ScriptedServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    ::close(listen_fd_);
  }
  uint16_t port() const { return port_; }
  int connections() const { return connections_.load(); }

  // Reads one body-less request; false when the client hung up.
  static bool ReadRequest(int fd) {
    std::string data;
    char c;
    while (data.find("\r\n\r\n") == std::string::npos) {
      if (::recv(fd, &c, 1, 0) <= 0) return false;
      data.push_back(c);
    }
    return true;
  }
  static void Answer(int fd, const std::string& body, const std::string& extra = "") {
    std::string text = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n" + extra + "\r\n" + body;
    ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  }

 private:
  std::function<void(int, int)> script_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

ClientRequest Get(const std::string& target, std::chrono::milliseconds timeout = 10s) {
  ClientRequest request;
  request.target = target;
  request.timeout = timeout;
  return request;
}

TEST(Net, Client_ConnectRefused_Unavailable) {
  // A bound socket that never listens: connecting to it is refused, and
  // holding it keeps the port from being reused meanwhile.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t port = ntohs(addr.sin_port);

  HttpClient client(Url{"127.0.0.1", port, ""});
  auto response = client.Send(Get("/x"));
  ::close(fd);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(response.error().message,
            "cannot connect to 127.0.0.1:" + std::to_string(port) + ": Connection refused");
}

TEST(Net, Client_Timeout_DeadlineExceeded) {
  std::vector<std::shared_ptr<Exchange>> unanswered;  // outlives the server
  ServerThread st([&](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    if (request.path == "/ok") return exchange->Respond(HttpResponse{});
    unanswered.push_back(exchange);
  });
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  auto start = std::chrono::steady_clock::now();
  auto response = client.Send(Get("/never", 100ms));
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_NE(response.error().message.find("timed out after 100 ms"), std::string::npos);
  EXPECT_GE(elapsed, 100ms);
  EXPECT_LT(elapsed, 5s);
  auto after = client.Send(Get("/ok"));  // a timed-out connection is replaced
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->status, 200);
}

// A long poll in flight ends at once when another thread interrupts it (an
// agent stopping must not wait for the poll to run out).
TEST(Net, Client_Interrupt_EndsTheRequestInFlightAndTheClientStaysUsable) {
  std::vector<std::shared_ptr<Exchange>> unanswered;  // outlives the server
  ServerThread st([&](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    if (request.path == "/ok") return exchange->Respond(HttpResponse{});
    unanswered.push_back(exchange);
  });
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  ASSERT_TRUE(client.Send(Get("/ok")).ok());  // connected: the poll reuses it
  std::thread interrupter([&] {
    std::this_thread::sleep_for(200ms);
    client.Interrupt();
  });
  auto start = std::chrono::steady_clock::now();
  auto response = client.Send(Get("/poll", 30s));
  auto elapsed = std::chrono::steady_clock::now() - start;
  interrupter.join();
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable) << response.error().message;
  EXPECT_LT(elapsed, 10s);
  auto after = client.Send(Get("/ok"));
  ASSERT_TRUE(after.ok()) << after.error().message;
}

TEST(Net, Client_ServerClosedKeepAlive_ReconnectsTransparently) {
  // Answers one request per connection without announcing the close.
  ScriptedServer server([](int index, int fd) {
    if (ScriptedServer::ReadRequest(fd)) ScriptedServer::Answer(fd, "answer " + std::to_string(index));
  });
  HttpClient client(Url{"127.0.0.1", server.port(), ""});
  for (int i = 0; i < 3; ++i) {
    auto response = client.Send(Get("/x"));
    ASSERT_TRUE(response.ok()) << response.error().message;
    EXPECT_EQ(response->body, "answer " + std::to_string(i));
  }
  EXPECT_EQ(server.connections(), 3);
}

TEST(Net, Client_KeptConnectionDroppedBeforeAnswer_RetriedOnceOnNewConnection) {
  // Connection 0 answers, then takes the next request and hangs up without a
  // byte: the race where the server closed an idle connection just as the
  // request arrived.
  std::atomic<int> requests{0};
  ScriptedServer server([&](int index, int fd) {
    if (!ScriptedServer::ReadRequest(fd)) return;
    requests++;
    ScriptedServer::Answer(fd, "answer " + std::to_string(index));
    if (index == 0 && ScriptedServer::ReadRequest(fd)) requests++;
  });
  HttpClient client(Url{"127.0.0.1", server.port(), ""});
  auto first = client.Send(Get("/x"));
  ASSERT_TRUE(first.ok()) << first.error().message;
  auto second = client.Send(Get("/x"));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->body, "answer 1");
  EXPECT_EQ(requests.load(), 3);
  EXPECT_EQ(server.connections(), 2);
}

TEST(Net, Client_FreshConnectionDroppedBeforeAnswer_UnavailableWithoutRetry) {
  ScriptedServer server([](int, int fd) { (void)ScriptedServer::ReadRequest(fd); });
  HttpClient client(Url{"127.0.0.1", server.port(), ""});
  auto response = client.Send(Get("/x"));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(response.error().message.find("127.0.0.1:" + std::to_string(server.port())),
            std::string::npos);
  EXPECT_EQ(server.connections(), 1);
}

TEST(Net, Client_ConnectionCloseAnswer_NextRequestReconnects) {
  ScriptedServer server([](int index, int fd) {
    if (ScriptedServer::ReadRequest(fd))
      ScriptedServer::Answer(fd, std::to_string(index), "Connection: close\r\n");
  });
  HttpClient client(Url{"127.0.0.1", server.port(), ""});
  ASSERT_TRUE(client.Send(Get("/x")).ok());
  auto second = client.Send(Get("/x"));
  ASSERT_TRUE(second.ok()) << second.error().message;
  EXPECT_EQ(second->body, "1");
}

TEST(Net, Client_SendsHostUserAgentTokenContentTypeAndBasePath) {
  std::promise<HttpRequest> seen;
  ServerThread st([&](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    HttpResponse response;
    response.content_type = "text/plain";
    response.headers = {{"X-Reply", "yes"}};
    exchange->Respond(std::move(response));
    seen.set_value(std::move(request));
  });
  HttpClient client(Url{"127.0.0.1", st.port(), "/base"}, "s3cret");
  ClientRequest request;
  request.method = "PUT";
  request.target = "/runs/r1?x=1";
  request.body = R"({"a":1})";
  auto response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->content_type, "text/plain");
  bool found = false;
  for (const auto& [name, value] : response->headers) found |= name == "x-reply" && value == "yes";
  EXPECT_TRUE(found);

  auto future = seen.get_future();
  HttpRequest got = Await(future);
  EXPECT_EQ(got.method, "PUT");
  EXPECT_EQ(got.target, "/base/runs/r1?x=1");
  EXPECT_EQ(got.Header("host"), "127.0.0.1:" + std::to_string(st.port()));
  EXPECT_EQ(got.Header("user-agent"), "lattice");
  EXPECT_EQ(got.Header("authorization"), "Bearer s3cret");
  EXPECT_EQ(got.Header("content-type"), "application/json");
  EXPECT_EQ(got.body, R"({"a":1})");
}

TEST(Net, Client_NoTokenNoBody_NoAuthorizationNoContentType) {
  std::promise<HttpRequest> seen;
  ServerThread st([&](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    exchange->Respond(HttpResponse{});
    seen.set_value(std::move(request));
  });
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  ASSERT_TRUE(client.Send(Get("/x")).ok());
  auto future = seen.get_future();
  HttpRequest got = Await(future);
  EXPECT_EQ(got.Header("authorization"), "");
  EXPECT_EQ(got.Header("content-type"), "");
}

TEST(Net, Client_LargeBinaryBody_RoundTripsIntact) {
  ServerThread st([](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    HttpResponse response;
    response.content_type = "application/octet-stream";
    response.body = std::move(request.body);
    exchange->Respond(std::move(response));
  });
  std::string body(24 << 20, '\0');
  std::mt19937 rng(7);
  for (auto& c : body) c = static_cast<char>(rng());
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  ClientRequest request;
  request.method = "POST";
  request.target = "/blob";
  request.content_type = "application/octet-stream";
  request.body = body;
  auto response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body.size(), body.size());
  EXPECT_TRUE(response->body == body);
}

TEST(Net, Client_OverLimitUpload_Gets413NotATransportError) {
  HttpServerOptions options;
  options.max_body_bytes = 1 << 10;
  ServerThread st([](HttpRequest, std::shared_ptr<Exchange> exchange) {
    exchange->Respond(HttpResponse{});
  }, options);
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  ClientRequest request;
  request.method = "POST";
  request.target = "/blob";
  request.body = std::string(64 << 10, 'x');
  auto response = client.Send(request);
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 413);
  auto after = client.Send(Get("/x"));  // the server closed; the client reconnects
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->status, 200);
}

// A deterministic body of n bytes, different at every offset.
std::string Pattern(size_t n) {
  std::string body(n, '\0');
  std::mt19937 rng(11);
  for (auto& c : body) c = static_cast<char>(rng());
  return body;
}

// Serves `body` at any path, honouring "Range: bytes=N-" with a 206.
Handler RangeServing(const std::string& body, std::atomic<int>* ranged = nullptr) {
  return [&body, ranged](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    HttpResponse response;
    response.content_type = "application/octet-stream";
    const std::string& range = request.Header("range");
    if (range.rfind("bytes=", 0) == 0 && range.back() == '-') {
      size_t from = std::stoul(range.substr(6));
      if (ranged) (*ranged)++;
      response.status = 206;
      response.headers = {{"Content-Range", "bytes " + std::to_string(from) + "-" +
                                                std::to_string(body.size() - 1) + "/" +
                                                std::to_string(body.size())}};
      response.body = body.substr(from);
    } else {
      response.body = body;
    }
    exchange->Respond(std::move(response));
  };
}

TEST(Net, Client_Download_StreamsMultiMiBBodyInChunks) {
  const std::string body = Pattern((5 << 20) + 12345);
  ServerThread st(RangeServing(body));
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  std::string got;
  size_t chunks = 0, largest = 0;
  int heads = 0;
  auto result = client.Download(
      "/blob", 0,
      [&](std::string_view chunk) {
        chunks++;
        largest = std::max(largest, chunk.size());
        got.append(chunk);
        return OkStatus();
      },
      10s, [&](const DownloadHead& head) {
        heads++;
        EXPECT_EQ(head.status, 200);
        EXPECT_TRUE(got.empty());
        return OkStatus();
      });
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(heads, 1);
  EXPECT_EQ(result->status, 200);
  EXPECT_FALSE(result->partial);
  EXPECT_EQ(result->offset, 0u);
  EXPECT_EQ(result->received, body.size());
  ASSERT_TRUE(result->total_size.has_value());
  EXPECT_EQ(*result->total_size, body.size());
  EXPECT_EQ(result->content_type, "application/octet-stream");
  EXPECT_GE(chunks, 6u);            // never the whole body at once
  EXPECT_LE(largest, size_t{1} << 20);
  EXPECT_TRUE(got == body);
}

TEST(Net, Client_Download_RangeGets206FromOffset) {
  const std::string body = Pattern(3 << 20);
  std::atomic<int> ranged{0};
  ServerThread st(RangeServing(body, &ranged));
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  const uint64_t offset = (1 << 20) + 7;
  std::string got;
  auto result = client.Download("/blob", offset, [&](std::string_view chunk) {
    got.append(chunk);
    return OkStatus();
  }, 10s);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(ranged.load(), 1);
  EXPECT_EQ(result->status, 206);
  EXPECT_TRUE(result->partial);
  EXPECT_EQ(result->offset, offset);
  ASSERT_TRUE(result->total_size.has_value());
  EXPECT_EQ(*result->total_size, body.size());
  EXPECT_EQ(result->received, body.size() - offset);
  EXPECT_TRUE(got == body.substr(offset));
  // The same client goes on with an ordinary request.
  auto after = client.Send(Get("/x"));
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->body.size(), body.size());
}

TEST(Net, Client_Download_RangeIgnored_ReportsWholeBodyFromZero) {
  const std::string body = Pattern(100000);
  ServerThread st([&](HttpRequest, std::shared_ptr<Exchange> exchange) {
    HttpResponse response;
    response.body = body;
    exchange->Respond(std::move(response));
  });
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  bool restarted = false;
  std::string got = "stale";
  auto result = client.Download(
      "/blob", 500, [&](std::string_view chunk) {
        got.append(chunk);
        return OkStatus();
      },
      10s, [&](const DownloadHead& head) {
        if (!head.partial) {
          restarted = true;
          got.clear();
        }
        return OkStatus();
      });
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_TRUE(restarted);
  EXPECT_EQ(result->status, 200);
  EXPECT_FALSE(result->partial);
  EXPECT_EQ(result->offset, 0u);
  EXPECT_TRUE(got == body);
}

TEST(Net, Client_Download_ChunkedStreamAndErrorAnswer) {
  ServerThread st([](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    if (request.path == "/missing") {
      HttpResponse response;
      response.status = 404;
      response.body = R"({"error":{"code":"not_found","message":"no such blob"}})";
      return exchange->Respond(std::move(response));
    }
    exchange->BeginStream(200, "application/octet-stream");
    for (int i = 0; i < 40; ++i) exchange->Send(std::string(100000, static_cast<char>('a' + i % 26)));
    exchange->End();
  });
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  bool sank = false;
  auto missing = client.Download("/missing", 0, [&](std::string_view) {
    sank = true;
    return OkStatus();
  }, 10s);
  ASSERT_TRUE(missing.ok()) << missing.error().message;
  EXPECT_EQ(missing->status, 404);
  EXPECT_FALSE(sank);
  EXPECT_NE(missing->error_body.find("no such blob"), std::string::npos);

  uint64_t total = 0;
  auto streamed = client.Download("/stream", 0, [&](std::string_view chunk) {
    total += chunk.size();
    return OkStatus();
  }, 10s);
  ASSERT_TRUE(streamed.ok()) << streamed.error().message;
  EXPECT_EQ(streamed->status, 200);
  EXPECT_FALSE(streamed->content_length.has_value());
  EXPECT_EQ(total, 4000000u);
}

TEST(Net, Client_Download_SinkErrorStopsAndIsReturned) {
  const std::string body = Pattern(4 << 20);
  ServerThread st(RangeServing(body));
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  int calls = 0;
  auto result = client.Download("/blob", 0, [&](std::string_view) -> Status {
    if (++calls == 2) return Error(ErrorCode::kIo, "disk full");
    return OkStatus();
  }, 10s);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kIo);
  EXPECT_EQ(result.error().message, "disk full");
  EXPECT_EQ(calls, 2);
  auto after = client.Send(Get("/x"));  // a fresh connection after the abandoned body
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->body.size(), body.size());
}

TEST(Net, Client_Download_CompleteResponseKeepsConnection) {
  std::atomic<int> answered{0};
  ScriptedServer server([&](int, int fd) {
    while (ScriptedServer::ReadRequest(fd)) {
      answered++;  // before the answer: the client may check as soon as it has it
      ScriptedServer::Answer(fd, std::string(300000, 'z'));
    }
  });
  HttpClient client(Url{"127.0.0.1", server.port(), ""});
  for (int i = 0; i < 2; ++i) {
    uint64_t total = 0;
    auto result = client.Download("/blob", 0, [&](std::string_view chunk) {
      total += chunk.size();
      return OkStatus();
    }, 10s);
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(total, 300000u);
  }
  ASSERT_TRUE(client.Send(Get("/x")).ok());
  EXPECT_EQ(answered.load(), 3);
  EXPECT_EQ(server.connections(), 1);
}

TEST(Net, Client_Download_WrongContentRangeIsAnError) {
  ScriptedServer server([](int, int fd) {
    if (!ScriptedServer::ReadRequest(fd)) return;
    std::string text =
        "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-9/10\r\nContent-Length: 10\r\n\r\n0123456789";
    ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  });
  HttpClient client(Url{"127.0.0.1", server.port(), ""});
  auto result = client.Download("/blob", 5, [](std::string_view) { return OkStatus(); }, 10s);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.error().message.find("Content-Range"), std::string::npos);
}

TEST(Net, Client_Download_CutShort_SinkGotEveryByteBeforeTheError) {
  const std::string body = Pattern(3 << 20);
  const size_t sent = (1 << 20) + (1 << 19);
  ScriptedServer server([&](int, int fd) {
    if (!ScriptedServer::ReadRequest(fd)) return;
    std::string text = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                       body.substr(0, sent);
    ::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  });
  HttpClient client(Url{"127.0.0.1", server.port(), ""});
  std::string got;
  auto result = client.Download("/blob", 0, [&](std::string_view chunk) {
    got.append(chunk);
    return OkStatus();
  }, 10s);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(got.size(), sent);
  EXPECT_TRUE(got == body.substr(0, sent));
}

}  // namespace
}  // namespace lattice::net
