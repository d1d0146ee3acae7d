// The server over real sockets on 127.0.0.1: hand-written requests (RawConn)
// where the bytes matter, the HttpClient where they do not.
#include "net/http_server.h"

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/fs.h"
#include "common/test_util.h"
#include "net/http_client.h"
#include "net/net_test_util.h"

namespace lattice::net {
namespace {

using namespace std::chrono_literals;
using testing::Await;
using testing::RawConn;
using testing::ServerThread;
using lattice::testing::TempDir;

HttpResponse Body(std::string body, int status = 200) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

void Echo(HttpRequest request, std::shared_ptr<Exchange> exchange) {
  exchange->Respond(Body(request.body));
}

Result<HttpResponse> Get(HttpClient& client, const std::string& target) {
  ClientRequest request;
  request.target = target;
  request.timeout = 10s;
  return client.Send(request);
}

void ExpectServing(uint16_t port) {
  HttpClient client(Url{"127.0.0.1", port, ""});
  auto response = Get(client, "/still-serving");
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
}

std::string RequestText(const std::string& method, const std::string& target,
                        const std::string& extra_headers = "", const std::string& body = "") {
  std::string text = method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + extra_headers;
  if (!body.empty()) text += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return text + "\r\n" + body;
}

TEST(Net, Server_ImmediateAnswer_HandlerSeesDecodedRequestClientGetsHeaders) {
  std::promise<HttpRequest> seen;
  ServerThread st([&](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    HttpResponse r = Body(R"({"ok":true})");
    r.headers = {{"X-Extra", "1"}, {"X-Evil", "a\r\nSet-Cookie: x"}};
    exchange->Respond(std::move(r));
    seen.set_value(std::move(request));
  });
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send(RequestText("POST", "/runs/a%20b?x=1&y=t+w", "X-Custom: V\r\n", "hi")));
  std::string response = conn.ReadResponse();
  EXPECT_EQ(response.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << response;
  EXPECT_NE(response.find("\r\nServer: lattice\r\n"), std::string::npos);
  EXPECT_NE(response.find("\r\nContent-Type: application/json\r\n"), std::string::npos);
  EXPECT_NE(response.find("\r\nContent-Length: 11\r\n"), std::string::npos);
  EXPECT_NE(response.find("\r\nX-Extra: 1\r\n"), std::string::npos);
  EXPECT_EQ(response.find("Set-Cookie"), std::string::npos) << "header injection passed";
  EXPECT_EQ(response.substr(response.size() - 11), R"({"ok":true})");

  auto future = seen.get_future();
  HttpRequest request = Await(future);
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/runs/a%20b?x=1&y=t+w");
  EXPECT_EQ(request.path, "/runs/a b");
  EXPECT_EQ(request.query, (std::map<std::string, std::string>{{"x", "1"}, {"y", "t w"}}));
  EXPECT_EQ(request.Header("x-custom"), "V");
  EXPECT_EQ(request.body, "hi");
  EXPECT_EQ(request.peer.rfind("127.0.0.1:", 0), 0u) << request.peer;
}

TEST(Net, Server_KeepAlive_SecondRequestOnSameConnection) {
  ServerThread st([](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    exchange->Respond(Body(request.path));
  });
  RawConn conn(st.port());
  for (std::string path : {"/one", "/two"}) {
    ASSERT_TRUE(conn.Send(RequestText("GET", path)));
    std::string response = conn.ReadResponse();
    EXPECT_EQ(response.substr(response.size() - path.size()), path);
  }
}

TEST(Net, Server_BodyOverLimit_Answers413AndKeepsServingOthers) {
  HttpServerOptions options;
  options.max_body_bytes = 100;
  ServerThread st(Echo, options);
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send(RequestText("POST", "/x", "", std::string(1000, 'a'))));
  std::string response = conn.ReadToEnd();  // the server closes after answering
  EXPECT_EQ(response.rfind("HTTP/1.1 413 ", 0), 0u) << response;
  EXPECT_NE(response.find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_NE(response.find(R"({"error":{"code":"resource_exhausted","message":"request body of )"
                          R"(1000 bytes exceeds the limit of 100 bytes"}})"),
            std::string::npos)
      << response;
  ExpectServing(st.port());
}

