#include "net/http_wire.h"

#include <gtest/gtest.h>

namespace lattice::net::wire {
namespace {

std::string Head(const HttpResponse& r, bool keep_alive = true, int version = 11) {
  std::string out;
  AppendResponseHead(out, r, keep_alive, version);
  return out;
}

TEST(Wire, ResponseHead_StatusServerTypeLengthInOrder) {
  HttpResponse r;
  r.body = "{}";
  EXPECT_EQ(Head(r),
            "HTTP/1.1 200 OK\r\nServer: lattice\r\nContent-Type: application/json\r\n"
            "Content-Length: 2\r\n\r\n");
}

TEST(Wire, ResponseHead_ConnectionCloseOrHttp10KeepAlive) {
  HttpResponse r;
  EXPECT_NE(Head(r, false).find("\r\nConnection: close\r\n"), std::string::npos);
  EXPECT_NE(Head(r, true, 10).find("\r\nConnection: keep-alive\r\n"), std::string::npos);
  EXPECT_EQ(Head(r, true, 11).find("Connection"), std::string::npos);
}

TEST(Wire, ResponseHead_FramingAndInjectedHeadersDropped) {
  HttpResponse r;
  r.headers = {{"Content-Length", "99"}, {"transfer-encoding", "chunked"},
               {"Connection", "upgrade"},  {"X-Bad", "v\r\nSet-Cookie: s=1"},
               {"Bad\r\nName", "v"},       {"X-Good", "yes"}};
  std::string head = Head(r);
  EXPECT_NE(head.find("\r\nContent-Length: 0\r\n"), std::string::npos);
  EXPECT_EQ(head.find("99"), std::string::npos);
  EXPECT_EQ(head.find("chunked"), std::string::npos);
  EXPECT_EQ(head.find("upgrade"), std::string::npos);
  EXPECT_EQ(head.find("Set-Cookie"), std::string::npos);
  EXPECT_EQ(head.find("Bad"), std::string::npos);
  EXPECT_NE(head.find("\r\nX-Good: yes\r\n"), std::string::npos);
}

TEST(Wire, ResponseHead_InterimOrBogusStatusBecomes500) {
  HttpResponse r;
  r.status = 101;
  EXPECT_EQ(Head(r).rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u);
  r.status = 7000;
  EXPECT_EQ(Head(r).rfind("HTTP/1.1 500 ", 0), 0u);
  r.status = 299;
  EXPECT_EQ(Head(r).rfind("HTTP/1.1 299 Unknown\r\n", 0), 0u);
}

TEST(Wire, NoContent_NoLengthAndNoBody) {
  HttpResponse r;
  r.status = 204;
  EXPECT_EQ(Head(r).find("Content-Length"), std::string::npos);
  EXPECT_TRUE(OmitsBody(204, false));
  EXPECT_TRUE(OmitsBody(304, false));
  EXPECT_TRUE(OmitsBody(200, true));
  EXPECT_FALSE(OmitsBody(200, false));
}

TEST(Wire, Chunks_HexLengthFramingAndEmptySkipped) {
  std::string out;
  AppendStreamHead(out, 200, "text/event-stream", true);
  EXPECT_NE(out.find("\r\nTransfer-Encoding: chunked\r\n\r\n"), std::string::npos);
  out.clear();
  AppendChunk(out, std::string(26, 'x'), true);
  AppendChunk(out, "", true);
  AppendLastChunk(out);
  EXPECT_EQ(out, "1a\r\n" + std::string(26, 'x') + "\r\n0\r\n\r\n");
  out.clear();
  AppendChunk(out, "raw", false);
  EXPECT_EQ(out, "raw");
}

TEST(Wire, ErrorResponse_JsonEscapedMessage) {
  HttpResponse r = ErrorResponse(400, "invalid_argument", "bad \"x\"\\\n");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body,
            R"({"error":{"code":"invalid_argument","message":"bad \"x\"\\\u000a"}})");
}

}  // namespace
}  // namespace lattice::net::wire
