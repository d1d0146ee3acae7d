// The binary wire and spool format of metric points ("LTP1"): what the agent
// sends to the server as an HTTP body and keeps in its on-disk spool, which
// is shipped by byte offset.
//
// A stream is a sequence of frames. Each frame is
//   "LTP1"                       4 bytes of magic
//   uint32 LE payload length     the bytes that follow, <= kMaxFramePayload
//   payload:
//     uint32 LE series count
//     per series: uint16 LE key length, key bytes (a valid key, see point.h),
//                 uint32 LE point count,
//                 count x (int64 LE step, float64 LE time, float64 LE value)
// The payload is consumed exactly: a frame whose series do not fill it, or
// overflow it, is malformed. Values are stored bit for bit (NaN payloads too).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "metrics/point.h"

namespace lattice::metrics {

inline constexpr char kFrameMagic[4] = {'L', 'T', 'P', '1'};
inline constexpr size_t kFrameHeaderBytes = 8;              // magic + payload length
inline constexpr size_t kMaxFramePayload = 16u << 20;       // 16 MiB
inline constexpr size_t kPointRecordBytes = 24;             // step, time, value

// One frame holding every series of `batch` (in order). The caller keeps a
// frame under kMaxFramePayload (DecodeFrames refuses bigger ones); split a
// large batch over several frames.
std::string EncodeFrame(const std::vector<SeriesBatch>& batch);
void AppendFrame(const std::vector<SeriesBatch>& batch, std::string* out);

// Decodes every frame of `stream` and returns their series in stream order
// (series of different frames are not merged, even under the same key).
// Strict: a truncated frame, a wrong magic, inconsistent lengths, an invalid
// key or a frame over the limit is kInvalidArgument naming the byte offset
// in `stream` where the problem was found.
Result<std::vector<SeriesBatch>> DecodeFrames(std::string_view stream);

// The length of the longest prefix of `bytes` made of whole frames that is
// <= max_bytes; if even the first frame is longer than max_bytes but whole,
// its length (so a shipper always makes progress). Stops at the first frame
// that is incomplete, has a wrong magic or declares a payload over the limit
// (those bytes are left for DecodeFrames to report). 0 when no frame is whole.
size_t WholeFramesPrefix(std::string_view bytes, size_t max_bytes);

}  // namespace lattice::metrics
