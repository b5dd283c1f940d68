// relayd: the relay. `relayd init` prepares a data directory (CA, server certificate, first admin
// credential, store); `relayd run` serves the device, admin and event APIs from it.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "clock/wall_clock.h"
#include "core/address_policy.h"
#include "core/codec.h"
#include "core/poll_schedule.h"
#include "net/tls.h"
#include "relay/live_feed.h"
#include "relay/relay.h"
#include "relay/relay_node.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace fs = std::filesystem;
using namespace printrelay;

namespace {

// Created with its final mode: a secret is never readable by others, not even for a moment.
void write_private(const fs::path& p, const std::string& content) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const bool ok = fd >= 0 && ::fchmod(fd, 0600) == 0 &&
                  ::write(fd, content.data(), content.size()) == ssize_t(content.size());
  if (fd >= 0) ::close(fd);
  if (!ok) throw std::runtime_error("cannot write " + p.string());
}

// The store a relay runs on: the embedded SQLite file in the data directory, or a PostgreSQL
// database shared by several relay nodes.
struct StoreChoice {
  std::unique_ptr<Store> store;
  std::string name;   // "sqlite" | "postgres"
  std::string where;  // file path, or the conninfo with any password removed
};

std::string without_password(const std::string& conninfo) {
  auto p = conninfo.find("password=");
  if (p == std::string::npos) return conninfo;
  auto e = conninfo.find(' ', p);
  return conninfo.substr(0, p) + "password=***" +
         (e == std::string::npos ? "" : conninfo.substr(e));
}

StoreChoice open_store(const fs::path& dir, const std::string& postgres) {
  if (!postgres.empty()) {
    return {open_postgres_store(postgres), "postgres", without_password(postgres)};
  }
  return {open_sqlite_store((dir / "relayd.db").string()), "sqlite", (dir / "relayd.db").string()};
}

struct InitOptions {
  std::string data_dir = "var/relay";
  std::vector<std::string> hosts{"localhost", "127.0.0.1"};
  int port = 8443;
  std::string admin_name = "admin";
  bool force = false;
  bool plain_http = false;
  std::string postgres;
};

int run_init(const InitOptions& o) {
  fs::path dir = fs::absolute(o.data_dir);
  if (fs::exists(dir / "admin.token") && !o.force) {
    std::cerr << "relayd init: " << dir << " is already initialised (use --force to start over)\n";
    return 1;
  }
  if (o.force) {
    fs::remove(dir / "relayd.db");
    fs::remove(dir / "relayd.db-wal");
    fs::remove(dir / "relayd.db-shm");
  }
  fs::create_directories(dir / "tls");
  write_quickstart_pki((dir / "tls").string(), o.hosts);
  auto chosen = open_store(dir, o.postgres);
  auto& store = chosen.store;
  LiveFeed feed;
  Relay relay(*store, RelayOptions{}, feed);
  auto token = relay.create_admin_credential(o.admin_name, Role::kAdmin, wall_clock_ms());
  if (!token) {
    std::cerr << "relayd init: cannot create admin credential: " << token.error().message << "\n";
    return 1;
  }
  write_private(dir / "admin.token", *token + "\n");
  std::string scheme = o.plain_http ? "http" : "https";
  Json cfg = {{"url", scheme + "://" + o.hosts.front() + ":" + std::to_string(o.port)},
              {"token", *token},
              {"ca", (dir / "tls" / "ca.pem").string()}};
  write_private(dir / "relayctl.json", cfg.dump(2) + "\n");
  std::cout << "relayd init: data directory " << dir.string() << "\n"
            << "  CA certificate      " << (dir / "tls/ca.pem").string()
            << "  (give this to devices and relayctl)\n"
            << "  server certificate  " << (dir / "tls/server.pem").string() << "  for";
  for (const auto& h : o.hosts) std::cout << " " << h;
  std::cout << "\n  store               " << chosen.where << " (" << chosen.name << ", schema "
            << store->schema_version() << ")\n"
            << "  admin credential    '" << o.admin_name << "' in "
            << (dir / "admin.token").string() << "\n"
            << "  relayctl config     " << (dir / "relayctl.json").string()
            << "  (export PRINTRELAY_CONFIG=" << (dir / "relayctl.json").string() << ")\n";
  return 0;
}

