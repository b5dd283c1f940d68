#include "pg_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace printrelay::testing {
namespace {

namespace fs = std::filesystem;

// The newest /usr/lib/postgresql/<version>/bin that has initdb and pg_ctl.
std::string find_bin_dir() {
  std::vector<std::pair<int, std::string>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    const fs::path bin = entry.path() / "bin";
    if (!fs::exists(bin / "initdb") || !fs::exists(bin / "pg_ctl")) continue;
    found.emplace_back(std::atoi(entry.path().filename().c_str()), bin.string());
  }
  if (found.empty()) {
    throw std::runtime_error(
        "no PostgreSQL server found under /usr/lib/postgresql/*/bin (initdb, pg_ctl); install "
        "the postgresql package (scripts/install-deps.sh) or set PRINTRELAY_PG_CONNINFO");
  }
  std::sort(found.begin(), found.end());
  return found.back().second;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("cannot open a socket to find a free port");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind 127.0.0.1:0 to find a free port");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs argv (as the `postgres` user when `as_postgres`), output appended to `log`. Returns the
// exit status (-1 when it could not run).
int run(std::vector<std::string> argv, bool as_postgres, const std::string& log) {
  if (as_postgres) argv.insert(argv.begin(), {"runuser", "-u", "postgres", "--"});
  pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Stops the server in `dir` (fast shutdown) and removes `dir`.
void tear_down(const std::string& bin_dir, const std::string& dir, bool as_postgres) {
  const std::string data = dir + "/data";
  if (fs::exists(data + "/postmaster.pid")) {
    run({bin_dir + "/pg_ctl", "stop", "-D", data, "-m", "fast", "-w", "-t", "10"}, as_postgres,
        "/dev/null");
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace

PgServer::PgServer() : bin_dir_(find_bin_dir()) {
  const bool as_postgres = ::geteuid() == 0;
  std::string tmpl = (fs::temp_directory_path() / "printrelay-pg-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    throw std::runtime_error("cannot create a temporary directory for PostgreSQL");
  }
  dir_ = tmpl;
  if (as_postgres) {
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr || ::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
      fs::remove_all(dir_);
      throw std::runtime_error(
          "running as root, and there is no `postgres` user to run the test server as (it comes "
          "with the postgresql package)");
    }
  }

  // The watchdog: a child that blocks on a pipe and tears the server down when the pipe reaches
  // EOF, i.e. when this process has closed it or died.
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("cannot create the watchdog pipe");
  watchdog_ = ::fork();
  if (watchdog_ == 0) {
    ::close(fds[1]);
    ::setsid();  // outside the test's process group: a ^C to the test must not kill the cleanup
    char c;
    while (::read(fds[0], &c, 1) != 0) {
      if (errno != EINTR) break;
    }
    tear_down(bin_dir_, dir_, as_postgres);
    ::_exit(0);
  }
  ::close(fds[0]);
  watchdog_pipe_ = fds[1];
  ::fcntl(watchdog_pipe_, F_SETFD, FD_CLOEXEC);  // server processes must not keep it open

  const std::string log = dir_ + "/setup.log";
  const std::string data = dir_ + "/data";
  if (as_postgres) {
    // The setup log is written by the child before exec, as root; the server log by postgres.
    std::ofstream(log).close();
  }
  auto fail = [&](const std::string& what) {
    std::string message = what + " (in " + dir_ + "):\n" + read_file(log);
    const std::string server_log = read_file(dir_ + "/server.log");
    if (!server_log.empty()) message += "\nserver log:\n" + server_log;
    return std::runtime_error(message);
  };
  if (run({bin_dir_ + "/initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
           "--no-sync", "--no-instructions"},
          as_postgres, log) != 0) {
    auto e = fail("initdb failed");
    ::close(watchdog_pipe_);
    throw e;
  }
  // Several binaries (ctest -j) may race for a port: try a few.
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    const std::string options = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) +
                                " -k " + dir_ +
                                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
                                " -c max_connections=40 -c shared_buffers=16MB";
    if (run({bin_dir_ + "/pg_ctl", "start", "-D", data, "-l", dir_ + "/server.log", "-w", "-t",
             "20", "-o", options},
            as_postgres, log) == 0) {
      return;
    }
  }
  auto e = fail("pg_ctl could not start the PostgreSQL test server");
  ::close(watchdog_pipe_);
  throw e;
}

PgServer::~PgServer() {
  ::close(watchdog_pipe_);
  int status = 0;
  while (::waitpid(watchdog_, &status, 0) < 0 && errno == EINTR) {
  }
}

std::string PgServer::conninfo() const {
  return "host=" + dir_ + " port=" + std::to_string(port_) + " user=postgres dbname=postgres";
}

}  // namespace printrelay::testing
