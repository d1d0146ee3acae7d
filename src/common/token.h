// The shared secret that guards a server listening beyond loopback.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"

namespace lattice {

// Reads <home>/token, creating it (32 random bytes, hex, mode 0600) if absent.
Result<std::string> LoadOrCreateToken(const std::filesystem::path& home);
// Reads the token if present; "" otherwise. LATTICE_TOKEN overrides.
std::string ReadToken(const std::filesystem::path& home);

// The token in a file of its own (its first line); an empty file is an error.
Result<std::string> ReadTokenFile(const std::filesystem::path& path);

}  // namespace lattice
