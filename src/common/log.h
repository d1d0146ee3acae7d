// The one logger: leveled lines to stderr with a UTC timestamp and component.
// Thread-safe (one write(2) per line). User process output never goes here.
#pragma once

#include <sstream>
#include <string>

namespace lattice::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void SetLevel(Level level);
bool Enabled(Level level);
void Write(Level level, const char* component, const std::string& message);

}  // namespace lattice::log

#define LATTICE_LOG(level, component, expr)                                  \
  do {                                                                      \
    if (::lattice::log::Enabled(::lattice::log::Level::level)) {            \
      std::ostringstream lattice_log_os_;                                   \
      lattice_log_os_ << expr;                                              \
      ::lattice::log::Write(::lattice::log::Level::level, component,        \
                            lattice_log_os_.str());                         \
    }                                                                       \
  } while (0)
#define LOG_INFO(component, expr) LATTICE_LOG(kInfo, component, expr)
#define LOG_WARN(component, expr) LATTICE_LOG(kWarn, component, expr)
#define LOG_ERROR(component, expr) LATTICE_LOG(kError, component, expr)
#define LOG_DEBUG(component, expr) LATTICE_LOG(kDebug, component, expr)
