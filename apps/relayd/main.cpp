// relayd: the relay. `relayd init` prepares a data directory (CA, server certificate, first admin
// credential, store); `relayd run` serves the device, admin and event APIs from it.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "core/address_policy.h"
#include "core/codec.h"
#include "net/http_server.h"
#include "net/tls.h"
#include "relay/api.h"
#include "relay/campaigns.h"
#include "relay/firmware_catalog.h"
#include "relay/live_feed.h"
#include "relay/metrics.h"
#include "relay/monitoring_center.h"
#include "relay/relay.h"
#include "relay/relay_update.h"
#include "relay/upstream_link.h"
#include "store/blob_dir.h"
#include "store/postgres/postgres_store.h"
#include "store/sqlite/sqlite_store.h"

namespace fs = std::filesystem;
using namespace printrelay;

namespace {

TimeMs now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

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
  auto token = relay.create_admin_credential(o.admin_name, Role::kAdmin, now_ms());
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

struct RunOptions {
  std::string data_dir = "var/relay";
  std::string listen = "127.0.0.1:8443";
  bool plain_http = false;
  std::string cert, key;
  std::string relay_id = "root-1";
  int threads = 0;
  double job_retention_h = 24;
  int poll_interval_s = 900;
  bool no_long_poll = false;
  double device_rate = 20;
  int max_bulk_inflight = 64;
  int max_long_polls = 20000;
  int retry_after_s = 5;
  // What one client can hold (net/http_server.h, relay/api.h).
  std::size_t max_connections = 0;  // 0: from the file descriptor limit
  int header_timeout_s = 5;
  int max_event_streams = 8;
  bool metrics_open = false;
  std::string metrics_listen;  // HOST:PORT of a plain listener serving /metrics only
  std::string postgres;
  // Child role: the ordered parents and how to reach them.
  std::vector<std::string> upstream;
  std::string upstream_token_file;
  std::string upstream_ca;
  std::string upstream_proxy;
  int sync_interval_s = 60;
  std::vector<std::string> sync_at;
  bool no_upstream_long_poll = false;
  std::vector<std::string> trust_keys;
  int max_artifact_mb = 512;
  std::vector<std::string> argv;  // as started, for a relay-update's new build
  // Notifications (the monitoring center).
  std::string smtp_url;
  std::string smtp_user;
  std::string smtp_password_file;
  std::string mail_from = "printrelay <printrelay@localhost>";
  std::string smtp_ca;
  std::string webhook_secret_file;
  std::string webhook_ca;
  double notify_retry_s = 30;
  int notify_attempts = 8;
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

// At start: a build started by a relay-update says it serves and reports the job done; any other
// start ends an update that was cut off while its new build was starting (never stuck), and
// resumes one that was downloading.
void finish_or_resume_updates(Relay& relay, RelayUpdater& updater, const std::string& data_dir,
                              const std::string& relay_id) {
  const char* finishing = std::getenv(kUpdateJobEnv);
  const TimeMs now = now_ms();
  if (finishing != nullptr && *finishing != '\0') {
    const std::string job_id = finishing;
    std::ofstream(update_ready_file(data_dir, job_id)) << getpid() << "\n";
    Json ev{{"event_id", "ru-" + job_id + "-succeeded"},
            {"type", "succeeded"},
            {"detail",
             {{"version", std::getenv(kUpdateVersionEnv) ? std::getenv(kUpdateVersionEnv) : ""},
              {"relayd_version", PRINTRELAY_VERSION},
              {"build", build_id()}}}};
    if (auto r = relay.record_job_event(relay_id, job_id, ev, now); !r)
      std::cerr << "relayd: cannot report relay-update " << job_id << ": " << r.error().message
                << std::endl;
    std::cout << "relayd: relay-update " << job_id << " finished: now running build " << build_id()
              << std::endl;
    unsetenv(kUpdateJobEnv);
  }
  auto own = relay.store().open_jobs(relay_id);
  if (!own) {
    throw std::runtime_error("cannot read this relay's own jobs (relay-update): " +
                             own.error().message);
  }
  for (const auto& job : *own) {
    if (job.kind != JobKind::kRelayUpdate) continue;
    if (job.state == JobState::kRunning) {
      Json ev{{"event_id", "ru-" + job.id + "-failed"},
              {"type", "failed"},
              {"reason",
               "relayd restarted while the new build was starting; running build " + build_id()}};
      if (auto r = relay.record_job_event(relay_id, job.id, ev, now); !r)
        std::cerr << "relayd: cannot end relay-update " << job.id << ": " << r.error().message
                  << std::endl;
    } else {
      updater.run(job);
    }
  }
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

int run_serve(const RunOptions& o) {
  fs::path dir = fs::absolute(o.data_dir);
  run_installed_build(dir, o.argv);
  std::string host;
  int port = 0;
  if (!split_host_port(o.listen, host, port)) {
    std::cerr << "relayd: --listen must be HOST:PORT, got '" << o.listen << "'\n";
    return 2;
  }
  if (o.plain_http && !is_loopback(host)) {
    std::cerr << "relayd: --plain-http is only allowed on a loopback address, not " << host << "\n";
    return 2;
  }
  std::string metrics_host;
  int metrics_port = 0;
  if (!o.metrics_listen.empty() && !split_host_port(o.metrics_listen, metrics_host, metrics_port)) {
    std::cerr << "relayd: --metrics-listen must be HOST:PORT, got '" << o.metrics_listen << "'\n";
    return 2;
  }
  if (o.postgres.empty() && !fs::exists(dir / "relayd.db")) {
    std::cerr << "relayd: no store in " << dir << "; run `relayd init --data-dir " << o.data_dir
              << "` first\n";
    return 1;
  }
  auto chosen = open_store(dir, o.postgres);
  auto& store = chosen.store;

  RelayOptions ro;
  ro.relay_id = o.relay_id;
  ro.job_retention_ms = TimeMs(o.job_retention_h * 3600 * 1000);
  ro.default_poll_policy.interval_s = o.poll_interval_s;
  ro.offer_long_poll = !o.no_long_poll;
  if (!o.upstream.empty() && o.upstream_token_file.empty()) {
    std::cerr << "relayd: --upstream needs --upstream-token-file (make one with `relayctl relays "
                 "add ID` on the parent)\n";
    return 2;
  }
  std::unique_ptr<UpstreamLink> upstream;
  std::unique_ptr<RelayUpdater> updater;
  std::function<void()> stop_serving;  // set once the server exists
  ro.forward_upstream = !o.upstream.empty();
  ro.on_upstream_queued = [&upstream](bool urgent) {
    if (upstream) upstream->nudge(urgent);
  };
  BlobDirectory artifacts((dir / "artifacts").string());
  FirmwareCatalog catalog(*store, &artifacts);
  std::unique_ptr<Campaigns> campaigns;  // needs the relay; made right after it
  ro.prepare_firmware_job = [&catalog](Job& job, const std::string& model, TimeMs now) {
    return catalog.prepare_job(job, model, now);
  };
  std::unique_ptr<MonitoringCenter> monitoring;  // needs the relay; made right after it
  ro.on_reports_stored = [&monitoring](const std::string& serial, const std::vector<Report>& fresh,
                                       const std::vector<Alert>& opened) {
    if (monitoring) monitoring->reports_stored(serial, fresh, opened);
  };
  ro.order_reply = [&monitoring](const std::string& item, std::int64_t quantity) {
    return monitoring ? monitoring->order_reply(item, quantity)
                      : order_reply_text({}, item, quantity);
  };
  ro.on_job_transition = [&catalog, &campaigns, &monitoring](const Job& job,
                                                             const JobTransition& t) {
    if (monitoring) monitoring->job_changed(job, t);
    if (job.kind != JobKind::kFirmware) return;
    if (is_terminal(t.to) && t.from != t.to) catalog.record_result(job, t.at);
    if (campaigns) campaigns->job_changed(job);
  };
  LiveFeed feed;
  Relay relay(*store, ro, feed);
  campaigns = std::make_unique<Campaigns>(relay, *store, catalog);
  MonitoringOptions mo;
  mo.relay_id = o.relay_id;
  mo.smtp.url = o.smtp_url;
  mo.smtp.username = o.smtp_user;
  if (!o.smtp_password_file.empty()) mo.smtp.password = read_secret(o.smtp_password_file);
  mo.smtp.from = o.mail_from;
  mo.smtp.ca_file = o.smtp_ca;
  if (!o.webhook_secret_file.empty()) mo.webhook.secret = read_secret(o.webhook_secret_file);
  mo.webhook.ca_file = o.webhook_ca;
  mo.retry_base_ms = TimeMs(o.notify_retry_s * 1000);
  mo.max_attempts = o.notify_attempts;
  auto notify_allow = parse_address_ranges(o.notify_allow);
  if (!notify_allow) {
    std::cerr << "relayd: bad --notify-allow: " << notify_allow.error().message << "\n";
    return 2;
  }
  auto notify_deny = parse_address_ranges(o.notify_deny);
  if (!notify_deny) {
    std::cerr << "relayd: bad --notify-deny: " << notify_deny.error().message << "\n";
    return 2;
  }
  mo.smtp.target_policy = mo.webhook.target_policy = {*notify_allow, *notify_deny};
  monitoring = std::make_unique<MonitoringCenter>(relay, *store, feed, mo);
  if (!o.upstream.empty()) {
    UpstreamOptions uo;
    uo.urls = o.upstream;
    uo.token = read_token_file(o.upstream_token_file);
    uo.ca_file = o.upstream_ca;
    uo.proxy = o.upstream_proxy;
    uo.policy.interval_s = o.sync_interval_s;
    uo.policy.times_of_day = o.sync_at;
    PollPolicy times_only;  // only the times of day are checked here (the interval may be < 5 s)
    times_only.times_of_day = o.sync_at;
    if (auto p = parse_poll_policy(to_json(times_only)); !p) {
      std::cerr << "relayd: bad --sync-at: " << p.error().message << "\n";
      return 2;
    }
    uo.long_poll = !o.no_upstream_long_poll;
    uo.version = PRINTRELAY_VERSION;
    uo.on_own_job = [&updater](const Job& job) {
      if (updater && job.kind == JobKind::kRelayUpdate &&
          (job.state == JobState::kWaiting || job.state == JobState::kAcquired))
        updater->run(job);
    };
    upstream = std::make_unique<UpstreamLink>(relay, uo);
    RelayUpdateOptions up;
    up.data_dir = dir.string();
    for (const auto& k : o.trust_keys) up.trusted_keys.push_back(read_file(k));
    up.argv = o.argv;
    up.running_version = running_build_version(dir.string(), PRINTRELAY_VERSION);
    updater = std::make_unique<RelayUpdater>(relay, *upstream, up, [&stop_serving] {
      if (stop_serving) stop_serving();
    });
  }
  // Several nodes on one PostgreSQL: a job created through any of them wakes the device's
  // long-poll here.
  const bool cross_node = store->watch_jobs_changed(
      [&relay](const std::string& serial) { relay.jobs_changed(serial); });
  Metrics metrics;
  ApiOptions ao;
  ao.device_rate_per_s = o.device_rate;
  ao.max_bulk_inflight = o.max_bulk_inflight;
  ao.max_long_polls = o.max_long_polls;
  ao.retry_after_s = o.retry_after_s;
  ao.max_event_streams_per_credential = o.max_event_streams;
  ao.metrics_open = o.metrics_open;
  ao.schema_version = store->schema_version();
  ao.store_name = chosen.name;
  ao.artifacts = &artifacts;
  ao.firmware = &catalog;
  ao.campaigns = campaigns.get();
  ao.monitoring = monitoring.get();
  ao.version = std::string(PRINTRELAY_VERSION) + " (build " + build_id() + ")";
  if (const char* web = std::getenv("PRINTRELAY_WEB_DIR"); web != nullptr && *web != '\0')
    ao.web_dir = web;  // dashboard development: serve web/ from disk
  RelayApi api(relay, feed, metrics, ao);
  campaigns->start();
  monitoring->start();

  // One io_context per I/O thread, each with its own acceptor: a connection lives on one thread,
  // so no strands on the hot path. `ioc` runs housekeeping and signals on the main thread.
  int threads = o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<std::unique_ptr<boost::asio::io_context>> io_threads;
  std::vector<boost::asio::io_context*> contexts;
  for (int i = 0; i < threads; ++i) {
    io_threads.push_back(std::make_unique<boost::asio::io_context>(1));
    contexts.push_back(io_threads.back().get());
  }
  boost::asio::io_context ioc(1);
  ServerOptions so;
  so.listen_address = host;
  so.port = static_cast<unsigned short>(port);
  so.tls = !o.plain_http;
  so.cert_file = o.cert.empty() ? (dir / "tls/server.pem").string() : o.cert;
  so.key_file = o.key.empty() ? (dir / "tls/server.key").string() : o.key;
  so.body_limit_bytes = kMaxBodyBytes;
  so.large_body_path_prefix = "/v1/artifacts/";
  so.large_body_limit_bytes = std::size_t(o.max_artifact_mb) << 20;
  so.large_body_dir = artifacts.dir();  // uploads are spooled there, then renamed into place
  so.max_connections = o.max_connections;
  so.header_timeout_s = o.header_timeout_s;
  so.admit = [&api](const http::request_header<>& header, const std::string& path, bool has_body,
                    const std::string& remote) {
    return api.admit(header, path, has_body, remote);
  };
  HttpServer server(contexts, so, [&api](Exchange& ex) { return api.handle(ex); });
  server.start();
  // Prometheus scrapes a listener of its own (plain HTTP, /metrics only, no credential), which
  // an operator binds to an address only the monitoring network reaches.
  std::unique_ptr<HttpServer> metrics_server;
  if (!o.metrics_listen.empty()) {
    ServerOptions mso;
    mso.listen_address = metrics_host;
    mso.port = static_cast<unsigned short>(metrics_port);
    mso.tls = false;
    mso.body_limit_bytes = 4096;
    mso.max_connections = 64;
    mso.header_timeout_s = o.header_timeout_s;
    metrics_server = std::make_unique<HttpServer>(
        ioc, mso, [&api](Exchange& ex) { return api.serve_metrics(ex); });
    metrics_server->start();
    std::cout << "relayd: metrics on http://" << metrics_host << ":" << metrics_server->port()
              << "/metrics" << std::endl;
  }

  // Housekeeping: batched last-seen writes and job expiry.
  boost::asio::steady_timer tick(ioc);
  std::function<void()> schedule = [&] {
    tick.expires_after(std::chrono::seconds(1));
    tick.async_wait([&](boost::system::error_code ec) {
      if (ec) return;
      relay.flush_sightings();
      if (auto expired = relay.expire_jobs(now_ms()); !expired)
        std::cerr << "relayd: cannot expire jobs now: " << expired.error().message << std::endl;
      schedule();
    });
  };
  schedule();

  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  auto shut_down = [&] {
    server.stop();
    if (metrics_server) metrics_server->stop();
    tick.cancel();
    for (auto& c : io_threads) c->stop();
    ioc.stop();
  };
  signals.async_wait([&](boost::system::error_code, int) { shut_down(); });
  stop_serving = [&] { boost::asio::post(ioc, shut_down); };
  std::cout << "relayd: " << o.relay_id << " listening on " << (o.plain_http ? "http" : "https")
            << "://" << host << ":" << server.port() << " (store " << chosen.name << " "
            << chosen.where << ", schema " << store->schema_version() << ", " << threads
            << " threads" << (cross_node ? ", cross-node job wake-ups" : "") << ", at most "
            << server.max_connections() << " connections)" << std::endl;
  if (upstream) {
    finish_or_resume_updates(relay, *updater, dir.string(), o.relay_id);
    upstream->start();
    std::cout << "relayd: child of";
    for (const auto& u : o.upstream) std::cout << " " << u;
    auto waiting = store->count_upstream();
    std::cout << " (" << (waiting ? std::to_string(*waiting) : "unknown number of")
              << " items waiting to go up)" << std::endl;
  }
  std::vector<std::thread> pool;
  for (auto& c : io_threads) pool.emplace_back([&c] { c->run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  // Let the server's posted closes and the accept loops' aborted accepts run: an accept loop
  // holds the server, whose acceptors belong to every context, so it must end while all the
  // contexts still exist. Held long-polls then die with their own context.
  for (int round = 0; round < 3; ++round) {
    for (auto& c : io_threads) {
      c->restart();
      c->poll();
    }
  }
  feed.drop_all();
  campaigns->stop();
  monitoring->stop();
  updater.reset();
  if (upstream) upstream->stop();
  store->unwatch_jobs_changed();
  relay.flush_sightings();
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
  RunOptions ro;
  auto* run = app.add_subcommand("run", "serve the relay");
  run->add_option("--data-dir", ro.data_dir, "data directory made by relayd init")
      ->capture_default_str();
  run->add_option("--listen", ro.listen, "HOST:PORT to listen on")->capture_default_str();
  run->add_flag("--plain-http", ro.plain_http, "serve plain HTTP (loopback only)");
  run->add_option("--postgres", ro.postgres,
                  "use this PostgreSQL database (libpq conninfo, shared by relay nodes) instead of "
                  "DATA_DIR/relayd.db");
  run->add_option("--cert", ro.cert,
                  "server certificate chain (PEM); default DATA_DIR/tls/server.pem");
  run->add_option("--key", ro.key, "server key (PEM); default DATA_DIR/tls/server.key");
  run->add_option("--relay-id", ro.relay_id, "this relay's id (the job list's managing relay)")
      ->capture_default_str();
  run->add_option("--threads", ro.threads, "I/O threads (0 = one per core)")->capture_default_str();
  run->add_option("--job-retention-h", ro.job_retention_h,
                  "hours a finished job stays in the default job list")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 24.0 * 365));
  run->add_option("--poll-interval-s", ro.poll_interval_s, "default device poll interval")
      ->capture_default_str()
      ->check(CLI::Range(5, 7 * 86400));
  run->add_flag("--no-long-poll", ro.no_long_poll, "do not hold polls open");
  run->add_option("--device-rate", ro.device_rate,
                  "requests per second per device credential (0 = unlimited)")
      ->capture_default_str();
  run->add_option("--max-bulk-inflight", ro.max_bulk_inflight, "concurrent bulk uploads before 429")
      ->capture_default_str();
  run->add_option("--max-long-polls", ro.max_long_polls,
                  "polls held open at once; more are answered at once")
      ->capture_default_str();
  run->add_option("--retry-after-s", ro.retry_after_s,
                  "base Retry-After handed out with 429 (each answer adds up to as much again)")
      ->capture_default_str()
      ->check(CLI::Range(1, 3600));
  run->add_option(
         "--max-connections", ro.max_connections,
         "connections open at once; more are closed at once (0 = from the open-file limit)")
      ->capture_default_str();
  run->add_option("--header-timeout-s", ro.header_timeout_s,
                  "seconds a client has to send a request header (and the TLS handshake)")
      ->capture_default_str()
      ->check(CLI::Range(1, 120));
  run->add_option("--max-event-streams", ro.max_event_streams,
                  "event streams (GET /v1/events) one admin credential may hold at once (one more "
                  "closes its oldest)")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  run->add_flag("--metrics-open", ro.metrics_open,
                "serve /metrics on the API listener without a credential (default: viewer or "
                "above)");
  run->add_option("--metrics-listen", ro.metrics_listen,
                  "HOST:PORT of a plain-HTTP listener serving only /metrics, without a credential");
  run->add_option("--upstream", ro.upstream,
                  "parent relay URL; repeat for fallbacks, tried in order (makes this a child)");
  run->add_option("--upstream-token-file", ro.upstream_token_file,
                  "file holding this relay's credential at its parents (relayctl relays add)");
  run->add_option("--upstream-ca", ro.upstream_ca,
                  "CA certificate (PEM) that signed the parents' certificates");
  run->add_option("--upstream-proxy", ro.upstream_proxy, "HTTP proxy on the way to the parents");
  run->add_option("--sync-interval-s", ro.sync_interval_s,
                  "regular sync with the parent when nothing else triggers one")
      ->capture_default_str()
      ->check(CLI::Range(1, 7 * 86400));
  run->add_option("--sync-at", ro.sync_at, "extra syncs at these times of day (HH:MM UTC)");
  run->add_option("--trust-key", ro.trust_keys,
                  "Ed25519 public key (PEM) a relay-update build must be signed by; repeatable");
  run->add_option("--smtp-url", ro.smtp_url,
                  "mail server for notifications: smtp://host:587 (STARTTLS required) or "
                  "smtps://host:465; none: e-mail notifications are recorded as not sent");
  run->add_option("--smtp-user", ro.smtp_user, "SMTP AUTH user name");
  run->add_option("--smtp-password-file", ro.smtp_password_file,
                  "file holding the SMTP AUTH password (first line)");
  run->add_option("--mail-from", ro.mail_from, "From: of notification mails")
      ->capture_default_str();
  run->add_option("--smtp-ca", ro.smtp_ca, "CA file to verify the mail server (default: system)");
  run->add_option("--webhook-secret-file", ro.webhook_secret_file,
                  "file holding the HMAC key that signs webhook bodies (first line)");
  run->add_option("--webhook-ca", ro.webhook_ca, "CA file to verify https webhooks");
  run->add_option("--notify-retry-s", ro.notify_retry_s,
                  "first retry of a notification that failed for a passing reason (doubles)")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 86400.0));
  run->add_option("--notify-attempts", ro.notify_attempts,
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
    ro.argv.assign(argv, argv + argc);
    return run_serve(ro);
  } catch (const std::exception& e) {
    std::cerr << "relayd: " << e.what() << "\n";
    return 1;
  }
}
