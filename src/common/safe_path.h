// Checks and opens relative paths that came from elsewhere (an agent's
// artifact upload, a server's artifact listing) so that writing them under a
// destination directory can never escape it: no "..", no absolute paths, no
// following a symbolic link planted in the destination.
#pragma once

#include <sys/types.h>

#include <string_view>

#include "common/result.h"

namespace lattice {

inline constexpr size_t kMaxPathComponentBytes = 255;
inline constexpr size_t kMaxRelativePathBytes = 4096;

// Accepts a '/'-separated relative path of one or more non-empty components.
// Refuses (kInvalidArgument, with a message naming the problem): an empty
// path, a leading '/', a trailing '/', empty components ("a//b"), "." or ".."
// components, backslashes, NUL and other control characters (0x00-0x1f,
// 0x7f), invalid UTF-8, a component over 255 bytes, a path over 4096 bytes.
Status ValidateRelativePath(std::string_view path);

// True when text is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsValidUtf8(std::string_view text);

// Opens relative_path (validated first) under the directory dirfd without
// following any symbolic link and without leaving dirfd: openat2 with
// RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it, else a walk
// component by component with O_NOFOLLOW. With create_parents, missing
// parent directories are created (mode 0755). flags and mode are as for
// open(2); O_NOFOLLOW and O_CLOEXEC are always added. Returns the new
// descriptor, which the caller closes.
Result<int> OpenBeneath(int dirfd, std::string_view relative_path, int flags, mode_t mode,
                        bool create_parents);

}  // namespace lattice
