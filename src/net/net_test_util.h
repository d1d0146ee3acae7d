// Test helpers for the net layer: a server on its own thread, and raw POSIX
// sockets for speaking (bad) HTTP by hand. Included by *_test.cpp only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include <gtest/gtest.h>

#include "net/http_server.h"

namespace lattice::net::testing {

// Generous: only reached when something is broken, and it must not hang CI.
constexpr auto kWait = std::chrono::seconds(10);

template <typename T>
T Await(std::future<T>& f) {
  if (f.wait_for(kWait) != std::future_status::ready) {
    ADD_FAILURE() << "timed out waiting for a signal";
    std::abort();  // continuing would block forever on a future
  }
  return f.get();
}

// Runs a server on a thread; Stop()s and joins on destruction.
class ServerThread {
 public:
  explicit ServerThread(Handler handler, HttpServerOptions options = {}) {
    auto started = StartHttpServer(options, std::move(handler));
    if (!started.ok()) {
      ADD_FAILURE() << started.error().message;
      std::abort();
    }
    server_ = std::move(started).value();
    thread_ = std::thread([this] { server_->Run(); });
  }
  ~ServerThread() {
    server_->Stop();
    thread_.join();
  }
  HttpServer& server() { return *server_; }
  EventLoop& loop() { return server_->Loop(); }
  uint16_t port() const { return server_->BoundPort(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

 private:
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

// A blocking client socket with a read timeout, for hand-written requests.
class RawConn {
 public:
  explicit RawConn(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{static_cast<time_t>(kWait.count()), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawConn() { Close(); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  // Everything until the peer closes (or the read timeout).
  std::string ReadToEnd() {
    std::string out = std::move(buffered_);
    buffered_.clear();
    char buf[65536];
    for (;;) {
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return out;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  // One response framed by Content-Length (the server always sends it for
  // non-stream answers); "" if the connection ends first.
  std::string ReadResponse() {
    for (;;) {
      size_t end = buffered_.find("\r\n\r\n");
      if (end != std::string::npos) {
        size_t length = 0;
        size_t cl = buffered_.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) length = std::strtoul(&buffered_[cl + 16], nullptr, 10);
        size_t total = end + 4 + length;
        if (buffered_.size() >= total) {
          std::string out = buffered_.substr(0, total);
          buffered_.erase(0, total);
          return out;
        }
      }
      char buf[65536];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return "";
      buffered_.append(buf, static_cast<size_t>(n));
    }
  }
  // Reads until marker arrives; returns everything through the marker.
  std::string ReadUntil(std::string_view marker) {
    for (;;) {
      size_t at = buffered_.find(marker);
      if (at != std::string::npos) {
        std::string out = buffered_.substr(0, at + marker.size());
        buffered_.erase(0, at + marker.size());
        return out;
      }
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return "";
      buffered_.append(buf, static_cast<size_t>(n));
    }
  }
  // True once the server closed its side (reads EOF or a reset).
  bool PeerClosed() {
    char c;
    return ::recv(fd_, &c, 1, 0) <= 0;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  std::string buffered_;
};

}  // namespace lattice::net::testing