TEST(Net, Server_ChunkedBodyOverLimit_Answers413) {
  HttpServerOptions options;
  options.max_body_bytes = 100;
  ServerThread st(Echo, options);
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send(RequestText("POST", "/x", "Transfer-Encoding: chunked\r\n") + "c8\r\n" +
                        std::string(200, 'b') + "\r\n0\r\n\r\n"));
  std::string response = conn.ReadToEnd();
  EXPECT_EQ(response.rfind("HTTP/1.1 413 ", 0), 0u) << response;
  EXPECT_NE(response.find("more than 100 bytes exceeds the limit of 100 bytes"), std::string::npos);
}

TEST(Net, Server_ChunkedBodyWithinLimit_Decoded) {
  ServerThread st(Echo);
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send(RequestText("POST", "/x", "Transfer-Encoding: chunked\r\n") +
                        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  std::string response = conn.ReadResponse();
  EXPECT_EQ(response.substr(response.size() - 11), "hello world") << response;
}

TEST(Net, Server_HeaderOverLimit_Answers431) {
  HttpServerOptions options;
  options.max_header_bytes = 512;
  ServerThread st(Echo, options);
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send(RequestText("GET", "/x", "X-Big: " + std::string(4000, 'h') + "\r\n")));
  std::string response = conn.ReadToEnd();
  EXPECT_EQ(response.rfind("HTTP/1.1 431 ", 0), 0u) << response;
  EXPECT_NE(response.find(R"("code":"resource_exhausted")"), std::string::npos);
  ExpectServing(st.port());
}

TEST(Net, Server_MalformedRequest_400_OthersUnaffected) {
  ServerThread st(Echo);
  HttpClient kept(Url{"127.0.0.1", st.port(), ""});
  ASSERT_TRUE(Get(kept, "/before").ok());
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send("THIS IS NOT HTTP\r\n\r\n"));
  std::string response = conn.ReadToEnd();
  EXPECT_EQ(response.rfind("HTTP/1.1 400 ", 0), 0u) << response;
  EXPECT_NE(response.find(R"({"error":{"code":"invalid_argument","message":"malformed HTTP)"),
            std::string::npos)
      << response;
  auto after = Get(kept, "/after");  // the kept connection was not disturbed
  ASSERT_TRUE(after.ok()) << after.error().message;
  EXPECT_EQ(after->status, 200);
}

TEST(Net, Server_GarbageAndHalfRequests_NeverCrash) {
  ServerThread st(Echo);
  std::string binary;
  for (int i = 0; i < 512; ++i) binary.push_back(static_cast<char>(i * 37));
  const std::vector<std::string> inputs = {
      binary,
      "GET / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
      "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "GET / HTTP/9.9\r\n\r\n",
      "GET /\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",  // then hang up mid-body
      "GET / HTTP/1.1\r\nHost: t\r\n",                   // hang up mid-header
  };
  for (const auto& input : inputs) {  // hang up at once, answer unread
    RawConn conn(st.port());
    ASSERT_TRUE(conn.Send(input));
  }
  for (const auto& input : inputs) {  // stop sending, read whatever comes
    RawConn conn(st.port());
    ASSERT_TRUE(conn.Send(input));
    conn.ShutdownWrite();
    std::string response = conn.ReadToEnd();  // 400, or nothing for a hang-up
    if (!response.empty()) {
      EXPECT_EQ(response.rfind("HTTP/1.1 400 ", 0), 0u) << response;
    }
  }
  ExpectServing(st.port());
}

TEST(Net, Server_MalformedPercentEscape_400AndConnectionKept) {
  std::atomic<int> calls{0};
  ServerThread st([&](HttpRequest, std::shared_ptr<Exchange> exchange) {
    calls++;
    exchange->Respond(Body("{}"));
  });
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send(RequestText("GET", "/a%zz")));
  std::string response = conn.ReadResponse();
  EXPECT_EQ(response.rfind("HTTP/1.1 400 ", 0), 0u) << response;
  ASSERT_TRUE(conn.Send(RequestText("GET", "/fine")));
  EXPECT_EQ(conn.ReadResponse().rfind("HTTP/1.1 200 ", 0), 0u);
  EXPECT_EQ(calls.load(), 1);
}

