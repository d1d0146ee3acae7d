#include "model/attempt_reason.h"

namespace lattice {

std::string AttemptEndReason(AttemptState state, const std::optional<int>& exit_code, const std::string& detail) {
  const std::string code = exit_code ? "exited with code " + std::to_string(*exit_code) : "";
  switch (state) {
    case AttemptState::kStarting:
    case AttemptState::kRunning:
      return "";
    case AttemptState::kSucceeded:
      return "exited with code 0";
    case AttemptState::kFailed:
      if (detail.empty()) return code.empty() ? "failed" : code;
      // A detail that already says the code (a gang's "rank 1 on n2 exited
      // with code 3") need not say it twice.
      if (code.empty() || detail.find("exited with code") != std::string::npos) return detail;
      return detail + " (" + code + ")";
    case AttemptState::kCancelled:
      return "cancelled";
    case AttemptState::kLost:
      return detail.empty() ? "lost" : "lost: " + detail;
  }
  return "";
}

}  // namespace lattice
