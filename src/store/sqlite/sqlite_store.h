// The embedded SQLite Store: one database file, WAL journal, synchronous=FULL (a call returns
// only after its transaction is on disk), one connection serialized by a mutex.
//
// Only apps/ (which choose the store) and tests include this header; everything else uses
// store/store.h.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace printrelay {

// Opens (creating if needed) the database at `path` and applies pending migrations.
// ":memory:" gives a private in-memory database (no WAL, nothing survives; for tests).
// Throws std::runtime_error naming the path when the file cannot be opened or migrated, or when
// it was written by a newer printrelay: a startup error, not a data-path one.
std::unique_ptr<Store> open_sqlite_store(const std::string& path);

}  // namespace printrelay
