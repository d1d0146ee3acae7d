#include "snapshot/sha256.h"

#include <openssl/evp.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace lattice::snapshot {

namespace {

std::string Hex(const unsigned char* digest, unsigned int len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * len, '\0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

}  // namespace

// EVP calls fail only on allocation failure or a broken OpenSSL install;
// neither is recoverable, and a wrong digest would silently corrupt content
// addressing, so they abort.
std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) std::abort();
  return Hex(digest, len);
}

struct Sha256Stream::Ctx {
  EVP_MD_CTX* md = nullptr;
};

Sha256Stream::Sha256Stream() : ctx_(new Ctx) {
  ctx_->md = EVP_MD_CTX_new();
  if (!ctx_->md || EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) std::abort();
}

Sha256Stream::~Sha256Stream() {
  EVP_MD_CTX_free(ctx_->md);
  delete ctx_;
}

void Sha256Stream::Update(std::string_view data) {
  if (EVP_DigestUpdate(ctx_->md, data.data(), data.size()) != 1) std::abort();
  bytes_ += data.size();
}

Status Sha256Stream::UpdateFromFile(int fd, uint64_t length, const std::string& name) {
  std::string buf(static_cast<size_t>(std::min<uint64_t>(length, 1 << 20)), '\0');
  for (uint64_t done = 0; done < length;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), length - done));
    ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("reading " + name, errno);
    if (n == 0) return Error(ErrorCode::kFailedPrecondition, name + " shrank while it was read");
    Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    done += static_cast<uint64_t>(n);
  }
  return OkStatus();
}

void Sha256Stream::Reset() {
  if (EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr) != 1) std::abort();
  bytes_ = 0;
}

std::string Sha256Stream::FinishHex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx_->md, digest, &len) != 1) std::abort();
  Reset();
  return Hex(digest, len);
}

}  // namespace lattice::snapshot
