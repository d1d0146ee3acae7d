// The single-threaded event loop that owns all server (or agent) state.
// Only the loop thread touches that state; other threads Post() to it.
// Implemented over Boost.Asio in http_server.cpp; this header stays Boost-free
// so the pure layers and the API service compile fast and test without sockets.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

namespace lattice::net {

// Returned by RunAfter; destroying or calling Cancel() stops a pending timer.
class TimerHandle {
 public:
  virtual ~TimerHandle() = default;
  virtual void Cancel() = 0;
};

class EventLoop {
 public:
  virtual ~EventLoop() = default;
  // Runs fn on the loop thread soon. Thread-safe.
  virtual void Post(std::function<void()> fn) = 0;
  // Runs fn on the loop thread after delay unless the handle is cancelled first.
  // Must be called on the loop thread.
  virtual std::unique_ptr<TimerHandle> RunAfter(std::chrono::milliseconds delay,
                                                std::function<void()> fn) = 0;
};

}  // namespace lattice::net
