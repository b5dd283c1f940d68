#include "relay/upstream_link.h"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "clock/wall_clock.h"
#include "core/codec.h"
#include "core/poll_schedule.h"
#include "core/sha256.h"
#include "core/time.h"

namespace printrelay {

namespace {

Registration registration_from(const Json& j) {
  Registration r;
  r.serial = text_field(j, "serial");
  r.model = text_field(j, "model");
  r.place = text_field(j, "place");
  r.customer = text_field(j, "customer");
  r.contact = text_field(j, "contact");
  r.enrollment_code_hash = text_field(j, "enrollment_code_hash");
  r.created_at = int_field(j, "created_at_ms", 0);
  return r;
}

bool same_registration(const Registration& a, const Registration& b) {
  return a.serial == b.serial && a.model == b.model && a.place == b.place &&
         a.customer == b.customer && a.contact == b.contact &&
         a.enrollment_code_hash == b.enrollment_code_hash;
}

}  // namespace

UpstreamLink::UpstreamLink(Relay& relay, UpstreamOptions options)
    : relay_(relay), options_(std::move(options)) {
  if (!options_.urls.empty()) status_.parent = options_.urls.front();
}

UpstreamLink::~UpstreamLink() { stop(); }

void UpstreamLink::start() {
  sender_ = std::thread([this] { send_loop(); });
  if (options_.long_poll) listener_ = std::thread([this] { listen_loop(); });
}

void UpstreamLink::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (sender_.joinable()) sender_.join();
  if (listener_.joinable()) listener_.join();
}

void UpstreamLink::nudge(bool urgent) {
  {
    std::lock_guard lock(mu_);
    nudged_ = true;
    urgent_ = urgent_ || urgent;
  }
  cv_.notify_all();
}

UpstreamLink::ParentAccess UpstreamLink::parent_access() {
  std::lock_guard lock(mu_);
  return {options_.urls.empty() ? "" : options_.urls[current_], options_.token, options_.ca_file,
          options_.proxy};
}

UpstreamLink::Status UpstreamLink::status() {
  std::lock_guard lock(mu_);
  Status s = status_;
  if (auto n = relay_.store().count_upstream(); n) s.backlog = *n;
  return s;
}

void UpstreamLink::send_loop() {
  HttpClient client(ClientOptions{options_.ca_file, false, options_.proxy, 5000, &stop_});
  TimeMs next_regular = wall_clock_ms();  // the first sync happens at start (power-on)
  int failures = 0;
  while (!stopping()) {
    const TimeMs now = wall_clock_ms();
    auto owed = relay_.store().peek_upstream(static_cast<int>(options_.batch_items));
    if (!owed) {
      // The outbox cannot be read now; what it holds stays there and goes up later.
      std::cerr << "relayd: cannot read the upstream outbox: " << owed.error().message << std::endl;
      ++failures;
    }
    const std::vector<UpstreamItem> backlog = owed ? std::move(*owed) : std::vector<UpstreamItem>();
    if (owed && (!backlog.empty() || now >= next_regular)) {
      auto acked = sync_once(client, backlog, 0);
      if (acked) {
        failures = 0;
        next_regular = wall_clock_ms() + TimeMs(options_.policy.interval_s) * 1000;
        if (auto tod = next_time_of_day(options_.policy, wall_clock_ms());
            tod && *tod < next_regular)
          next_regular = *tod;
        // A full batch that the parent took whole: send the next at once.
        if (backlog.size() == options_.batch_items && *acked >= backlog.back().seq) continue;
        // Something was refused for now (the parent's store): do not spin on it.
        if (!backlog.empty() && *acked < backlog.back().seq) failures = 1;
      } else {
        ++failures;
      }
    }
    std::unique_lock lock(mu_);
    if (failures > 0) {
      // Back off while the parents cannot be reached: 1, 2, 4 ... 30 s.
      const auto delay = std::chrono::milliseconds(
          std::min<TimeMs>(30000, TimeMs(1000) << std::min(failures - 1, 5)));
      cv_.wait_for(lock, delay, [&] { return stopping(); });
      nudged_ = false;
      continue;
    }
    const TimeMs wait_ms = std::max<TimeMs>(0, next_regular - wall_clock_ms());
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping() || nudged_; });
    if (nudged_ && !urgent_ && !stopping()) {
      // Gather what arrives in the next moment into the same batch (claim 26).
      lock.unlock();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      lock.lock();
    }
    nudged_ = false;
    urgent_ = false;
  }
}

