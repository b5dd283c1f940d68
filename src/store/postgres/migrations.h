// Versioned schema migrations of the PostgreSQL store, recorded in schema_migrations.
#pragma once

#include <string>
#include <vector>

#include "store/postgres/connection.h"

namespace printrelay::postgres {

struct Migration {
  int version;
  const char* sql;
};

// Every migration, in version order. Never edit a released one; append a new version.
const std::vector<Migration>& migrations();

// Applies the pending migrations, each in its own transaction, holding a session advisory lock
// for the whole run so that concurrent openers wait and then find nothing left to do. Returns the
// schema version. Throws std::runtime_error naming the server on failure, or when the schema is
// newer than this build knows.
int migrate(Connection& c);

}  // namespace printrelay::postgres
