// SHA-256 for content addressing: a snapshot is stored and fetched by the
// hex digest of its archive bytes.
#pragma once

#include <string>
#include <string_view>

namespace lattice::snapshot {

// Lowercase hex SHA-256 of `data` (64 characters). Thread-safe.
std::string Sha256Hex(std::string_view data);

}  // namespace lattice::snapshot
