// Helpers shared by the unit tests of the layers (header only, so no layer
// library carries test code): a temporary directory removed on destruction,
// and where the tests find the project venv and the local test wheels.
#pragma once

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <system_error>

namespace lattice::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir final {
 public:
  TempDir() {
    const char* base = ::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/lattice-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl.data());
    path_ = made ? std::filesystem::path(made) : std::filesystem::path();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    // Restore permissions a test may have removed, so removal can recurse.
    for (auto it = std::filesystem::recursive_directory_iterator(path_, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
      if (!it->is_symlink(ec)) ::chmod(it->path().c_str(), 0755);
    }
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& rel) const { return path_ / rel; }

 private:
  std::filesystem::path path_;
};

// The wheels of tests/wheels/requirements.txt, which scripts/install-deps.sh
// downloads: $LATTICE_TEST_WHEELS, else ~/.cache/lattice/test-wheels.
inline std::filesystem::path TestWheelsDir() {
  if (const char* dir = ::getenv("LATTICE_TEST_WHEELS"); dir && *dir) return dir;
  const char* home = ::getenv("HOME");
  return std::filesystem::path(home && *home ? home : "/") / ".cache" / "lattice" / "test-wheels";
}

// <repo>/.venv/bin/<name> of the checkout the test binary was built in
// (found above the binary, as the agent finds the venv), or empty.
inline std::filesystem::path ProjectVenvBin(const std::string& name) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path(); dir = dir.parent_path()) {
    const auto bin = dir / ".venv" / "bin" / name;
    if (::access(bin.c_str(), X_OK) == 0) return bin;
  }
  return {};
}

// n pseudo-random bytes, the same for the same seed (incompressible test data).
inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

}  // namespace lattice::testing