TEST(Net, Server_HeadRequest_LengthWithoutBody) {
  ServerThread st([](HttpRequest, std::shared_ptr<Exchange> exchange) {
    exchange->Respond(Body("hello"));
  });
  RawConn conn(st.port());
  // Pipelined: a body after the HEAD answer would corrupt the GET answer.
  ASSERT_TRUE(conn.Send(RequestText("HEAD", "/") + RequestText("GET", "/", "Connection: close\r\n")));
  std::string all = conn.ReadToEnd();
  size_t second = all.find("HTTP/1.1 200", 1);
  ASSERT_NE(second, std::string::npos) << all;
  EXPECT_EQ(all.substr(0, second).find("hello"), std::string::npos);
  EXPECT_NE(all.substr(0, second).find("Content-Length: 5\r\n"), std::string::npos);
  EXPECT_EQ(all.substr(all.size() - 5), "hello");
}

TEST(Net, Server_Http10WithoutKeepAlive_AnsweredThenClosed) {
  ServerThread st(Echo);
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send("GET / HTTP/1.0\r\n\r\n"));
  std::string all = conn.ReadToEnd();
  EXPECT_EQ(all.rfind("HTTP/1.1 200 ", 0), 0u) << all;
  EXPECT_NE(all.find("\r\nConnection: close\r\n"), std::string::npos);
}

TEST(Net, Server_ExpectContinue_InterimAnswerThenBody) {
  ServerThread st(Echo);
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send(RequestText("POST", "/x", "Expect: 100-continue\r\nContent-Length: 5\r\n")));
  EXPECT_EQ(conn.ReadUntil("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(conn.Send("hello"));
  std::string response = conn.ReadResponse();
  EXPECT_EQ(response.substr(response.size() - 5), "hello");
}

TEST(Net, Server_HandlerDropsExchangeUnanswered_500) {
  ServerThread st([](HttpRequest, std::shared_ptr<Exchange>) {});
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  auto response = Get(client, "/x");
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 500);
  EXPECT_NE(response->body.find(R"("code":"internal")"), std::string::npos);
}

TEST(Net, Server_HandlerThrows_500AndKeepsServing) {
  ServerThread st([](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    if (request.path == "/boom") throw std::runtime_error("boom");
    exchange->Respond(Body("{}"));
  });
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  auto boom = Get(client, "/boom");
  ASSERT_TRUE(boom.ok());
  EXPECT_EQ(boom->status, 500);
  auto fine = Get(client, "/fine");
  ASSERT_TRUE(fine.ok());
  EXPECT_EQ(fine->status, 200);
}

// Handlers that answer later reach the loop through this pointer, set before
// any request is sent.
struct LaterContext {
  std::atomic<EventLoop*> loop{nullptr};
  std::vector<std::unique_ptr<TimerHandle>> timers;  // loop thread only
};

TEST(Net, Server_LongPollAnsweredLater_ClientReceivesIt) {
  LaterContext ctx;  // outlives the server: timers die after it
  ServerThread st([&](HttpRequest, std::shared_ptr<Exchange> exchange) {
    ctx.timers.push_back(ctx.loop.load()->RunAfter(30ms, [exchange] {
      exchange->Respond(Body(R"({"late":true})"));
    }));
  });
  ctx.loop = &st.loop();
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  auto start = std::chrono::steady_clock::now();
  auto response = Get(client, "/poll");
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
  EXPECT_EQ(response->body, R"({"late":true})");
  auto again = Get(client, "/poll");  // and the connection stays usable
  ASSERT_TRUE(again.ok());
}

