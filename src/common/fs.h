// Small file helpers returning Result; all errors name the path.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"

namespace lattice::fs {

Result<std::string> ReadFile(const std::filesystem::path& path);
// Up to max_bytes from offset on: fewer at the end of the file (or where a
// read fails part-way); an error only when the file cannot be opened.
Result<std::string> ReadRange(const std::filesystem::path& path, uint64_t offset, size_t max_bytes);
// Writes to a temporary file in the same directory, fsyncs, renames over path.
Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data, int mode = 0644);
Status MakeDirs(const std::filesystem::path& path, int mode = 0755);
Status RemoveAll(const std::filesystem::path& path);
// Appends with one write loop; returns the file size after the append.
Result<uint64_t> AppendToFd(int fd, std::string_view data);
Status WriteAll(int fd, std::string_view data);

// This program's path (/proc/self/exe); "lattice" if it cannot be read.
std::string SelfExe();

}  // namespace lattice::fs
