#include "relay/relay_node.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include "clock/wall_clock.h"
#include "core/codec.h"
#include "core/poll_schedule.h"
#include "net/http_server.h"
#include "relay/api.h"
#include "relay/artifact_fetcher.h"
#include "relay/campaigns.h"
#include "relay/firmware_catalog.h"
#include "relay/live_feed.h"
#include "relay/metrics.h"
#include "relay/relay.h"
#include "relay/relay_update.h"
#include "relay/transfer_rates.h"
#include "relay/upstream_link.h"
#include "store/blob_dir.h"
#include "store/store.h"

namespace printrelay {

// The members are declared in the order they are built: each may use those above it, and they
// are destroyed in the reverse order.
struct RelayNode::Parts {
  Parts(Store& s, std::string name, std::string where, RelayNodeOptions o)
      : store(s), store_name(std::move(name)), store_where(std::move(where)), opt(std::move(o)) {}

  Store& store;
  std::string store_name, store_where;
  RelayNodeOptions opt;
  std::unique_ptr<BlobDirectory> artifacts;
  std::unique_ptr<FirmwareCatalog> catalog;
  LiveFeed feed;
  std::unique_ptr<Relay> relay;
  std::unique_ptr<Campaigns> campaigns;
  std::unique_ptr<MonitoringCenter> monitoring;
  std::unique_ptr<UpstreamLink> upstream;
  TransferRates rates;  // a child's measured WAN and LAN rates
  std::unique_ptr<ArtifactFetcher> fetcher;
  std::unique_ptr<RelayUpdater> updater;
  bool cross_node = false;
  Metrics metrics;
  std::unique_ptr<RelayApi> api;

  // One io_context per I/O thread, each with its own acceptor: a connection lives on one thread,
  // so no strands on the hot path. `ioc` runs housekeeping and signals on run()'s thread.
  std::vector<std::unique_ptr<boost::asio::io_context>> io_threads;
  boost::asio::io_context ioc{1};
  std::unique_ptr<HttpServer> server;
  std::unique_ptr<HttpServer> metrics_server;
  std::unique_ptr<boost::asio::steady_timer> tick;
  std::unique_ptr<boost::asio::signal_set> signals;
  bool started = false;
  std::atomic<bool> stopping{false};
  bool shut = false;  // shut_down() ran