// `relayd run`'s flags: most go straight into the node's options (and take their defaults from
// there); these are the ones that need reading or converting first.
struct RunFlags {
  RunFlags() { node.monitoring.smtp.from = "printrelay <printrelay@localhost>"; }
  RelayNodeOptions node;
  std::string data_dir = "var/relay";
  std::string listen = "127.0.0.1:8443";
  std::string metrics_listen;  // HOST:PORT of a plain listener serving /metrics only
  std::string postgres;
  double job_retention_h = 24;
  bool no_long_poll = false;
  int max_artifact_mb = 512;
  std::string upstream_token_file;
  bool no_upstream_long_poll = false;
  std::vector<std::string> trust_keys;  // files
  std::string smtp_password_file;
  std::string webhook_secret_file;
  double notify_retry_s = 30;
  std::vector<std::string> notify_allow;  // CIDR ranges; an item may hold several, comma-separated
  std::vector<std::string> notify_deny;
};

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + path);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// A secret from a file: its first line (a trailing newline is not part of it).
std::string read_secret(const std::string& path) {
  std::string s = read_file(path);
  if (auto nl = s.find_first_of("\r\n"); nl != std::string::npos) s.resize(nl);
  return s;
}

// A relay-update installs builds under DATA_DIR/bin and points DATA_DIR/bin/current at the one
// that serves; a relayd started from anywhere else runs that build instead, so a restart (by
// hand or by the service manager) keeps the update.
void run_installed_build(const fs::path& dir, const std::vector<std::string>& argv) {
  const fs::path current = dir / "bin" / "current";
  if (std::getenv("PRINTRELAY_NO_REEXEC") != nullptr || !fs::exists(current)) return;
  std::error_code ec;
  const auto target = fs::canonical(current, ec);
  const auto self = fs::canonical("/proc/self/exe", ec);
  if (ec || target == self) return;
  std::vector<std::string> args = argv;
  args[0] = target.string();
  std::vector<char*> raw;
  for (auto& a : args) raw.push_back(a.data());
  raw.push_back(nullptr);
  std::cout << "relayd: running the installed build " << target.string() << std::endl;
  execv(target.c_str(), raw.data());
  std::cerr << "relayd: cannot run the installed build " << target.string() << ": "
            << std::strerror(errno) << "; running this one" << std::endl;
}

// The build this process runs: the artifact it was installed from, or "dev".
std::string build_id() {
  std::error_code ec;
  const auto self = fs::canonical("/proc/self/exe", ec).filename().string();
  return self.rfind("relayd-", 0) == 0 ? self.substr(7) : "dev";
}

std::string read_token_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read the upstream credential file " + path);
  std::string token;
  std::getline(f, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.empty()) throw std::runtime_error("the upstream credential file " + path + " is empty");
  return token;
}

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "::1" || host == "localhost" || host.rfind("127.", 0) == 0;
}

// "HOST:PORT" → host and port; false when it is not that shape.
bool split_host_port(const std::string& text, std::string& host, int& port) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  char* end = nullptr;
  const long p = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (end == text.c_str() + colon + 1 || *end != '\0' || p < 0 || p > 65535) return false;
  port = int(p);
  return true;
}

