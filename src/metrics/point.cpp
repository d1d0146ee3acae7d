#include "metrics/point.h"

namespace lattice::metrics {

Status ValidateKey(std::string_view key) {
  if (key.empty()) return Error(ErrorCode::kInvalidArgument, "a metric key must not be empty");
  if (key.size() > kMaxKeyBytes)
    return Error(ErrorCode::kInvalidArgument, "metric key '" + std::string(key.substr(0, 40)) + "...' is " +
                                                  std::to_string(key.size()) + " bytes; the limit is " +
                                                  std::to_string(kMaxKeyBytes));
  size_t i = 0;
  while (i < key.size()) {
    auto c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c == 0x7f)
      return Error(ErrorCode::kInvalidArgument,
                   "metric key has a control character at byte " + std::to_string(i) + "; use printable text");
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > key.size())
      return Error(ErrorCode::kInvalidArgument, "metric key is not valid UTF-8 at byte " + std::to_string(i));
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(key[i + k]) >> 6) != 0x2)
        return Error(ErrorCode::kInvalidArgument, "metric key is not valid UTF-8 at byte " + std::to_string(i));
    i += len;
  }
  return OkStatus();
}

}  // namespace lattice::metrics