  void wire();
  // The artifacts open firmware and relay-update jobs name: a child never evicts them.
  Result<std::set<std::string>> needed_artifacts();
  void finish_or_resume_updates();
  void housekeeping();
  void shut_down();
};

void RelayNode::Parts::wire() {
  RelayOptions ro;
  ro.relay_id = opt.relay_id;
  ro.job_retention_ms = opt.job_retention_ms;
  ro.default_poll_policy.interval_s = opt.poll_interval_s;
  ro.offer_long_poll = opt.offer_long_poll;
  ro.forward_upstream = !opt.upstream_urls.empty();
  ro.on_upstream_queued = [this](bool urgent) {
    if (upstream) upstream->nudge(urgent);
  };
  artifacts = std::make_unique<BlobDirectory>(opt.data_dir + "/artifacts");
  catalog = std::make_unique<FirmwareCatalog>(
      store, artifacts.get(),
      opt.upstream_urls.empty() ? "" : opt.data_dir + "/parent-catalog.json");
  ro.prepare_firmware_job = [this](Job& job, const std::string& model, TimeMs now) {
    return catalog->prepare_job(job, model, now);
  };
  ro.on_reports_stored = [this](const std::string& serial, const std::vector<Report>& fresh,
                                const std::vector<Alert>& opened) {
    if (monitoring) monitoring->reports_stored(serial, fresh, opened);
  };
  ro.order_reply = [this](const std::string& item, std::int64_t quantity) {
    return monitoring ? monitoring->order_reply(item, quantity)
                      : order_reply_text({}, item, quantity);
  };
  // Where a job's transitions go: the monitoring center (notifications), and for firmware the
  // catalog (install results per model) and the campaigns (wave progress).
  ro.on_job_transition = [this](const Job& job, const JobTransition& t) {
    if (monitoring) monitoring->job_changed(job, t);
    if (job.kind != JobKind::kFirmware) return;
    if (is_terminal(t.to) && t.from != t.to) catalog->record_result(job, t.at);
    if (campaigns) campaigns->job_changed(job);
  };
  relay = std::make_unique<Relay>(store, ro, feed);
  campaigns = std::make_unique<Campaigns>(*relay, store, *catalog);
  MonitoringOptions mo = opt.monitoring;
  mo.relay_id = opt.relay_id;
  monitoring = std::make_unique<MonitoringCenter>(*relay, store, feed, mo);

  if (!opt.upstream_urls.empty()) {
    UpstreamOptions uo;
    uo.urls = opt.upstream_urls;
    uo.token = opt.upstream_token;
    uo.ca_file = opt.upstream_ca;
    uo.proxy = opt.upstream_proxy;
    uo.policy.interval_s = opt.sync_interval_s;
    uo.policy.times_of_day = opt.sync_at;
    uo.long_poll = opt.upstream_long_poll;
    uo.version = opt.version;
    uo.on_own_job = [this](const Job& job) {
      if (updater && job.kind == JobKind::kRelayUpdate &&
          (job.state == JobState::kWaiting || job.state == JobState::kAcquired))
        updater->run(job);
    };
    uo.rates = [this] { return rates.to_json(); };
    uo.relays_below = [this](TimeMs since) {
      return api ? api->child_relays().synced_since(since) : std::vector<std::string>();
    };
    uo.on_job = [this](const Job& job) {
      if (fetcher) fetcher->want_job(job);
    };
    // Offers are only what this relay could fetch: manifests signed by a key it trusts.
    uo.on_catalog = [this](const Json& manifests) {
      Json trusted = Json::array();
      for (const auto& m : manifests) {
        const std::string sha = m.is_object() ? m.value("sha256", "") : "";
        if (auto v = verify_signed_manifest(m, sha, opt.trusted_update_keys); v)
          trusted.push_back(std::move(*v));
      }
      auto st = catalog->take_parent_images(trusted);
      if (!st) std::cerr << "relayd: the parent's catalog: " << st.error().message << std::endl;
      return st.ok();
    };
    upstream = std::make_unique<UpstreamLink>(*relay, uo);
    ArtifactFetchOptions fo;
    UpstreamLink* link = upstream.get();
    fo.parent = [link] { return link->parent_access(); };
    fo.needed = [this] { return needed_artifacts(); };
    fo.trusted_keys = opt.trusted_update_keys;
    fo.on_transfer = [this](std::int64_t bytes, double seconds) {
      rates.note_wan(bytes, seconds, wall_clock_ms());
    };
    fo.cache_bytes = opt.artifact_cache_mb << 20;
    fetcher = std::make_unique<ArtifactFetcher>(*artifacts, fo);
    RelayUpdateOptions up;
    up.data_dir = opt.data_dir;
    up.trusted_keys = opt.trusted_update_keys;
    up.argv = opt.argv;
    up.running_version = running_build_version(opt.data_dir, opt.version);
    // A new build that serves stops this one: the same orderly shutdown as a signal.
    updater = std::make_unique<RelayUpdater>(*relay, *fetcher, *artifacts, up, [this] {
      stopping = true;
      boost::asio::post(ioc, [this] { shut_down(); });
    });
  }
}

Result<std::set<std::string>> RelayNode::Parts::needed_artifacts() {
  std::set<std::string> out;
  for (auto kind : {JobKind::kFirmware, JobKind::kRelayUpdate}) {
    auto open = store.open_jobs_of_kind(kind);
    if (!open) return open.error();
    for (const auto& j : *open)
      for (auto& sha : artifacts_of(j)) out.insert(std::move(sha));
  }
  return out;
}

// At start in the child role, once the node listens: a build started by a relay-update says it
// serves (the ready file its predecessor waits for) and reports the job done. start() then ends
// an update that was cut off while its new build was starting (never stuck), and resumes one
// that was downloading.
void RelayNode::Parts::finish_or_resume_updates() {
  const char* finishing = std::getenv(kUpdateJobEnv);
  const TimeMs now = wall_clock_ms();
  if (finishing != nullptr && *finishing != '\0') {
    const std::string job_id = finishing;
    std::ofstream(update_ready_file(opt.data_dir, job_id)) << getpid() << "\n";
    const char* version = std::getenv(kUpdateVersionEnv);
    Json ev{{"event_id", "ru-" + job_id + "-succeeded"},
            {"type", "succeeded"},
            {"detail",
             {{"version", version != nullptr ? version : ""},
              {"relayd_version", opt.version},
              {"build", opt.build}}}};
    if (auto r = relay->record_job_event(opt.relay_id, job_id, ev, now); !r)
      std::cerr << "relayd: cannot report relay-update " << job_id << ": " << r.error().message
                << std::endl;
    std::cout << "relayd: relay-update " << job_id << " finished: now running build " << opt.build
              << std::endl;
    unsetenv(kUpdateJobEnv);
  }
}

void RelayNode::Parts::housekeeping() {
  tick->expires_after(std::chrono::seconds(1));
  tick->async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    relay->flush_sightings();
    if (auto expired = relay->expire_jobs(wall_clock_ms()); !expired)
      std::cerr << "relayd: cannot expire jobs now: " << expired.error().message << std::endl;
    housekeeping();
  });
}