TEST(Net, Server_PipelinedRequestDuringLongPoll_AnsweredInOrder) {
  LaterContext ctx;
  ServerThread st([&](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    if (request.path == "/fast") return exchange->Respond(Body("fast"));
    ctx.timers.push_back(ctx.loop.load()->RunAfter(30ms, [exchange] {
      exchange->Respond(Body("slow"));
    }));
  });
  ctx.loop = &st.loop();
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send(RequestText("GET", "/slow") + RequestText("GET", "/fast")));
  std::string first = conn.ReadResponse();
  std::string second = conn.ReadResponse();
  EXPECT_EQ(first.substr(first.size() - 4), "slow") << first;
  EXPECT_EQ(second.substr(second.size() - 4), "fast") << second;
}

TEST(Net, Server_ClientDisconnectsDuringLongPoll_OnCloseFires) {
  std::shared_ptr<Exchange> kept;  // loop thread only; outlives the server
  std::promise<void> received;
  std::promise<bool> closed;  // carries Closed() as seen inside OnClose
  ServerThread st([&](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    if (request.path != "/poll") return exchange->Respond(Body("{}"));
    kept = exchange;
    exchange->OnClose([&] { closed.set_value(kept->Closed()); });
    received.set_value();
  });
  {
    RawConn conn(st.port());
    ASSERT_TRUE(conn.Send(RequestText("GET", "/poll")));
    auto got = received.get_future();
    Await(got);
  }  // hang up while the answer is owed
  auto fired = closed.get_future();
  EXPECT_TRUE(Await(fired));
  std::promise<void> late;
  st.loop().Post([&] {
    kept->Respond(Body("too late"));  // must be a harmless no-op
    kept.reset();
    late.set_value();
  });
  auto done = late.get_future();
  Await(done);
  ExpectServing(st.port());
}

TEST(Net, Server_Stream_ClientReceivesChunksInOrder) {
  LaterContext ctx;
  ServerThread st([&](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    if (request.path != "/events") return exchange->Respond(Body("{}"));
    exchange->BeginStream(200, "text/event-stream");
    for (int i = 1; i <= 5; ++i) {
      ctx.loop.load()->Post([exchange, i] { exchange->Send("data: " + std::to_string(i) + "\n\n"); });
    }
    ctx.loop.load()->Post([exchange] { exchange->End(); });
  });
  ctx.loop = &st.loop();
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  auto response = Get(client, "/events");
  ASSERT_TRUE(response.ok()) << response.error().message;
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->content_type, "text/event-stream");
  EXPECT_EQ(response->body, "data: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\ndata: 5\n\n");
  auto after = Get(client, "/plain");  // chunked framing left the connection usable
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->body, "{}");
}

TEST(Net, Server_Stream_ChunkReachesClientBeforeEnd) {
  std::shared_ptr<Exchange> kept;  // loop thread only
  ServerThread st([&](HttpRequest, std::shared_ptr<Exchange> exchange) {
    kept = exchange;
    exchange->BeginStream(200, "text/event-stream");
    exchange->Send("data: first\n\n");
  });
  RawConn conn(st.port());
  ASSERT_TRUE(conn.Send(RequestText("GET", "/events")));
  std::string head = conn.ReadUntil("data: first\n\n");
  EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  st.loop().Post([&] {
    kept->Send("data: second\n\n");
    kept->End();
    kept.reset();
  });
  EXPECT_EQ(conn.ReadUntil("0\r\n\r\n"), "\r\ne\r\ndata: second\n\n\r\n0\r\n\r\n");
}

TEST(Net, Server_ClientDisconnectsDuringStream_OnCloseFires) {
  std::shared_ptr<Exchange> kept;
  std::promise<void> closed;
  ServerThread st([&](HttpRequest, std::shared_ptr<Exchange> exchange) {
    kept = exchange;
    exchange->OnClose([&] { closed.set_value(); });
    exchange->BeginStream(200, "text/event-stream");
    exchange->Send("data: hello\n\n");
  });
  {
    RawConn conn(st.port());
    ASSERT_TRUE(conn.Send(RequestText("GET", "/events")));
    conn.ReadUntil("data: hello\n\n");
  }
  auto fired = closed.get_future();
  Await(fired);
  std::promise<void> done;
  st.loop().Post([&] {
    EXPECT_TRUE(kept->Closed());
    kept->Send("ignored");
    kept->End();
    kept.reset();
    done.set_value();
  });
  auto finished = done.get_future();
  Await(finished);
}

