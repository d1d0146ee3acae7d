#include "snapshot/sha256.h"

#include <openssl/evp.h>

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
