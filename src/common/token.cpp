#include "common/token.h"

#include <openssl/rand.h>

#include <cstdlib>

#include "common/fs.h"

namespace lattice {

namespace {
std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}
}  // namespace

Result<std::string> LoadOrCreateToken(const std::filesystem::path& home) {
  auto path = home / "token";
  auto existing = fs::ReadFile(path);
  if (existing.ok() && !Trim(*existing).empty()) return Trim(*existing);
  unsigned char bytes[32];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Error(ErrorCode::kInternal, "cannot generate a random token");
  static const char* hex = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token.push_back(hex[b >> 4]);
    token.push_back(hex[b & 15]);
  }
  LATTICE_RETURN_IF_ERROR(fs::WriteFileAtomic(path, token + "\n", 0600));
  return token;
}

std::string ReadToken(const std::filesystem::path& home) {
  if (const char* t = std::getenv("LATTICE_TOKEN"); t && *t) return t;
  auto existing = fs::ReadFile(home / "token");
  return existing.ok() ? Trim(*existing) : std::string();
}

Result<std::string> ReadTokenFile(const std::filesystem::path& path) {
  LATTICE_ASSIGN_OR_RETURN(std::string text, fs::ReadFile(path));
  std::string token = Trim(text.substr(0, text.find('\n')));
  if (token.empty()) return Error(ErrorCode::kInvalidArgument, "the token file " + path.string() + " is empty");
  return token;
}

}  // namespace lattice
