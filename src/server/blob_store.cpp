#include "server/blob_store.h"

#include "common/fs.h"
#include "snapshot/sha256.h"

namespace lattice {

Status BlobStore::Init() { return fs::MakeDirs(dir_ / "sha256"); }

bool BlobStore::ValidName(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::filesystem::path BlobStore::PathOf(const std::string& sha256) const {
  return dir_ / "sha256" / sha256;
}

bool BlobStore::Has(const std::string& sha256) const {
  std::error_code ec;
  return ValidName(sha256) && std::filesystem::exists(PathOf(sha256), ec);
}

Status BlobStore::Put(const std::string& sha256, std::string_view data) {
  if (!ValidName(sha256))
    return Error(ErrorCode::kInvalidArgument, "blob name must be a lowercase hex SHA-256", "sha256");
  std::string actual = snapshot::Sha256Hex(data);
  if (actual != sha256)
    return Error(ErrorCode::kInvalidArgument,
                 "blob content hashes to " + actual + ", not to its name " + sha256, "body");
  if (Has(sha256)) return OkStatus();
  return fs::WriteFileAtomic(PathOf(sha256), data, 0600);
}

Result<std::string> BlobStore::Get(const std::string& sha256) const {
  if (!ValidName(sha256))
    return Error(ErrorCode::kInvalidArgument, "blob name must be a lowercase hex SHA-256", "sha256");
  if (!Has(sha256)) return Error(ErrorCode::kNotFound, "no blob " + sha256);
  return fs::ReadFile(PathOf(sha256));
}

}  // namespace lattice