int run_serve(RunFlags& f) {
  fs::path dir = fs::absolute(f.data_dir);
  run_installed_build(dir, f.node.argv);
  RelayNodeOptions& o = f.node;
  o.data_dir = dir.string();
  int port = 0;
  if (!split_host_port(f.listen, o.listen_host, port)) {
    std::cerr << "relayd: --listen must be HOST:PORT, got '" << f.listen << "'\n";
    return 2;
  }
  o.listen_port = static_cast<unsigned short>(port);
  if (o.plain_http && !is_loopback(o.listen_host)) {
    std::cerr << "relayd: --plain-http is only allowed on a loopback address, not " << o.listen_host
              << "\n";
    return 2;
  }
  if (!f.metrics_listen.empty()) {
    if (!split_host_port(f.metrics_listen, o.metrics_host, port)) {
      std::cerr << "relayd: --metrics-listen must be HOST:PORT, got '" << f.metrics_listen << "'\n";
      return 2;
    }
    o.metrics_port = static_cast<unsigned short>(port);
  }
  if (!o.upstream_urls.empty() && f.upstream_token_file.empty()) {
    std::cerr << "relayd: --upstream needs --upstream-token-file (make one with `relayctl relays "
                 "add ID` on the parent)\n";
    return 2;
  }
  PollPolicy times_only;  // only the times of day are checked here (the interval may be < 5 s)
  times_only.times_of_day = o.sync_at;
  if (auto p = parse_poll_policy(to_json(times_only)); !p) {
    std::cerr << "relayd: bad --sync-at: " << p.error().message << "\n";
    return 2;
  }
  auto notify_allow = parse_address_ranges(f.notify_allow);
  if (!notify_allow) {
    std::cerr << "relayd: bad --notify-allow: " << notify_allow.error().message << "\n";
    return 2;
  }
  auto notify_deny = parse_address_ranges(f.notify_deny);
  if (!notify_deny) {
    std::cerr << "relayd: bad --notify-deny: " << notify_deny.error().message << "\n";
    return 2;
  }
  if (f.postgres.empty() && !fs::exists(dir / "relayd.db")) {
    std::cerr << "relayd: no store in " << dir << "; run `relayd init --data-dir " << f.data_dir
              << "` first\n";
    return 1;
  }
  o.version = PRINTRELAY_VERSION;
  o.build = build_id();
  o.job_retention_ms = TimeMs(f.job_retention_h * 3600 * 1000);
  o.offer_long_poll = !f.no_long_poll;
  o.max_artifact_bytes = std::size_t(f.max_artifact_mb) << 20;
  o.upstream_long_poll = !f.no_upstream_long_poll;
  if (!o.upstream_urls.empty()) o.upstream_token = read_token_file(f.upstream_token_file);
  for (const auto& k : f.trust_keys) o.trusted_update_keys.push_back(read_file(k));
  auto& mo = o.monitoring;
  if (!f.smtp_password_file.empty()) mo.smtp.password = read_secret(f.smtp_password_file);
  if (!f.webhook_secret_file.empty()) mo.webhook.secret = read_secret(f.webhook_secret_file);
  mo.retry_base_ms = TimeMs(f.notify_retry_s * 1000);
  mo.smtp.target_policy = mo.webhook.target_policy = {*notify_allow, *notify_deny};
  if (const char* web = std::getenv("PRINTRELAY_WEB_DIR"); web != nullptr && *web != '\0')
    o.web_dir = web;  // dashboard development: serve web/ from disk

  auto chosen = open_store(dir, f.postgres);
  RelayNode node(*chosen.store, chosen.name, chosen.where, o);
  if (auto started = node.start(); !started) {
    std::cerr << "relayd: " << started.error().message << std::endl;
    return 1;
  }
  std::istringstream lines(node.describe());
  for (std::string line; std::getline(lines, line);) std::cout << "relayd: " << line << "\n";
  std::cout << std::flush;
  node.run();
  std::cout << "relayd: stopped" << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The store, its WAL, spooled uploads and secrets are the relay's alone (docs/security.md).
  ::umask(077);
  signal(SIGPIPE, SIG_IGN);
  CLI::App app{"relayd: the printrelay relay"};
  app.require_subcommand(1);
  InitOptions io;
  auto* init = app.add_subcommand(
      "init", "create a data directory: CA, server certificate, store, first admin credential");
  init->add_option("--data-dir", io.data_dir, "data directory")->capture_default_str();
  init->add_option(
          "--host", io.hosts,
          "names/addresses the server certificate covers (first one goes into relayctl.json)")
      ->capture_default_str();
  init->add_option("--port", io.port, "port written into relayctl.json")->capture_default_str();
  init->add_option("--admin-name", io.admin_name, "name of the first admin credential")
      ->capture_default_str();
  init->add_flag("--force", io.force,
                 "start over: new certificates, new store, new admin credential");
  init->add_flag("--plain-http", io.plain_http,
                 "write an http:// URL into relayctl.json (loopback tests)");
  init->add_option("--postgres", io.postgres,
                   "use this PostgreSQL database (libpq conninfo) instead of DATA_DIR/relayd.db");
  RunFlags ro;
  auto* run = app.add_subcommand("run", "serve the relay");
  run->add_option("--data-dir", ro.data_dir, "data directory made by relayd init")
      ->capture_default_str();
  run->add_option("--listen", ro.listen, "HOST:PORT to listen on")->capture_default_str();
  run->add_flag("--plain-http", ro.node.plain_http, "serve plain HTTP (loopback only)");
  run->add_option("--postgres", ro.postgres,
                  "use this PostgreSQL database (libpq conninfo, shared by relay nodes) instead of "
                  "DATA_DIR/relayd.db");
  run->add_option("--cert", ro.node.cert_file,
                  "server certificate chain (PEM); default DATA_DIR/tls/server.pem");
  run->add_option("--key", ro.node.key_file, "server key (PEM); default DATA_DIR/tls/server.key");
  run->add_option("--relay-id", ro.node.relay_id, "this relay's id (the job list's managing relay)")
      ->capture_default_str();
  run->add_option("--threads", ro.node.threads, "I/O threads (0 = one per core)")
      ->capture_default_str();
  run->add_option("--job-retention-h", ro.job_retention_h,
                  "hours a finished job stays in the default job list")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 24.0 * 365));
  run->add_option("--poll-interval-s", ro.node.poll_interval_s, "default device poll interval")
      ->capture_default_str()
      ->check(CLI::Range(5, 7 * 86400));
  run->add_flag("--no-long-poll", ro.no_long_poll, "do not hold polls open");
  run->add_option("--device-rate", ro.node.device_rate_per_s,
                  "requests per second per device credential (0 = unlimited)")
      ->capture_default_str();
  run->add_option("--max-bulk-inflight", ro.node.max_bulk_inflight,
                  "concurrent bulk uploads before 429")
      ->capture_default_str();
  run->add_option("--max-long-polls", ro.node.max_long_polls,
                  "polls held open at once; more are answered at once")
      ->capture_default_str();
  run->add_option("--retry-after-s", ro.node.retry_after_s,
                  "base Retry-After handed out with 429 (each answer adds up to as much again)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  run->add_option(
         "--max-connections", ro.node.max_connections,
         "connections open at once; more are closed at once (0 = from the open-file limit)")
      ->capture_default_str();
  run->add_option("--header-timeout-s", ro.node.header_timeout_s,
                  "seconds a client has to send a request header (and the TLS handshake)")
      ->capture_default_str()
      ->check(CLI::Range(1, 120));
  run->add_option("--max-event-streams", ro.node.max_event_streams,
                  "event streams (GET /v1/events) one admin credential may hold at once (one more "
                  "closes its oldest)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  run->add_flag("--metrics-open", ro.node.metrics_open,
                "serve /metrics on the API listener without a credential (default: viewer or "
                "above)");
  run->add_option("--metrics-listen", ro.metrics_listen,
                  "HOST:PORT of a plain-HTTP listener serving only /metrics, without a credential");
  run->add_option("--upstream", ro.node.upstream_urls,
                  "parent relay URL; repeat for fallbacks, tried in order (makes this a child)");
  run->add_option("--upstream-token-file", ro.upstream_token_file,
                  "file holding this relay's credential at its parents (relayctl relays add)");
  run->add_option("--upstream-ca", ro.node.upstream_ca,
                  "CA certificate (PEM) that signed the parents' certificates");
  run->add_option("--upstream-proxy", ro.node.upstream_proxy,
                  "HTTP proxy on the way to the parents");
  run->add_option("--sync-interval-s", ro.node.sync_interval_s,
                  "regular sync with the parent when nothing else triggers one")
      ->capture_default_str()
      ->check(CLI::Range(1, 7 * 86400));
  run->add_option("--sync-at", ro.node.sync_at, "extra syncs at these times of day (HH:MM UTC)");
  run->add_option("--trust-key", ro.trust_keys,
                  "Ed25519 public key (PEM) that a relay-update build, and any artifact a child "
                  "fetches from its parent, must be signed by; repeatable");
  run->add_option("--artifact-cache-mb", ro.node.artifact_cache_mb,
                  "a child's copy of its parent's artifacts: beyond this many MiB, images no "
                  "open job needs are removed (least recently used first); 0: no bound")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t(0), std::int64_t(1) << 30));
  run->add_option("--smtp-url", ro.node.monitoring.smtp.url,
                  "mail server for notifications: smtp://host:587 (STARTTLS required) or "
                  "smtps://host:465; none: e-mail notifications are recorded as not sent");
  run->add_option("--smtp-user", ro.node.monitoring.smtp.username, "SMTP AUTH user name");
  run->add_option("--smtp-password-file", ro.smtp_password_file,
                  "file holding the SMTP AUTH password (first line)");
  run->add_option("--mail-from", ro.node.monitoring.smtp.from, "From: of notification mails")
      ->capture_default_str();
  run->add_option("--smtp-ca", ro.node.monitoring.smtp.ca_file,
                  "CA file to verify the mail server (default: system)");
  run->add_option("--webhook-secret-file", ro.webhook_secret_file,
                  "file holding the HMAC key that signs webhook bodies (first line)");
  run->add_option("--webhook-ca", ro.node.monitoring.webhook.ca_file,
                  "CA file to verify https webhooks");
  run->add_option("--notify-retry-s", ro.notify_retry_s,
                  "first retry of a notification that failed for a passing reason (doubles)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  run->add_option("--notify-attempts", ro.node.monitoring.max_attempts,
                  "attempts before a notification is recorded as failed")
      ->capture_default_str()
      ->check(CLI::Range(1, 100));
  run->add_option("--notify-allow", ro.notify_allow,
                  "CIDR range notifications (webhooks, the mail server) may reach although it is "
                  "internal (loopback, private, link-local...); repeatable or comma-separated");
  run->add_option("--notify-deny", ro.notify_deny,
                  "CIDR range notifications never connect to, even if --notify-allow names it; "
                  "repeatable or comma-separated");
  run->add_option("--max-artifact-mb", ro.max_artifact_mb, "largest artifact upload accepted")
      ->capture_default_str()
      ->check(CLI::Range(1, 8192));
  run->add_flag("--no-upstream-long-poll", ro.no_upstream_long_poll,
                "do not hold a request open at the parent (jobs come at the regular syncs)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (*init) return run_init(io);
    ro.node.argv.assign(argv, argv + argc);
    return run_serve(ro);
  } catch (const std::exception& e) {
    std::cerr << "relayd: " << e.what() << "\n";
    return 1;
  }
}
