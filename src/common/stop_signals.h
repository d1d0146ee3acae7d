// SIGTERM and SIGINT, taken by one dedicated thread: construct this before
// starting any other thread (so they all inherit the blocked mask); on_stop
// runs once, on that thread, when a signal arrives. SIGPIPE is ignored, so a
// peer that hangs up is an error return, not a death.
#pragma once

#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

namespace lattice {

class StopSignals final {
 public:
  explicit StopSignals(std::function<void(int signal)> on_stop);
  // Releases the thread without calling on_stop if no signal came.
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  sigset_t set_;
  std::atomic<bool> released_{false};
  std::thread thread_;
};

}  // namespace lattice