TEST(Net, Server_StopWithIdleConnectionAndPendingLongPoll_RunReturns) {
  std::shared_ptr<Exchange> kept;  // outlives the server: calls on it are no-ops
  std::promise<void> received;
  auto st = std::make_unique<ServerThread>([&](HttpRequest, std::shared_ptr<Exchange> exchange) {
    kept = exchange;
    received.set_value();
  });
  RawConn idle(st->port());
  RawConn polling(st->port());
  ASSERT_TRUE(polling.Send(RequestText("GET", "/poll")));
  auto got = received.get_future();
  Await(got);
  st.reset();  // Stop() from this thread, then join: must not hang
  EXPECT_TRUE(kept->Closed());
  kept->Respond(Body("after the server is gone"));
  EXPECT_TRUE(polling.PeerClosed());
}

TEST(Net, Loop_PostFromOtherThread_RunsOnLoopThread) {
  ServerThread st(Echo);
  std::promise<std::thread::id> ran;
  std::thread([&] { st.loop().Post([&] { ran.set_value(std::this_thread::get_id()); }); }).join();
  auto id = ran.get_future();
  EXPECT_NE(Await(id), std::this_thread::get_id());
}

TEST(Net, Loop_RunAfter_FiresAfterDelayAndHandleMayDieInCallback) {
  ServerThread st(Echo);
  std::unique_ptr<TimerHandle> handle;  // loop thread only
  std::promise<std::chrono::steady_clock::duration> fired;
  auto start = std::chrono::steady_clock::now();
  st.loop().Post([&] {
    handle = st.loop().RunAfter(20ms, [&] {
      handle.reset();  // destroying its own handle from inside the callback
      fired.set_value(std::chrono::steady_clock::now() - start);
    });
  });
  auto elapsed = fired.get_future();
  EXPECT_GE(Await(elapsed), 20ms);
}

TEST(Net, Loop_CancelledOrDestroyedTimer_NeverFires) {
  ServerThread st(Echo);
  std::atomic<int> fired{0};
  std::promise<void> checked;
  std::unique_ptr<TimerHandle> cancelled;
  std::unique_ptr<TimerHandle> keep;
  st.loop().Post([&] {
    cancelled = st.loop().RunAfter(10ms, [&] { fired++; });
    cancelled->Cancel();
    st.loop().RunAfter(10ms, [&] { fired++; });  // handle dropped at once
    keep = st.loop().RunAfter(50ms, [&] { checked.set_value(); });
  });
  auto done = checked.get_future();
  Await(done);
  EXPECT_EQ(fired.load(), 0);
  std::promise<void> reset;
  st.loop().Post([&] {
    cancelled.reset();  // long after its firing time: harmless
    keep.reset();       // after it fired: harmless
    reset.set_value();
  });
  auto reset_done = reset.get_future();
  Await(reset_done);
}

TEST(Net, Server_FileBody_SentInChunksWithRangeAndKeepAlive) {
  TempDir dir;
  std::string content(3 * 1024 * 1024 + 17, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>('a' + i % 23);
  auto path = dir.path() / "blob";
  ASSERT_TRUE(fs::WriteFileAtomic(path, content).ok());
  ServerThread st([&](HttpRequest request, std::shared_ptr<Exchange> exchange) {
    HttpResponse r;
    r.content_type = "application/octet-stream";
    uint64_t from = request.path == "/tail" ? 1000 : 0;
    r.file = FileBody{path.string(), from, content.size() - from};
    exchange->Respond(std::move(r));
  });
  HttpClient client(Url{"127.0.0.1", st.port(), ""});
  auto whole = Get(client, "/whole");
  ASSERT_TRUE(whole.ok()) << whole.error().message;
  EXPECT_EQ(whole->body, content);
  auto tail = Get(client, "/tail");  // the same keep-alive connection
  ASSERT_TRUE(tail.ok()) << tail.error().message;
  EXPECT_EQ(tail->body, content.substr(1000));
}

}  // namespace
}  // namespace lattice::net
