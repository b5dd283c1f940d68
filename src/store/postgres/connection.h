// A thin layer over one libpq connection for the PostgreSQL store: parameterized queries (values
// always travel as parameters, never inside the SQL text), result rows with typed accessors, and
// transactions that roll back unless committed. Not thread-safe by itself: PostgresStore holds
// its mutex around every use.
#pragma once

#include <libpq-fe.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/result.h"

namespace printrelay::postgres {

// One query parameter in libpq's text format; nullopt is SQL NULL.
using Param = std::optional<std::string>;

inline Param param(const std::string& v) { return v; }
inline Param param(const char* v) { return std::string(v); }
inline Param param(std::int64_t v) { return std::to_string(v); }
inline Param param(int v) { return std::to_string(v); }
inline Param param(bool v) { return std::string(v ? "true" : "false"); }
inline Param param(const std::optional<std::int64_t>& v) {
  if (!v) return std::nullopt;
  return std::to_string(*v);
}

template <typename... Args>
std::vector<Param> params(const Args&... args) {
  return {param(args)...};
}

// The rows of one successful query. Owns the PGresult.
class Rows {
 public:
  explicit Rows(PGresult* res) : res_(res) {}
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;
  Rows(Rows&& o) noexcept : res_(o.res_) { o.res_ = nullptr; }
  Rows& operator=(Rows&&) = delete;
  ~Rows() { PQclear(res_); }

  int size() const { return PQntuples(res_); }
  bool empty() const { return size() == 0; }
  // Rows changed by an INSERT/UPDATE/DELETE.
  std::int64_t affected() const;

  bool is_null(int row, int col) const { return PQgetisnull(res_, row, col) != 0; }
  std::string text_at(int row, int col) const;
  std::int64_t int_at(int row, int col) const;  // 0 for NULL
  std::optional<std::int64_t> opt_int_at(int row, int col) const;
  bool bool_at(int row, int col) const;  // PostgreSQL's text form of boolean is "t" / "f"

 private:
  PGresult* res_;
};

// Owns the PGconn.
class Connection {
 public:
  // Connects with `conninfo` (a libpq keyword/value string or URI). Throws std::runtime_error
  // naming the server (never the password) when the connection fails.
  explicit Connection(const std::string& conninfo);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // "host:port/dbname", for messages.
  std::string describe() const;

  // Runs a parameterized statement (PQexecParams); without values, PQexec, which also runs a
  // script of several statements. Values are never spliced into `sql`. A violated constraint (class
  // 23: unique, foreign key, check) is a conflict; every other failure (lost connection, server
  // down, disk full) is unavailable. A connection found broken is reset once before the statement
  // is sent, so a restarted server is picked up by the next call.
  Result<Rows> query(const std::string& sql, const std::vector<Param>& values = {});
  Status exec(const std::string& sql, const std::vector<Param>& values = {});

 private:
  friend class Transaction;
  PGconn* conn_ = nullptr;
  // Inside a transaction a broken connection is not reset: the rest of the transaction would run
  // in autocommit on the new session. The call fails instead and the transaction is gone.
  bool in_transaction_ = false;
};

// BEGIN on construction; ROLLBACK on destruction unless commit() succeeded.
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

// LISTENs on one channel with a connection of its own, on a thread of its own, and hands every
// notification's payload to `on_payload` (on that thread). When the connection is lost it
// reconnects (every second until the server answers) and then calls `on_payload("")`: whatever
// was notified meanwhile is lost, so the receiver must re-read. Destruction stops and joins.
class Listener {
 public:
  Listener(std::string conninfo, std::string channel,
           std::function<void(const std::string&)> on_payload);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener();

 private:
  void run();
  // Connects and LISTENs; false (and the connection closed) on failure.
  bool listen();
  // Waits on the socket (or the stop pipe) and delivers notifications until the connection
  // breaks or stop is asked.
  void deliver();

  std::string conninfo_;
  std::string channel_;
  std::function<void(const std::string&)> on_payload_;
  PGconn* conn_ = nullptr;
  int stop_pipe_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace printrelay::postgres