// On run()'s thread: closes the listeners and ends every loop, so that run() goes on to the
// orderly part of the shutdown.
void RelayNode::Parts::shut_down() {
  if (shut) return;
  shut = true;
  if (server) server->stop();
  if (metrics_server) metrics_server->stop();
  if (tick) tick->cancel();
  if (signals) signals->cancel();
  for (auto& c : io_threads) c->stop();
  ioc.stop();
}

RelayNode::RelayNode(Store& store, std::string store_name, std::string store_where,
                     RelayNodeOptions options)
    : p_(std::make_unique<Parts>(store, std::move(store_name), std::move(store_where),
                                 std::move(options))) {
  p_->wire();
}

RelayNode::~RelayNode() {
  // A node that started but never ran (or whose run() threw) still ends in order.
  if (p_->started) {
    stop();
    run();
  }
}

Relay& RelayNode::relay() { return *p_->relay; }

Status RelayNode::start() {
  auto& p = *p_;
  const auto& o = p.opt;
  if (p.started || p.shut) return conflict("a relay node starts once");
  // Several nodes on one PostgreSQL: a job created through any of them wakes the device's
  // long-poll here.
  Relay* relay = p.relay.get();
  p.cross_node = p.store.watch_jobs_changed(
      [relay](const std::string& serial) { relay->jobs_changed(serial); });
  ApiOptions ao;
  ao.device_rate_per_s = o.device_rate_per_s;
  ao.max_bulk_inflight = o.max_bulk_inflight;
  ao.max_long_polls = o.max_long_polls;
  ao.retry_after_s = o.retry_after_s;
  ao.max_event_streams_per_credential = o.max_event_streams;
  ao.metrics_open = o.metrics_open;
  ao.schema_version = p.store.schema_version();
  ao.store_name = p.store_name;
  ao.artifacts = p.artifacts.get();
  ao.firmware = p.catalog.get();
  ao.campaigns = p.campaigns.get();
  ao.monitoring = p.monitoring.get();
  ao.version = o.version + " (build " + o.build + ")";
  ao.web_dir = o.web_dir;
  if (p.upstream) {
    UpstreamLink* link = p.upstream.get();
    ArtifactFetcher* fetcher = p.fetcher.get();
    ao.fetcher = fetcher;
    ao.rates = &p.rates;
    ao.more_metrics = [link, fetcher] {
      return upstream_metrics_text(link->status()) + fetcher->metrics_text();
    };
  }
  p.api = std::make_unique<RelayApi>(*p.relay, p.feed, p.metrics, ao);

  const int threads =
      o.threads > 0 ? o.threads : int(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<boost::asio::io_context*> contexts;
  for (int i = 0; i < threads; ++i) {
    p.io_threads.push_back(std::make_unique<boost::asio::io_context>(1));
    contexts.push_back(p.io_threads.back().get());
  }
  ServerOptions so;
  so.listen_address = o.listen_host;
  so.port = o.listen_port;
  so.tls = !o.plain_http;
  so.cert_file = o.cert_file.empty() ? o.data_dir + "/tls/server.pem" : o.cert_file;
  so.key_file = o.key_file.empty() ? o.data_dir + "/tls/server.key" : o.key_file;
  so.body_limit_bytes = kMaxBodyBytes;
  so.large_body_path_prefix = "/v1/artifacts/";
  so.large_body_limit_bytes = o.max_artifact_bytes;
  so.large_body_dir = p.artifacts->dir();  // uploads are spooled there, then renamed into place
  so.max_connections = o.max_connections;
  so.header_timeout_s = o.header_timeout_s;
  RelayApi* api = p.api.get();
  so.admit = [api](const http::request_header<>& header, const std::string& path, bool has_body,
                   const std::string& remote) {
    return api->admit(header, path, has_body, remote);
  };
  try {
    p.server =
        std::make_unique<HttpServer>(contexts, so, [api](Exchange& ex) { return api->handle(ex); });
    // Prometheus scrapes a listener of its own (plain HTTP, /metrics only, no credential), which
    // an operator binds to an address only the monitoring network reaches.
    if (!o.metrics_host.empty()) {
      ServerOptions mso;
      mso.listen_address = o.metrics_host;
      mso.port = o.metrics_port;
      mso.tls = false;
      mso.body_limit_bytes = 4096;
      mso.max_connections = 64;
      mso.header_timeout_s = o.header_timeout_s;
      p.metrics_server = std::make_unique<HttpServer>(
          p.ioc, mso, [api](Exchange& ex) { return api->serve_metrics(ex); });
    }
  } catch (const std::exception& e) {
    p.metrics_server.reset();
    p.server.reset();
    p.store.unwatch_jobs_changed();
    return unavailable(std::string("cannot listen: ") + e.what());
  }
  p.server->start();
  if (p.metrics_server) p.metrics_server->start();
  p.campaigns->start();
  p.monitoring->start();
  p.tick = std::make_unique<boost::asio::steady_timer>(p.ioc);
  p.housekeeping();
  if (o.stop_on_signals) {
    p.signals = std::make_unique<boost::asio::signal_set>(p.ioc, SIGINT, SIGTERM);
    p.signals->async_wait([this](boost::system::error_code ec, int) {
      if (!ec) stop();
    });
  }
  p.started = true;
  if (p.upstream) {
    // Only now that it listens does a build started by a relay-update say it serves.
    p.finish_or_resume_updates();
    // Transfers a restart cut continue now, before any device asks again.
    auto needed = p.needed_artifacts();
    p.fetcher->start(needed ? std::vector<std::string>(needed->begin(), needed->end())
                            : std::vector<std::string>());
    auto own = p.store.open_jobs(o.relay_id);
    if (!own) {
      // A store that cannot answer must not look like a relay with nothing to do.
      stop();
      run();
      return unavailable("cannot read this relay's own jobs (relay-update): " +
                         own.error().message);
    }
    for (const auto& job : *own) {
      if (job.kind != JobKind::kRelayUpdate) continue;
      if (job.state == JobState::kRunning) {
        Json ev{{"event_id", "ru-" + job.id + "-failed"},
                {"type", "failed"},
                {"reason",
                 "relayd restarted while the new build was starting; running build " + o.build}};
        if (auto r = p.relay->record_job_event(o.relay_id, job.id, ev, wall_clock_ms()); !r)
          std::cerr << "relayd: cannot end relay-update " << job.id << ": " << r.error().message
                    << std::endl;
      } else {
        p.updater->run(job);
      }
    }
    p.upstream->start();
  }
  return ok_status();
}

void RelayNode::run() {
  auto& p = *p_;
  if (!p.started) return;
  std::vector<std::thread> pool;
  for (auto& c : p.io_threads) pool.emplace_back([&c] { c->run(); });
  if (!p.stopping) p.ioc.run();
  p.shut_down();
  for (auto& t : pool) t.join();
  // Let the server's posted closes and the accept loops' aborted accepts run: an accept loop
  // holds the server, whose acceptors belong to every context, so it must end while all the
  // contexts still exist. Held long-polls then die with their own context.
  for (int round = 0; round < 3; ++round) {
    for (auto& c : p.io_threads) {
      c->restart();
      c->poll();
    }
  }
  p.feed.drop_all();
  p.campaigns->stop();
  p.monitoring->stop();
  p.updater.reset();
  if (p.fetcher) p.fetcher->stop();
  if (p.upstream) p.upstream->stop();
  p.store.unwatch_jobs_changed();
  p.relay->flush_sightings();
  p.started = false;
}

void RelayNode::stop() {
  p_->stopping = true;
  boost::asio::post(p_->ioc, [this] { p_->shut_down(); });
}

unsigned short RelayNode::port() const { return p_->server ? p_->server->port() : 0; }

unsigned short RelayNode::metrics_port() const {
  return p_->metrics_server ? p_->metrics_server->port() : 0;
}

std::string RelayNode::describe() const {
  const auto& p = *p_;
  std::ostringstream out;
  out << p.opt.relay_id << " listening on " << (p.opt.plain_http ? "http" : "https") << "://"
      << p.opt.listen_host << ":" << port() << " (store " << p.store_name << " " << p.store_where
      << ", schema " << p.store.schema_version() << ", " << p.io_threads.size() << " threads"
      << (p.cross_node ? ", cross-node job wake-ups" : "") << ", at most "
      << (p.server ? p.server->max_connections() : 0) << " connections)";
  if (p.metrics_server) {
    out << "\nmetrics on http://" << p.opt.metrics_host << ":" << metrics_port() << "/metrics";
  }
  if (p.upstream) {
    out << "\nchild of";
    for (const auto& u : p.opt.upstream_urls) out << " " << u;
    auto waiting = p.store.count_upstream();
    out << " (" << (waiting ? std::to_string(*waiting) : "unknown number of")
        << " items waiting to go up)";
  }
  return out.str();
}

}  // namespace printrelay
