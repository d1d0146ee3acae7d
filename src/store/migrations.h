// Versioned schema migrations. Append only: never edit a released migration,
// add a new one. Portable SQL (SQLite and PostgreSQL).
#pragma once

#include <vector>

namespace lattice {

struct Migration {
  const char* name;
  const char* sql;
};

const std::vector<Migration>& Migrations();

}  // namespace lattice