void UpstreamLink::listen_loop() {
  HttpClient client(ClientOptions{options_.ca_file, false, options_.proxy, 5000, &stop_});
  int failures = 0;
  while (!stopping()) {
    auto r = sync_once(client, {}, options_.wait_s);
    if (r) {
      failures = 0;
      continue;
    }
    ++failures;
    std::unique_lock lock(mu_);
    const auto delay = std::chrono::milliseconds(
        std::min<TimeMs>(10000, TimeMs(500) << std::min(failures - 1, 5)));
    cv_.wait_for(lock, delay, [&] { return stopping(); });
  }
}

Result<Json> UpstreamLink::post(HttpClient& client, const std::string& body, long timeout_ms) {
  const std::size_t n = options_.urls.size();
  if (n == 0) return unavailable("no parent relay configured");
  std::size_t start;
  {
    std::lock_guard lock(mu_);
    start = current_;
    if (start != 0 && wall_clock_ms() - left_first_at_ >= TimeMs(options_.return_to_first_s) * 1000)
      start = 0;  // time to see whether the first parent is back
  }
  Error last = unavailable("no parent relay answered");
  for (std::size_t k = 0; k < n && !stopping(); ++k) {
    const std::size_t i = (start + k) % n;
    HttpRequest req;
    req.method = "POST";
    req.url = options_.urls[i] + "/v1/relay/sync";
    req.body = body;
    req.headers = {{"Authorization", "Bearer " + options_.token},
                   {"Content-Type", "application/json"}};
    req.timeout_ms = timeout_ms;
    auto res = client.send(req);
    if (!res) {
      last = unavailable(options_.urls[i] + ": " + res.error().message);
      continue;
    }
    if (res->status >= 500) {
      last = unavailable(options_.urls[i] + " answered " + std::to_string(res->status));
      continue;
    }
    {
      std::lock_guard lock(mu_);
      // Away from the first parent: (re)start the clock that sends us back to try it.
      if (i != 0 && (i != current_ || start == 0)) left_first_at_ = wall_clock_ms();
      if (i != current_) {
        current_ = i;
        status_.parent = options_.urls[i];
        std::cerr << "relayd: upstream now " << options_.urls[i] << std::endl;
      }
    }
    auto answer = parse_body(res->body);
    if (res->status != 200) {
      std::string msg = answer ? answer->value("error", Json::object()).value("message", "")
                               : res->body.substr(0, 200);
      return Error{
          res->status == 429 ? ErrorKind::kRateLimited : ErrorKind::kUnavailable,
          options_.urls[i] + " refused the sync (" + std::to_string(res->status) + "): " + msg};
    }
    if (!answer) return unavailable(options_.urls[i] + ": unreadable sync answer");
    return answer;
  }
  return last;
}

