// A thin layer over one sqlite3 connection for the SQLite store: cached prepared statements,
// typed binding, and transactions that roll back unless committed. Not thread-safe by itself:
// SqliteStore holds its mutex around every use.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/result.h"

namespace printrelay::sqlite {

// Maps an SQLite result code to the store's error kinds: a violated constraint (duplicate key,
// foreign key) is a conflict; everything else (busy, I/O, disk full, corruption) is unavailable.
Error sqlite_error(sqlite3* db, int rc, const std::string& doing);

// A cached prepared statement borrowed for one use. Bindings are positional from 1; on
// destruction the statement is reset and its bindings cleared so the cache can hand it out again.
class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& o) noexcept : db_(o.db_), stmt_(o.stmt_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&&) = delete;
  ~Statement();

  Statement& bind(int index, std::int64_t v);
  Statement& bind(int index, int v) { return bind(index, static_cast<std::int64_t>(v)); }
  Statement& bind(int index, bool v) { return bind(index, static_cast<std::int64_t>(v ? 1 : 0)); }
  Statement& bind(int index, const std::string& v);
  Statement& bind(int index, const char* v) { return bind(index, std::string(v)); }
  Statement& bind(int index, const std::optional<std::int64_t>& v);
  Statement& bind(int index, const std::optional<std::string>& v);

  // Binds every argument in order, starting at index 1.
  template <typename... Args>
  Statement& bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
    return *this;
  }

  // Advances once: true when a row is available, false when the statement is done.
  Result<bool> step();
  // Runs a statement that returns no rows (INSERT/UPDATE/DELETE).
  Status run();

  std::int64_t int_at(int col) const;
  std::string text_at(int col) const;
  std::optional<std::int64_t> opt_int_at(int col) const;
  std::optional<std::string> opt_text_at(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

// Owns the sqlite3 handle and the statement cache.
class Connection {
 public:
  // Throws std::runtime_error naming the path when the file cannot be opened.
  explicit Connection(const std::string& path);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  sqlite3* handle() const { return db_; }

  // Runs one or more statements without results (pragmas, DDL, BEGIN/COMMIT).
  Status exec(const std::string& sql);
  // A prepared statement for `sql`, prepared once and then reused from the cache.
  Result<Statement> prepare(const std::string& sql);
  // Rows changed by the last INSERT/UPDATE/DELETE.
  int changes() const { return sqlite3_changes(db_); }
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

// BEGIN IMMEDIATE on construction (the write lock is taken up front, so a transaction never
// fails half-way on a lock upgrade); ROLLBACK on destruction unless commit() succeeded.
class Transaction {
 public:
  explicit Transaction(Connection& c);
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  // The result of BEGIN; check it before doing any work.
  const Status& begun() const { return begun_; }
  Status commit();

 private:
  Connection& c_;
  Status begun_;
  bool open_ = false;
};

}  // namespace printrelay::sqlite
