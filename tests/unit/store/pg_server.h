// A throwaway PostgreSQL server for the store tests: its own data directory in /tmp, a unix
// socket in that directory and 127.0.0.1 on a free port, trust authentication, fsync off (the
// data is thrown away; durability across power loss is PostgreSQL's, not under test here).
//
// When running as root the server runs as the `postgres` system user of the Debian package
// (PostgreSQL refuses to run as root). A watchdog process stops the server and removes the
// directory when the test process exits, however it exits (a failed assertion, a sanitizer
// abort, a kill -9), so no server outlives its test binary.
#pragma once

#include <sys/types.h>

#include <string>

namespace printrelay::testing {

class PgServer {
 public:
  // Starts the server. Throws std::runtime_error saying what failed (no initdb found, initdb or
  // pg_ctl output) when it cannot be started.
  PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;
  ~PgServer();  // stops the server and removes the directory

  // libpq conninfo of the `postgres` database as superuser over the unix socket.
  std::string conninfo() const;
  int port() const { return port_; }

 private:
  std::string dir_;
  std::string bin_dir_;
  int port_ = 0;
  pid_t watchdog_ = -1;
  int watchdog_pipe_ = -1;  // the write end; closing it (or exiting) tells the watchdog to clean up
};

}  // namespace printrelay::testing
