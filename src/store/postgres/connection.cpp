#include "store/postgres/connection.h"

#include <cstdlib>
#include <cstring>
#include <stdexcept>

namespace printrelay::postgres {
namespace {

std::string trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Error result_error(PGconn* conn, PGresult* res, const std::string& sql) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  std::string message =
      "store: running " + sql + ": " + trimmed(res ? PQresultErrorMessage(res) : nullptr);
  if (message.back() == ' ') message += trimmed(PQerrorMessage(conn));
  if (state != nullptr && std::strncmp(state, "23", 2) == 0) return conflict(std::move(message));
  return unavailable(std::move(message));
}

// libpq prints server notices (e.g. "relation already exists, skipping") to stderr by default;
// the store has nothing to tell an operator about them.
void ignore_notice(void*, const char*) {}

}  // namespace

std::int64_t Rows::affected() const {
  const char* n = PQcmdTuples(res_);
  return (n == nullptr || *n == '\0') ? 0 : std::strtoll(n, nullptr, 10);
}

std::string Rows::text_at(int row, int col) const {
  if (is_null(row, col)) return {};
  return std::string(PQgetvalue(res_, row, col),
                     static_cast<std::size_t>(PQgetlength(res_, row, col)));
}

std::int64_t Rows::int_at(int row, int col) const {
  if (is_null(row, col)) return 0;
  return std::strtoll(PQgetvalue(res_, row, col), nullptr, 10);
}

std::optional<std::int64_t> Rows::opt_int_at(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return int_at(row, col);
}

bool Rows::bool_at(int row, int col) const {
  return !is_null(row, col) && PQgetvalue(res_, row, col)[0] == 't';
}

Connection::Connection(const std::string& conninfo) {
  conn_ = PQconnectdb(conninfo.c_str());
  if (conn_ == nullptr)
    throw std::runtime_error("cannot connect to PostgreSQL store: out of memory");
  if (PQstatus(conn_) != CONNECTION_OK) {
    std::string message =
        "cannot connect to PostgreSQL store " + describe() + ": " + trimmed(PQerrorMessage(conn_));
    PQfinish(conn_);
    conn_ = nullptr;
    throw std::runtime_error(message);
  }
  PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
}

Connection::~Connection() {
  if (conn_ != nullptr) PQfinish(conn_);
}

std::string Connection::describe() const {
  auto text = [](const char* s) { return std::string(s ? s : ""); };
  return "'" + text(PQhost(conn_)) + ":" + text(PQport(conn_)) + "/" + text(PQdb(conn_)) + "'";
}

Result<Rows> Connection::query(const std::string& sql, const std::vector<Param>& values) {
  if (PQstatus(conn_) != CONNECTION_OK) {
    if (in_transaction_) {
      return unavailable("store: PostgreSQL " + describe() + " connection lost in a transaction");
    }
    PQreset(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      return unavailable("store: PostgreSQL " + describe() +
                         " unreachable: " + trimmed(PQerrorMessage(conn_)));
    }
    PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
  }
  PGresult* res = nullptr;
  if (values.empty()) {
    // The simple protocol, which also runs scripts of several statements (migrations).
    res = PQexec(conn_, sql.c_str());
  } else {
    std::vector<const char*> raw;
    raw.reserve(values.size());
    for (const auto& v : values) raw.push_back(v ? v->c_str() : nullptr);
    res = PQexecParams(conn_, sql.c_str(), static_cast<int>(raw.size()), nullptr, raw.data(),
                       nullptr, nullptr, /*resultFormat=*/0);
  }
  const auto status = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    Error e = result_error(conn_, res, sql);
    PQclear(res);
    return e;
  }
  return Rows(res);
}

Status Connection::exec(const std::string& sql, const std::vector<Param>& values) {
  auto rows = query(sql, values);
  if (!rows) return rows.error();
  return ok_status();
}

Transaction::Transaction(Connection& c) : c_(c), begun_(c.exec("BEGIN")) {
  open_ = begun_.ok();
  c_.in_transaction_ = open_;
}

Transaction::~Transaction() {
  if (!open_) return;
  (void)c_.exec("ROLLBACK");
  c_.in_transaction_ = false;
}

Status Transaction::commit() {
  auto st = c_.exec("COMMIT");
  c_.in_transaction_ = false;
  // A failed COMMIT leaves nothing to roll back: the server has already ended the transaction.
  open_ = false;
  return st;
}

}  // namespace printrelay::postgres
