#include "common/stop_signals.h"

#include <pthread.h>

namespace lattice {

StopSignals::StopSignals(std::function<void(int)> on_stop) {
  sigemptyset(&set_);
  sigaddset(&set_, SIGTERM);
  sigaddset(&set_, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  signal(SIGPIPE, SIG_IGN);
  thread_ = std::thread([this, on_stop = std::move(on_stop)] {
    int sig = 0;
    sigwait(&set_, &sig);
    if (!released_.exchange(true)) on_stop(sig);
  });
}

StopSignals::~StopSignals() {
  // If no signal came, wake the waiting thread with one it will ignore.
  if (!released_.exchange(true)) pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
}

}  // namespace lattice
