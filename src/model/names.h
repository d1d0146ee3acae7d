// Run names: given by the user (validated) or generated, memorable ones.
#pragma once

#include <random>
#include <string>

#include "common/result.h"

namespace lattice {

// Lowercase letters, digits and '-', starting with a letter, 1..63 chars,
// not ending with '-'. The error says which character is wrong and where.
Status ValidateRunName(const std::string& name);
// The same rules for other named things: kind ("cluster") and the field
// the error names.
Status ValidateName(const std::string& kind, const std::string& name, const std::string& field);

// "brave-otter-4821": adjective, animal, four digits.
std::string GenerateRunName(std::mt19937_64& rng);

}  // namespace lattice
