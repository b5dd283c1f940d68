// The PostgreSQL Store: for relays that share one database (several relay nodes behind a load
// balancer) or where operators already run PostgreSQL. Same contract and same conformance suite
// as the SQLite store.
//
// Only apps/ (which choose the store) and tests include this header; everything else uses
// store/store.h.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace printrelay {

// Connects with `conninfo` (libpq keyword/value string or URI, e.g.
// "host=/run/postgresql dbname=printrelay") and applies pending migrations under an advisory
// lock, so several relay nodes starting at once migrate the schema exactly once. Tables live in
// the connection's search_path (options='-c search_path=...' selects a schema).
// Throws std::runtime_error naming the server (never the password) when it cannot connect or
// migrate, or when the schema was written by a newer printrelay: a startup error.
std::unique_ptr<Store> open_postgres_store(const std::string& conninfo);

}  // namespace printrelay
