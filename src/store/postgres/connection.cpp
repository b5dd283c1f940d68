#include "store/postgres/connection.h"

#include <poll.h>
#include <unistd.h>

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

Listener::Listener(std::string conninfo, std::string channel,
                   std::function<void(const std::string&)> on_payload)
    : conninfo_(std::move(conninfo)),
      channel_(std::move(channel)),
      on_payload_(std::move(on_payload)) {
  if (pipe(stop_pipe_) != 0) throw std::runtime_error("store: cannot create the listener's pipe");
  // The first LISTEN happens before the constructor returns, so that nothing committed after
  // it is missed.
  if (!listen()) {
    ::close(stop_pipe_[0]);
    ::close(stop_pipe_[1]);
    throw std::runtime_error("cannot LISTEN on PostgreSQL channel " + channel_);
  }
  thread_ = std::thread([this] { run(); });
}

Listener::~Listener() {
  stop_ = true;
  char b = 1;
  (void)!::write(stop_pipe_[1], &b, 1);
  thread_.join();
  if (conn_ != nullptr) PQfinish(conn_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

bool Listener::listen() {
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = PQconnectdb(conninfo_.c_str());
  if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_OK) {
    PQsetNoticeProcessor(conn_, ignore_notice, nullptr);
    char* quoted = PQescapeIdentifier(conn_, channel_.c_str(), channel_.size());
    if (quoted != nullptr) {
      PGresult* res = PQexec(conn_, ("LISTEN " + std::string(quoted)).c_str());
      PQfreemem(quoted);
      const bool ok = res != nullptr && PQresultStatus(res) == PGRES_COMMAND_OK;
      PQclear(res);
      if (ok) return true;
    }
  }
  if (conn_ != nullptr) PQfinish(conn_);
  conn_ = nullptr;
  return false;
}

void Listener::run() {
  while (!stop_) {
    deliver();
    // The connection broke: reconnect, then tell the receiver that it may have missed some.
    while (!stop_ && !listen()) {
      pollfd p{stop_pipe_[0], POLLIN, 0};
      ::poll(&p, 1, 1000);
    }
    if (!stop_) on_payload_("");
  }
}

void Listener::deliver() {
  while (!stop_) {
    pollfd fds[2] = {{PQsocket(conn_), POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (fds[0].fd < 0) return;
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if (stop_) return;
    if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK) return;
    while (PGnotify* n = PQnotifies(conn_)) {
      std::string payload = n->extra != nullptr ? n->extra : "";
      PQfreemem(n);
      on_payload_(payload);
    }
  }
}

}  // namespace printrelay::postgres
