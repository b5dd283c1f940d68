#include "store/sqlite/connection.h"

#include <stdexcept>

namespace printrelay::sqlite {

Error sqlite_error(sqlite3* db, int rc, const std::string& doing) {
  std::string message = "store: " + doing + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return conflict(std::move(message));
  return unavailable(std::move(message));
}

Statement::~Statement() {
  if (stmt_ == nullptr) return;
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

// Bind failures are programming errors (index out of range) or out-of-memory, which the next
// step() reports as SQLITE_RANGE/SQLITE_NOMEM; so binding itself does not return a status.
Statement& Statement::bind(int index, std::int64_t v) {
  sqlite3_bind_int64(stmt_, index, v);
  return *this;
}

Statement& Statement::bind(int index, const std::string& v) {
  sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int index, const std::optional<std::int64_t>& v) {
  if (!v) {
    sqlite3_bind_null(stmt_, index);
    return *this;
  }
  return bind(index, *v);
}

Statement& Statement::bind(int index, const std::optional<std::string>& v) {
  if (!v) {
    sqlite3_bind_null(stmt_, index);
    return *this;
  }
  return bind(index, *v);
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqlite_error(db_, rc, std::string("running ") + sqlite3_sql(stmt_));
}

Status Statement::run() {
  auto r = step();
  if (!r) return r.error();
  return ok_status();
}

std::int64_t Statement::int_at(int col) const { return sqlite3_column_int64(stmt_, col); }

std::string Statement::text_at(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  if (p == nullptr) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)));
}

std::optional<std::int64_t> Statement::opt_int_at(int col) const {
  if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
  return int_at(col);
}

std::optional<std::string> Statement::opt_text_at(int col) const {
  if (sqlite3_column_type(stmt_, col) == SQLITE_NULL) return std::nullopt;
  return text_at(col);
}

Connection::Connection(const std::string& path) {
  // NOMUTEX: SqliteStore serializes all use of the connection with its own mutex.
  int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open store database '" + path + "': " + message);
  }
  sqlite3_extended_result_codes(db_, 1);
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

Status Connection::exec(const std::string& sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return ok_status();
  std::string message = err ? err : sqlite3_errstr(rc);
  sqlite3_free(err);
  Error e = sqlite_error(nullptr, rc, "");
  e.message = "store: " + message + " (in: " + sql.substr(0, 80) + ")";
  return e;
}

Result<Statement> Connection::prepare(const std::string& sql) {
  if (auto it = cache_.find(sql); it != cache_.end()) return Statement(db_, it->second);
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db_, rc, "preparing " + sql);
  cache_.emplace(sql, stmt);
  return Statement(db_, stmt);
}

Transaction::Transaction(Connection& c) : c_(c), begun_(c.exec("BEGIN IMMEDIATE")) {
  open_ = begun_.ok();
}

Transaction::~Transaction() {
  if (open_) c_.exec("ROLLBACK");
}

Status Transaction::commit() {
  auto st = c_.exec("COMMIT");
  if (!st) return st;  // the destructor rolls back what is left of the transaction
  open_ = false;
  return st;
}

}  // namespace printrelay::sqlite