Result<std::int64_t> UpstreamLink::sync_once(HttpClient& client,
                                             const std::vector<UpstreamItem>& items, int wait_s) {
  const TimeMs now = wall_clock_ms();
  const TimeMs since = now - options_.served_window_ms;
  // Without the held jobs the parent could not say which of them ended: no sync then.
  auto open = relay_.all_open_jobs();
  if (!open) return open.error();
  Json held = Json::array();
  for (const auto& j : *open) held.push_back(j.id);
  Json up = Json::array();
  for (const auto& it : items) {
    up.push_back({{"seq", it.seq}, {"kind", it.kind}, {"serial", it.serial}, {"body", it.body}});
  }
  std::string directory_version, catalog_version;
  {
    std::lock_guard lock(mu_);
    directory_version = directory_version_;
    catalog_version = catalog_version_;
  }
  Json req{
      {"version", options_.version},
      {"wait_s", wait_s},
      {"serials", relay_.served_devices(since)},
      {"held_jobs", std::move(held)},
      {"directory_version", directory_version},
      {"catalog_version", catalog_version},
      {"relays", options_.relays_below ? options_.relays_below(since) : std::vector<std::string>()},
      {"sightings", relay_.served_sightings(since)},
      {"items", std::move(up)}};
  if (wait_s == 0 && options_.rates) req["rates"] = options_.rates();
  auto answer = post(client, req.dump(), (wait_s + 30) * 1000L);
  if (!answer) {
    std::lock_guard lock(mu_);
    ++status_.syncs_failed;
    status_.last_error = answer.error().message;
    return answer.error();
  }
  std::int64_t acked = answer->value("acked_seq", std::int64_t(0));
  // The parent's receipts must carry the hash of exactly what we sent; a mismatch stops the
  // acknowledgement before that item, which is then sent again.
  for (const auto& rc : answer->value("receipts", Json::array())) {
    const std::int64_t seq = rc.value("seq", std::int64_t(0));
    auto it = std::find_if(items.begin(), items.end(),
                           [&](const UpstreamItem& x) { return x.seq == seq; });
    if (it == items.end()) continue;
    const auto& reports = it->body.value("reports", Json::array());
    const auto& hashes = rc.value("sha256", Json::array());
    bool match = hashes.size() == reports.size();
    for (std::size_t k = 0; match && k < reports.size(); ++k) {
      auto rep = parse_report(reports[k]);
      match = rep && hashes[k] == sha256_hex(canonical_report(*rep));
    }
    if (!match) {
      std::cerr << "relayd: the parent's receipt for upstream item " << seq
                << " does not match what was sent; sending it again" << std::endl;
      acked = std::min(acked, seq - 1);
      break;
    }
  }
  std::int64_t rejected = 0;
  for (const auto& r : answer->value("rejected", Json::array())) {
    const std::string why = r.value("error", Json::object()).value("message", "");
    if (!r.contains("seq")) {
      // A sighting or a served device outside what the parent lets this relay serve.
      std::cerr << "relayd: the parent refused " << r.dump().substr(0, 200) << std::endl;
      continue;
    }
    if (r.value("seq", std::int64_t(0)) > acked) continue;
    ++rejected;
    std::cerr << "relayd: the parent refused upstream item " << r.value("seq", 0) << ": " << why
              << std::endl;
  }
  if (acked > 0) {
    if (auto st = relay_.store().ack_upstream(acked); !st) return st.error();
  }
  apply(*answer, wall_clock_ms());
  std::lock_guard lock(mu_);
  ++status_.syncs_ok;
  status_.last_ok = wall_clock_ms();
  status_.items_rejected += rejected;
  for (const auto& it : items) status_.items_sent += it.seq <= acked ? 1 : 0;
  return acked;
}

