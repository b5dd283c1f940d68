// Versioned schema of the SQLite store. Migrations only ever get appended: a released version's
// SQL never changes, so every database reaches the same schema by replaying the list.
#pragma once

#include <string>
#include <vector>

#include "store/sqlite/connection.h"

namespace printrelay::sqlite {

struct Migration {
  int version;
  std::string sql;
};

// All migrations, ascending by version, starting at 1.
const std::vector<Migration>& migrations();

// Creates schema_migrations(version, applied_at) if needed and applies every migration above the
// recorded version, each in its own transaction together with its schema_migrations row. Returns
// the latest applied version. Throws std::runtime_error when a migration fails or the database
// was written by a newer printrelay (a version this build does not know).
int migrate(Connection& c, const std::string& path);

}  // namespace printrelay::sqlite
