// Small file helpers returning Result; all errors name the path.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"

namespace lattice::fs {

Result<std::string> ReadFile(const std::filesystem::path& path);
// Writes to a temporary file in the same directory, fsyncs, renames over path.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data, int mode = 0644);
Status MakeDirs(const std::filesystem::path& path, int mode = 0755);
Status RemoveAll(const std::filesystem::path& path);
// Appends with one write loop; returns the file size after the append.
Result<uint64_t> AppendToFd(int fd, std::string_view data);
Status WriteAll(int fd, std::string_view data);

}  // namespace lattice::fs