void UpstreamLink::apply(const Json& answer, TimeMs now) {
  std::string parent;
  {
    std::lock_guard lock(mu_);
    parent = status_.parent;
  }
  auto local_regs = relay_.store().list_registrations();
  if (!local_regs) {
    // Without what we hold, the directory cannot be compared: it is taken at a later sync.
    std::cerr << "relayd: directory from the parent not taken now: " << local_regs.error().message
              << std::endl;
  }
  if (auto d = answer.find("directory"); local_regs && d != answer.end() && d->is_object()) {
    std::map<std::string, Registration> local;
    for (auto& r : *local_regs) local[r.serial] = r;
    std::set<std::string> listed;
    bool complete = true;
    for (const auto& j : d->value("registrations", Json::array())) {
      auto r = registration_from(j);
      if (!is_valid_id(r.serial)) continue;
      listed.insert(r.serial);
      auto it = local.find(r.serial);
      if (it != local.end() && same_registration(it->second, r)) continue;
      complete = relay_.store().put_registration(r).ok() && complete;
    }
    for (const auto& [serial, r] : local) {
      // Gone at the parent (deleted, or no longer for a customer of ours): so is the device's
      // credential here.
      if (!listed.count(serial))
        complete =
            relay_.delete_registration(serial, "parent relay " + parent, now).ok() && complete;
    }
    // Our own children (grandchildren of the parent) get the change at once.
    relay_.directory_changed();
    for (const auto& j : d->value("devices", Json::array())) {
      Device dev;
      dev.serial = text_field(j, "serial");
      dev.model = text_field(j, "model");
      dev.token_hash = text_field(j, "token_hash");
      dev.enrolled_at = int_field(j, "enrolled_at", 0);
      // An empty token hash is a revocation at the parent: taken like any newer entry.
      if (!is_valid_id(dev.serial) || dev.enrolled_at <= 0) continue;
      complete = relay_.adopt_device(dev).ok() && complete;
    }
    // Only a directory taken whole is remembered; otherwise the parent sends it again.
    if (complete) {
      std::lock_guard lock(mu_);
      directory_version_ = answer.value("directory_version", "");
    }
  }
  for (const auto& j : answer.value("jobs", Json::array())) {
    auto job = parse_job(j);
    if (!job) {
      std::cerr << "relayd: unreadable job from the parent: " << job.error().message << std::endl;
      continue;
    }
    if (auto st = relay_.adopt_job(*job, "received from parent relay " + parent, now); !st) {
      std::cerr << "relayd: cannot store job " << job->id << ": " << st.error().message
                << std::endl;
      continue;
    }
    if (job->serial == relay_.options().relay_id && options_.on_own_job) {
      if (auto stored = relay_.store().get_job(job->id); stored) options_.on_own_job(*stored);
    }
    if (options_.on_job) options_.on_job(*job);
  }
  if (auto c = answer.find("catalog"); c != answer.end() && c->is_array() && options_.on_catalog) {
    // Only a catalog taken whole is remembered; otherwise the parent sends it again.
    if (options_.on_catalog(*c)) {
      std::lock_guard lock(mu_);
      catalog_version_ = answer.value("catalog_version", "");
    }
  }
  for (const auto& u : answer.value("job_updates", Json::array())) {
    auto state = job_state_from(text_field(u, "state"));
    if (!state || !is_terminal(*state)) continue;
    // Not ended here (store trouble): the job is still held, so the parent says it again.
    if (auto st = relay_.end_job_from_parent(
            text_field(u, "id"), *state, text_field(u, "cause", "ended at the parent relay"), now);
        !st) {
      std::cerr << "relayd: cannot end job " << text_field(u, "id") << ": " << st.error().message
                << std::endl;
    }
  }
}

std::string upstream_metrics_text(const UpstreamLink::Status& s) {
  std::ostringstream out;
  out << "# TYPE printrelay_upstream_syncs_total counter\n"
      << "printrelay_upstream_syncs_total{result=\"ok\"} " << s.syncs_ok << "\n"
      << "printrelay_upstream_syncs_total{result=\"failed\"} " << s.syncs_failed << "\n"
      << "# TYPE printrelay_upstream_items_sent_total counter\n"
      << "printrelay_upstream_items_sent_total " << s.items_sent << "\n"
      << "# TYPE printrelay_upstream_items_rejected_total counter\n"
      << "printrelay_upstream_items_rejected_total " << s.items_rejected << "\n"
      << "# TYPE printrelay_upstream_last_sync_timestamp_seconds gauge\n"
      << "printrelay_upstream_last_sync_timestamp_seconds " << s.last_ok / 1000 << "."
      << std::setw(3) << std::setfill('0') << s.last_ok % 1000 << "\n";
  return out.str();
}

}  // namespace printrelay
