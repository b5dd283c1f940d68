#include "store/sqlite/sqlite_store.h"

#include <limits>
#include <mutex>
#include <stdexcept>

#include "core/codec.h"
#include "core/job_flow.h"
#include "store/sqlite/connection.h"
#include "store/sqlite/migrations.h"

namespace printrelay {
namespace {

using sqlite::Connection;
using sqlite::Statement;
using sqlite::Transaction;

// JSON columns are written with invalid UTF-8 replaced rather than thrown on: a store call
// returns errors, it does not throw.
std::string json_text(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

Json json_or(const std::string& text, Json fallback) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? fallback : j;
}

// "('waiting','acquired','running')": the non-terminal states, from the one definition in core.
const std::string& open_states_sql() {
  static const std::string sql = [] {
    std::string s;
    for (auto st :
         {JobState::kWaiting, JobState::kAcquired, JobState::kRunning, JobState::kSucceeded,
          JobState::kFailed, JobState::kCancelled, JobState::kExpired}) {
      if (is_terminal(st)) continue;
      s += (s.empty() ? "('" : ",'") + std::string(to_string(st)) + "'";
    }
    return s + ")";
  }();
  return sql;
}

constexpr const char* kReportColumns =
    "seq, serial, received_at, sha256, canonical, report_id, kind, created_at";

StoredReport read_report(const Statement& s) {
  StoredReport r;
  r.seq = s.int_at(0);
  r.serial = s.text_at(1);
  r.received_at = s.int_at(2);
  r.sha256 = s.text_at(3);
  auto parsed = parse_report(json_or(s.text_at(4), Json()));
  if (parsed) {
    r.report = std::move(*parsed);
    return r;
  }
  // Only reachable if the row was edited by hand: keep what the indexed columns still tell.
  r.report.id = s.text_at(5);
  r.report.kind = s.text_at(6);
  r.report.created_at = s.int_at(7);
  return r;
}

constexpr const char* kJobColumns =
    "id, serial, kind, params, state, instructing_user, managing_relay, created_at, not_before, "
    "execute_at, expires_at, executed_at, updated_at, acknowledged, result";

Job read_job(const Statement& s) {
  Job j;
  j.id = s.text_at(0);
  j.serial = s.text_at(1);
  j.kind = job_kind_from(s.text_at(2)).value_or(JobKind::kCollect);
  j.params = json_or(s.text_at(3), Json::object());
  j.state = job_state_from(s.text_at(4)).value_or(JobState::kWaiting);
  j.instructing_user = s.text_at(5);
  j.managing_relay = s.text_at(6);
  j.created_at = s.int_at(7);
  j.not_before = s.int_at(8);
  j.execute_at = s.opt_int_at(9);
  j.expires_at = s.opt_int_at(10);
  j.executed_at = s.opt_int_at(11);
  j.updated_at = s.int_at(12);
  j.acknowledged = s.int_at(13) != 0;
  j.result = json_or(s.text_at(14), Json::object());
  return j;
}

constexpr const char* kAlertColumns =
    "id, serial, report_id, code, type, urgency, message, raised_at, open, acknowledged_at, "
    "acknowledged_by";

Alert read_alert(const Statement& s) {
  Alert a;
  a.id = s.int_at(0);
  a.serial = s.text_at(1);
  a.report_id = s.text_at(2);
  a.code = s.text_at(3);
  a.type = s.text_at(4);
  a.urgency = urgency_from(s.text_at(5)).value_or(Urgency::kHigh);
  a.message = s.text_at(6);
  a.raised_at = s.int_at(7);
  a.open = s.int_at(8) != 0;
  a.acknowledged_at = s.opt_int_at(9);
  a.acknowledged_by = s.text_at(10);
  return a;
}

constexpr const char* kDeviceColumns =
    "serial, model, token_hash, enrolled_at, last_seen, state, boot_id, firmware";

Device read_device(const Statement& s) {
  Device d;
  d.serial = s.text_at(0);
  d.model = s.text_at(1);
  d.token_hash = s.text_at(2);
  d.enrolled_at = s.int_at(3);
  d.last_seen = s.int_at(4);
  d.state = s.text_at(5);
  d.boot_id = s.text_at(6);
  d.firmware = json_or(s.text_at(7), Json::object());
  return d;
}

constexpr const char* kRegistrationColumns =
    "serial, model, place, customer, contact, enrollment_code_hash, created_at";

Registration read_registration(const Statement& s) {
  Registration r;
  r.serial = s.text_at(0);
  r.model = s.text_at(1);
  r.place = s.text_at(2);
  r.customer = s.text_at(3);
  r.contact = s.text_at(4);
  r.enrollment_code_hash = s.text_at(5);
  r.created_at = s.int_at(6);
  return r;
}

constexpr const char* kFirmwareHistoryColumns =
    "id, serial, at, event, component, version, artifact, job_id, detail";

FirmwareHistoryEntry read_firmware_history(const Statement& s) {
  FirmwareHistoryEntry e;
  e.id = s.int_at(0);
  e.serial = s.text_at(1);
  e.at = s.int_at(2);
  e.event = s.text_at(3);
  e.component = s.text_at(4);
  e.version = s.text_at(5);
  e.artifact = s.text_at(6);
  e.job_id = s.text_at(7);
  e.detail = json_or(s.text_at(8), Json::object());
  return e;
}

constexpr const char* kCampaignColumns = "id, name, state, created_at, updated_at, revision, doc";

CampaignRecord read_campaign(const Statement& s) {
  CampaignRecord c;
  c.id = s.text_at(0);
  c.name = s.text_at(1);
  c.state = s.text_at(2);
  c.created_at = s.int_at(3);
  c.updated_at = s.int_at(4);
  c.revision = s.int_at(5);
  c.doc = json_or(s.text_at(6), Json::object());
  return c;
}

constexpr const char* kSettingsColumns = "name, revision, updated_at, updated_by, body";

SettingsDoc read_settings(const Statement& s) {
  SettingsDoc d;
  d.name = s.text_at(0);
  d.revision = s.int_at(1);
  d.updated_at = s.int_at(2);
  d.updated_by = s.text_at(3);
  d.body = json_or(s.text_at(4), Json());
  return d;
}

constexpr const char* kNotificationColumns =
    "id, created_at, event_type, serial, channel, target, rule, subject, text, payload, state, "
    "attempts, next_attempt_at, last_error, sent_at";

NotificationRecord read_notification(const Statement& s) {
  NotificationRecord n;
  n.id = s.int_at(0);
  n.created_at = s.int_at(1);
  n.event_type = s.text_at(2);
  n.serial = s.text_at(3);
  n.channel = s.text_at(4);
  n.target = s.text_at(5);
  n.rule = s.text_at(6);
  n.subject = s.text_at(7);
  n.text = s.text_at(8);
  n.payload = json_or(s.text_at(9), Json::object());
  n.state = s.text_at(10);
  n.attempts = static_cast<int>(s.int_at(11));
  n.next_attempt_at = s.int_at(12);
  n.last_error = s.text_at(13);
  n.sent_at = s.opt_int_at(14);
  return n;
}

AdminCredential read_admin(const Statement& s) {
  AdminCredential c;
  c.name = s.text_at(0);
  c.role = role_from(s.text_at(1)).value_or(Role::kViewer);
  c.token_hash = s.text_at(2);
  c.created_at = s.int_at(3);
  c.customers = customers_from(s.text_at(4));
  return c;
}

// Steps through every row, reading each with `read`. A step that fails makes the whole read an
// error: rows read so far are not the answer.
template <typename T, typename Read>
Result<std::vector<T>> read_rows(Statement& s, Read read) {
  std::vector<T> rows;
  for (;;) {
    auto row = s.step();
    if (!row) return row.error();
    if (!*row) return rows;
    rows.push_back(read(s));
  }
}

// The single integer a COUNT(*) statement yields.
Result<std::int64_t> read_count(Statement& s) {
  auto row = s.step();
  if (!row) return row.error();
  if (!*row) return unavailable("count query returned no row");
  return s.int_at(0);
}

// Reads at most one row; not found (with `what` in the message) when there is none.
template <typename T, typename Read>
Result<T> read_one(Statement& s, Read read, const std::string& what) {
  auto row = s.step();
  if (!row) return row.error();
  if (!*row) return not_found(what + " not found");
  return read(s);
}

Status insert_transition(Connection& c, const JobTransition& t) {
  auto s = c.prepare(
      "INSERT INTO job_transitions (job_id, at, from_state, to_state, cause) "
      "VALUES (?, ?, ?, ?, ?)");
  if (!s) return s.error();
  return s->bind_all(t.job_id, t.at, to_string(t.from), to_string(t.to), t.cause).run();
}

// Writes every field of an existing job; not found when there is no job with that id.
Status write_job(Connection& c, const Job& j) {
  auto s = c.prepare(
      "UPDATE jobs SET serial = ?, kind = ?, params = ?, state = ?, instructing_user = ?, "
      "managing_relay = ?, created_at = ?, not_before = ?, execute_at = ?, expires_at = ?, "
      "executed_at = ?, updated_at = ?, acknowledged = ?, result = ? WHERE id = ?");
  if (!s) return s.error();
  auto st = s->bind_all(j.serial, to_string(j.kind), json_text(j.params), to_string(j.state),
                        j.instructing_user, j.managing_relay, j.created_at, j.not_before,
                        j.execute_at, j.expires_at, j.executed_at, j.updated_at, j.acknowledged,
                        json_text(j.result), j.id)
                .run();
  if (!st) return st;
  if (c.changes() == 0) return not_found("job " + j.id + " not found");
  return ok_status();
}

class SqliteStore final : public Store {
 public:
  explicit SqliteStore(const std::string& path) : db_(path) {
    configure(path);
    schema_version_ = sqlite::migrate(db_, path);
  }

  int schema_version() override {
    std::lock_guard lock(mu_);
    return schema_version_;
  }

  // --- registrations ---

  Status put_registration(const Registration& r) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto s = db_.prepare(
        "INSERT INTO registrations (serial, model, place, customer, contact, "
        "enrollment_code_hash, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (serial) DO UPDATE SET model = excluded.model, place = excluded.place, "
        "customer = excluded.customer, contact = excluded.contact, "
        "enrollment_code_hash = excluded.enrollment_code_hash, created_at = excluded.created_at");
    if (!s) return s.error();
    auto st = s->bind_all(r.serial, r.model, r.place, r.customer, r.contact, r.enrollment_code_hash,
                          r.created_at)
                  .run();
    if (!st) return st;
    return tx.commit();
  }

  Result<Registration> get_registration(const std::string& serial) override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(std::string("SELECT ") + kRegistrationColumns +
                         " FROM registrations WHERE serial = ?");
    if (!s) return s.error();
    s->bind_all(serial);
    return read_one<Registration>(*s, read_registration, "registration " + serial);
  }

  Result<std::vector<Registration>> list_registrations() override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(std::string("SELECT ") + kRegistrationColumns +
                         " FROM registrations ORDER BY serial");
    if (!s) return s.error();
    return read_rows<Registration>(*s, read_registration);
  }

  Status delete_registration(const std::string& serial) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto s = db_.prepare("DELETE FROM registrations WHERE serial = ?");
    if (!s) return s.error();
    if (auto st = s->bind_all(serial).run(); !st) return st;
    if (db_.changes() == 0) return not_found("registration " + serial + " not found");
    return tx.commit();
  }

  // --- devices ---

  Status put_device(const Device& d) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto s = db_.prepare(
        "INSERT INTO devices (serial, model, token_hash, enrolled_at, last_seen, state, boot_id, "
        "firmware) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (serial) DO UPDATE SET model = excluded.model, "
        "token_hash = excluded.token_hash, enrolled_at = excluded.enrolled_at, "
        "last_seen = excluded.last_seen, state = excluded.state, boot_id = excluded.boot_id, "
        "firmware = excluded.firmware");
    if (!s) return s.error();
    auto st = s->bind_all(d.serial, d.model, d.token_hash, d.enrolled_at, d.last_seen, d.state,
                          d.boot_id, json_text(d.firmware))
                  .run();
    if (!st) return st;
    return tx.commit();
  }

  Result<Device> get_device(const std::string& serial) override {
    std::lock_guard lock(mu_);
    auto s =
        db_.prepare(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE serial = ?");
    if (!s) return s.error();
    s->bind_all(serial);
    return read_one<Device>(*s, read_device, "device " + serial);
  }

  Result<Device> find_device_by_token_hash(const std::string& token_hash) override {
    std::lock_guard lock(mu_);
    auto s =
        db_.prepare(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE token_hash = ?");
    if (!s) return s.error();
    s->bind_all(token_hash);
    return read_one<Device>(*s, read_device, "device with that credential");
  }

  Result<std::vector<Device>> list_devices() override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(std::string("SELECT ") + kDeviceColumns + " FROM devices ORDER BY serial");
    if (!s) return s.error();
    return read_rows<Device>(*s, read_device);
  }

  // Sightings of unknown serials are ignored, and so is a sighting older than the one stored:
  // batches may be flushed out of order, and last-seen must never go back in time.
  Status record_sightings(const std::vector<DeviceSighting>& sightings) override {
    if (sightings.empty()) return ok_status();
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    for (const auto& v : sightings) {
      auto s = db_.prepare(
          "UPDATE devices SET last_seen = ?, state = ?, boot_id = ?, firmware = ? "
          "WHERE serial = ? AND last_seen <= ?");
      if (!s) return s.error();
      auto st =
          s->bind_all(v.last_seen, v.state, v.boot_id, json_text(v.firmware), v.serial, v.last_seen)
              .run();
      if (!st) return st;
    }
    return tx.commit();
  }

  Status set_poll_policy(const std::string& serial, const PollPolicy& p) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto s = db_.prepare(
        "INSERT INTO poll_policies (serial, policy) VALUES (?, ?) "
        "ON CONFLICT (serial) DO UPDATE SET policy = excluded.policy");
    if (!s) return s.error();
    if (auto st = s->bind_all(serial, json_text(to_json(p))).run(); !st) return st;
    return tx.commit();
  }

  Result<std::optional<PollPolicy>> get_poll_policy(const std::string& serial) override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare("SELECT policy FROM poll_policies WHERE serial = ?");
    if (!s) return s.error();
    s->bind_all(serial);
    auto row = s->step();
    if (!row) return row.error();
    if (!*row) return std::optional<PollPolicy>();
    // Only set_poll_policy writes the column, from a parsed policy: a row that no longer parses
    // was edited by hand, and the default is the safe reading of it.
    auto p = parse_poll_policy(json_or(s->text_at(0), Json()));
    if (!p) return std::optional<PollPolicy>();
    return std::optional<PollPolicy>(*p);
  }

  // --- reports ---

  Result<std::vector<StoredReceipt>> append_reports(const std::string& serial,
                                                    const std::vector<IncomingReport>& reports,
                                                    TimeMs now) override {
    std::vector<StoredReceipt> receipts;
    if (reports.empty()) return receipts;
    receipts.reserve(reports.size());
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    for (const auto& in : reports) {
      auto receipt = append_one(serial, in, now);
      if (!receipt) return receipt.error();  // the transaction rolls back the whole batch
      receipts.push_back(std::move(*receipt));
    }
    if (auto st = tx.commit(); !st) return st.error();
    return receipts;
  }

  Result<std::vector<StoredReport>> list_reports(const ReportQuery& q) override {
    if (q.limit <= 0) return std::vector<StoredReport>();
    std::string sql = std::string("SELECT ") + kReportColumns + " FROM reports WHERE 1 = 1";
    if (!q.serial.empty()) sql += " AND serial = ?";
    if (!q.kind.empty()) sql += " AND kind = ?";
    if (q.since) sql += " AND created_at >= ?";
    if (q.until) sql += " AND created_at < ?";
    sql += q.after_seq ? " AND seq > ? ORDER BY seq ASC" : " ORDER BY seq DESC";
    sql += " LIMIT ?";

    std::lock_guard lock(mu_);
    auto s = db_.prepare(sql);  // at most 32 variants, each cached
    if (!s) return s.error();
    int i = 0;
    if (!q.serial.empty()) s->bind(++i, q.serial);
    if (!q.kind.empty()) s->bind(++i, q.kind);
    if (q.since) s->bind(++i, *q.since);
    if (q.until) s->bind(++i, *q.until);
    if (q.after_seq) s->bind(++i, *q.after_seq);
    s->bind(++i, q.limit);
    return read_rows<StoredReport>(*s, read_report);
  }

  // "Newest" is by created_at (then reception number): an agent sends alerts ahead of its
  // outbox backlog, so an older report of a kind may arrive after a newer one.
  Result<std::map<std::string, StoredReport>> latest_reports(const std::string& serial) override {
    std::map<std::string, StoredReport> latest;
    std::lock_guard lock(mu_);
    // Walks the distinct kinds through the (serial, kind, created_at) index, one seek per kind.
    std::string kind;
    for (;;) {
      auto next = db_.prepare("SELECT MIN(kind) FROM reports WHERE serial = ? AND kind > ?");
      if (!next) return next.error();
      next->bind_all(serial, kind);
      auto row = next->step();
      if (!row) return row.error();
      if (!*row) return latest;
      auto k = next->opt_text_at(0);
      if (!k) return latest;  // MIN over no rows: every kind has been read
      kind = *k;
      auto s = db_.prepare(std::string("SELECT ") + kReportColumns +
                           " FROM reports WHERE serial = ? AND kind = ? "
                           "ORDER BY created_at DESC, seq DESC LIMIT 1");
      if (!s) return s.error();
      s->bind_all(serial, kind);
      auto r = read_one<StoredReport>(*s, read_report, "report");
      if (!r) return r.error();  // the kind was just seen, so not found is a failure too
      latest.emplace(kind, std::move(*r));
    }
  }

  // One index seek per device on (serial, kind, created_at).
  Result<std::map<std::string, StoredReport>> latest_of_kind(const std::string& kind) override {
    std::map<std::string, StoredReport> latest;
    std::lock_guard lock(mu_);
    auto s =
        db_.prepare(std::string("SELECT ") + kReportColumns +
                    " FROM reports WHERE seq IN (SELECT (SELECT r.seq FROM reports r WHERE "
                    "r.serial = d.serial AND r.kind = ? ORDER BY r.created_at DESC, r.seq DESC "
                    "LIMIT 1) FROM devices d)");
    if (!s) return s.error();
    s->bind_all(kind);
    auto rows = read_rows<StoredReport>(*s, read_report);
    if (!rows) return rows.error();
    for (auto& r : *rows) {
      std::string serial = r.serial;
      latest.emplace(std::move(serial), std::move(r));
    }
    return latest;
  }

  Result<std::int64_t> count_reports(const std::string& serial) override {
    std::lock_guard lock(mu_);
    auto s = serial.empty() ? db_.prepare("SELECT COUNT(*) FROM reports")
                            : db_.prepare("SELECT COUNT(*) FROM reports WHERE serial = ?");
    if (!s) return s.error();
    if (!serial.empty()) s->bind_all(serial);
    return read_count(*s);
  }

  // --- jobs ---

  Status create_job(const Job& j, const JobTransition& created) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto s = db_.prepare(std::string("INSERT INTO jobs (") + kJobColumns +
                         ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!s) return s.error();
    auto st =
        s->bind_all(j.id, j.serial, to_string(j.kind), json_text(j.params), to_string(j.state),
                    j.instructing_user, j.managing_relay, j.created_at, j.not_before, j.execute_at,
                    j.expires_at, j.executed_at, j.updated_at, j.acknowledged, json_text(j.result))
            .run();
    if (!st) {
      if (st.error().kind == ErrorKind::kConflict)
        return conflict("job " + j.id + " already exists");
      return st;
    }
    if (auto t = insert_transition(db_, created); !t) return t;
    return tx.commit();
  }

  Result<Job> get_job(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?");
    if (!s) return s.error();
    s->bind_all(id);
    return read_one<Job>(*s, read_job, "job " + id);
  }

  Result<std::vector<Job>> list_jobs(const JobQuery& q) override {
    if (q.limit <= 0) return std::vector<Job>();
    std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE 1 = 1";
    if (!q.serial.empty()) sql += " AND serial = ?";
    if (q.state) sql += " AND state = ?";
    // The SQL form of in_default_list (core/job_flow.h), so that hidden jobs are not even read;
    // in_default_list is still applied below and stays the definition.
    if (!q.all) {
      sql += " AND (state IN " + open_states_sql() +
             " OR (state = 'failed' AND acknowledged = 0)"
             " OR (state IN ('succeeded', 'cancelled', 'expired') AND updated_at > ?))";
    }
    sql += " ORDER BY created_at DESC, id DESC";

    std::lock_guard lock(mu_);
    auto s = db_.prepare(sql);
    if (!s) return s.error();
    int i = 0;
    if (!q.serial.empty()) s->bind(++i, q.serial);
    if (q.state) s->bind(++i, to_string(*q.state));
    if (!q.all) s->bind(++i, q.now - q.retention_ms);
    std::vector<Job> jobs;
    while (jobs.size() < static_cast<std::size_t>(q.limit)) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) break;
      Job j = read_job(*s);
      if (q.all || in_default_list(j, q.now, q.retention_ms)) jobs.push_back(std::move(j));
    }
    return jobs;
  }

  Result<std::vector<Job>> open_jobs(const std::string& serial) override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(std::string("SELECT ") + kJobColumns +
                         " FROM jobs WHERE serial = ? AND state IN " + open_states_sql() +
                         " ORDER BY created_at ASC, id ASC");
    if (!s) return s.error();
    s->bind_all(serial);
    return read_rows<Job>(*s, read_job);
  }

  Result<std::vector<Job>> open_jobs_of_kind(JobKind kind) override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(std::string("SELECT ") + kJobColumns +
                         " FROM jobs WHERE kind = ? AND state IN " + open_states_sql() +
                         " ORDER BY created_at ASC, id ASC");
    if (!s) return s.error();
    s->bind_all(std::string(to_string(kind)));
    return read_rows<Job>(*s, read_job);
  }

  Result<std::int64_t> count_open_jobs() override {
    std::lock_guard lock(mu_);
    auto s =
        db_.prepare(std::string("SELECT COUNT(*) FROM jobs WHERE state IN ") + open_states_sql());
    if (!s) return s.error();
    return read_count(*s);
  }

  Result<std::vector<Job>> expirable_jobs() override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE state IN " +
                         open_states_sql() +
                         " AND expires_at IS NOT NULL ORDER BY expires_at ASC, id ASC");
    if (!s) return s.error();
    return read_rows<Job>(*s, read_job);
  }

  Status update_job(const Job& j, const std::optional<JobTransition>& t) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    if (auto st = write_job(db_, j); !st) return st;
    if (t) {
      if (auto st = insert_transition(db_, *t); !st) return st;
    }
    return tx.commit();
  }

  Result<bool> record_job_event(const JobEvent& e, const Job& j,
                                const std::optional<JobTransition>& t) override {
    if (e.job_id != j.id) {
      return bad_input("event " + e.event_id + " is for job " + e.job_id + ", not " + j.id);
    }
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto seen = db_.prepare("SELECT 1 FROM job_events WHERE event_id = ?");
    if (!seen) return seen.error();
    auto row = seen->bind_all(e.event_id).step();
    if (!row) return row.error();
    if (*row) return false;  // recorded before; the transaction rolls back having written nothing
    if (auto st = write_job(db_, j); !st) return st.error();
    auto ins = db_.prepare(
        "INSERT INTO job_events (event_id, job_id, type, at, reason, detail) "
        "VALUES (?, ?, ?, ?, ?, ?)");
    if (!ins) return ins.error();
    auto st =
        ins->bind_all(e.event_id, e.job_id, to_string(e.type), e.at, e.reason, json_text(e.detail))
            .run();
    if (!st) return st.error();
    if (t) {
      if (auto tr = insert_transition(db_, *t); !tr) return tr.error();
    }
    if (auto c = tx.commit(); !c) return c.error();
    return true;
  }

  Result<std::vector<JobTransition>> list_transitions(const std::string& job_id) override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(
        "SELECT job_id, at, from_state, to_state, cause FROM job_transitions "
        "WHERE job_id = ? ORDER BY id ASC");
    if (!s) return s.error();
    s->bind_all(job_id);
    return read_rows<JobTransition>(*s, [](const Statement& r) {
      JobTransition t;
      t.job_id = r.text_at(0);
      t.at = r.int_at(1);
      t.from = job_state_from(r.text_at(2)).value_or(JobState::kWaiting);
      t.to = job_state_from(r.text_at(3)).value_or(JobState::kWaiting);
      t.cause = r.text_at(4);
      return t;
    });
  }

  // --- alerts ---

  // Newest first; an empty serial lists every device's alerts.
  Result<std::vector<Alert>> list_alerts(const std::string& serial, bool open_only) override {
    std::string sql = std::string("SELECT ") + kAlertColumns + " FROM alerts WHERE 1 = 1";
    if (!serial.empty()) sql += " AND serial = ?";
    if (open_only) sql += " AND open = 1";
    sql += " ORDER BY id DESC";
    std::lock_guard lock(mu_);
    auto s = db_.prepare(sql);
    if (!s) return s.error();
    if (!serial.empty()) s->bind_all(serial);
    return read_rows<Alert>(*s, read_alert);
  }

  // Acknowledging twice keeps the first acknowledgement: who looked first, and when, is what
  // the service center wants to see.
  Result<Alert> acknowledge_alert(std::int64_t id, const std::string& user, TimeMs now) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto upd = db_.prepare(
        "UPDATE alerts SET open = 0, acknowledged_at = ?, acknowledged_by = ? "
        "WHERE id = ? AND open = 1");
    if (!upd) return upd.error();
    if (auto st = upd->bind_all(now, user, id).run(); !st) return st.error();
    auto alert = find_alert(id);
    if (!alert) return alert;
    if (auto c = tx.commit(); !c) return c.error();
    return alert;
  }

  Result<std::map<std::string, int>> open_alert_counts() override {
    std::map<std::string, int> counts;
    std::lock_guard lock(mu_);
    auto s = db_.prepare("SELECT serial, COUNT(*) FROM alerts WHERE open = 1 GROUP BY serial");
    if (!s) return s.error();
    for (;;) {
      auto row = s->step();
      if (!row) return row.error();
      if (!*row) return counts;
      counts[s->text_at(0)] = static_cast<int>(s->int_at(1));
    }
  }

  // --- upstream outbox ---

  Status enqueue_upstream(const std::vector<UpstreamItem>& items) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    for (const auto& it : items) {
      auto s = db_.prepare(
          "INSERT INTO upstream_outbox (kind, serial, body, queued_at) VALUES (?, ?, ?, ?)");
      if (!s) return s.error();
      if (auto st = s->bind_all(it.kind, it.serial, json_text(it.body), it.queued_at).run(); !st)
        return st;
    }
    return tx.commit();
  }

  Result<std::vector<UpstreamItem>> peek_upstream(int limit) override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(
        "SELECT seq, kind, serial, body, queued_at FROM upstream_outbox ORDER BY seq LIMIT ?");
    if (!s) return s.error();
    s->bind_all(std::int64_t(limit));
    return read_rows<UpstreamItem>(*s, [](const Statement& r) {
      return UpstreamItem{r.int_at(0), r.text_at(1), r.text_at(2),
                          json_or(r.text_at(3), Json::object()), r.int_at(4)};
    });
  }

  Status ack_upstream(std::int64_t seq) override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare("DELETE FROM upstream_outbox WHERE seq <= ?");
    if (!s) return s.error();
    return s->bind_all(seq).run();
  }

  Result<std::int64_t> count_upstream() override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare("SELECT COUNT(*) FROM upstream_outbox");
    if (!s) return s.error();
    return read_count(*s);
  }

  // --- firmware update history ---

  Result<std::int64_t> append_firmware_history(const FirmwareHistoryEntry& e) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto s = db_.prepare(
        "INSERT INTO firmware_history (serial, at, event, component, version, artifact, job_id, "
        "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
    if (!s) return s.error();
    auto st = s->bind_all(e.serial, e.at, e.event, e.component, e.version, e.artifact, e.job_id,
                          json_text(e.detail))
                  .run();
    if (!st) return st.error();
    const std::int64_t id = db_.last_insert_rowid();
    if (auto c = tx.commit(); !c) return c.error();
    return id;
  }

  Result<std::vector<FirmwareHistoryEntry>> list_firmware_history(const std::string& serial,
                                                                  int limit) override {
    if (limit <= 0) return std::vector<FirmwareHistoryEntry>();
    std::string sql = std::string("SELECT ") + kFirmwareHistoryColumns + " FROM firmware_history";
    if (!serial.empty()) sql += " WHERE serial = ?";
    sql += " ORDER BY id DESC LIMIT ?";
    std::lock_guard lock(mu_);
    auto s = db_.prepare(sql);
    if (!s) return s.error();
    int i = 0;
    if (!serial.empty()) s->bind(++i, serial);
    s->bind(++i, limit);
    return read_rows<FirmwareHistoryEntry>(*s, read_firmware_history);
  }

  // --- firmware campaigns ---

  Status create_campaign(const CampaignRecord& c) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto s = db_.prepare(std::string("INSERT INTO campaigns (") + kCampaignColumns +
                         ") VALUES (?, ?, ?, ?, ?, 1, ?)");
    if (!s) return s.error();
    auto st =
        s->bind_all(c.id, c.name, c.state, c.created_at, c.updated_at, json_text(c.doc)).run();
    if (!st) {
      if (st.error().kind == ErrorKind::kConflict)
        return conflict("campaign " + c.id + " already exists");
      return st;
    }
    return tx.commit();
  }

  Result<CampaignRecord> get_campaign(const std::string& id) override {
    std::lock_guard lock(mu_);
    auto s =
        db_.prepare(std::string("SELECT ") + kCampaignColumns + " FROM campaigns WHERE id = ?");
    if (!s) return s.error();
    s->bind_all(id);
    return read_one<CampaignRecord>(*s, read_campaign, "campaign " + id);
  }

  Result<std::vector<CampaignRecord>> list_campaigns() override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(std::string("SELECT ") + kCampaignColumns +
                         " FROM campaigns ORDER BY created_at DESC, id DESC");
    if (!s) return s.error();
    return read_rows<CampaignRecord>(*s, read_campaign);
  }

  // Compare-and-set on the revision. One connection under mu_ already serializes this node's
  // writers; the WHERE clause is what stops a writer on another process sharing the file.
  Result<std::int64_t> update_campaign(const CampaignRecord& c) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto upd = db_.prepare(
        "UPDATE campaigns SET name = ?, state = ?, updated_at = ?, doc = ?, "
        "revision = revision + 1 WHERE id = ? AND revision = ?");
    if (!upd) return upd.error();
    auto st =
        upd->bind_all(c.name, c.state, c.updated_at, json_text(c.doc), c.id, c.revision).run();
    if (!st) return st.error();
    if (db_.changes() == 0) {
      auto found = db_.prepare("SELECT revision FROM campaigns WHERE id = ?");
      if (!found) return found.error();
      auto row = found->bind_all(c.id).step();
      if (!row) return row.error();
      if (!*row) return not_found("campaign " + c.id + " not found");
      return conflict("campaign " + c.id + " is at revision " + std::to_string(found->int_at(0)) +
                      ", not " + std::to_string(c.revision));
    }
    if (auto cm = tx.commit(); !cm) return cm.error();
    return c.revision + 1;
  }

  // --- service-center tables ---

  Result<SettingsDoc> get_settings(const std::string& name) override {
    std::lock_guard lock(mu_);
    auto s =
        db_.prepare(std::string("SELECT ") + kSettingsColumns + " FROM settings WHERE name = ?");
    if (!s) return s.error();
    s->bind_all(name);
    return read_one<SettingsDoc>(*s, read_settings, "table " + name);
  }

  Result<std::vector<SettingsDoc>> list_settings() override {
    std::lock_guard lock(mu_);
    auto s =
        db_.prepare(std::string("SELECT ") + kSettingsColumns + " FROM settings ORDER BY name");
    if (!s) return s.error();
    return read_rows<SettingsDoc>(*s, read_settings);
  }

  Result<std::int64_t> put_settings(const SettingsDoc& d, std::int64_t expected_revision) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto found = db_.prepare("SELECT revision FROM settings WHERE name = ?");
    if (!found) return found.error();
    auto row = found->bind_all(d.name).step();
    if (!row) return row.error();
    const std::int64_t current = *row ? found->int_at(0) : 0;
    if (current != expected_revision) {
      return conflict("table " + d.name + " is at revision " + std::to_string(current) + ", not " +
                      std::to_string(expected_revision) +
                      " (someone else changed it: read it again)");
    }
    auto put = db_.prepare(
        "INSERT INTO settings (name, revision, updated_at, updated_by, body) VALUES (?, ?, ?, ?, "
        "?) "
        "ON CONFLICT (name) DO UPDATE SET revision = excluded.revision, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by, body = excluded.body");
    if (!put) return put.error();
    if (auto st =
            put->bind_all(d.name, current + 1, d.updated_at, d.updated_by, json_text(d.body)).run();
        !st)
      return st.error();
    if (auto c = tx.commit(); !c) return c.error();
    return current + 1;
  }

  // --- alerts raised by the monitoring center ---

  Result<std::optional<std::int64_t>> raise_alert(const Alert& a) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto open = db_.prepare(
        "SELECT id FROM alerts WHERE serial = ? AND type = ? AND code = ? AND open = 1 LIMIT 1");
    if (!open) return open.error();
    auto row = open->bind_all(a.serial, a.type, a.code).step();
    if (!row) return row.error();
    if (*row) return std::optional<std::int64_t>();
    auto ins = db_.prepare(
        "INSERT INTO alerts (serial, report_id, code, type, urgency, message, raised_at, open, "
        "acknowledged_at, acknowledged_by) VALUES (?, ?, ?, ?, ?, ?, ?, 1, NULL, '')");
    if (!ins) return ins.error();
    if (auto st = ins->bind_all(a.serial, a.report_id, a.code, a.type, to_string(a.urgency),
                                a.message, a.raised_at)
                      .run();
        !st)
      return st.error();
    const std::int64_t id = db_.last_insert_rowid();
    if (auto c = tx.commit(); !c) return c.error();
    return std::optional<std::int64_t>(id);
  }

  Result<std::vector<Alert>> resolve_alerts(const std::string& serial, const std::string& type,
                                            const std::string& code, const std::string& by,
                                            TimeMs now) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    std::string where = " WHERE serial = ? AND type = ? AND open = 1";
    if (!code.empty()) where += " AND code = ?";
    auto sel = db_.prepare(std::string("SELECT ") + kAlertColumns + " FROM alerts" + where);
    if (!sel) return sel.error();
    sel->bind_all(serial, type);
    if (!code.empty()) sel->bind(3, code);
    auto found = read_rows<Alert>(*sel, read_alert);
    if (!found) return found.error();
    auto closed = std::move(*found);
    if (closed.empty()) return closed;
    auto upd =
        db_.prepare("UPDATE alerts SET open = 0, acknowledged_at = ?, acknowledged_by = ?" + where);
    if (!upd) return upd.error();
    upd->bind_all(now, by, serial, type);
    if (!code.empty()) upd->bind(5, code);
    if (auto st = upd->run(); !st) return st.error();
    if (auto c = tx.commit(); !c) return c.error();
    for (auto& a : closed) {
      a.open = false;
      a.acknowledged_at = now;
      a.acknowledged_by = by;
    }
    return closed;
  }

  // --- notifications ---

  Result<std::vector<std::int64_t>> enqueue_notifications(
      const std::vector<NotificationRecord>& list) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    std::vector<std::int64_t> ids;
    for (const auto& n : list) {
      auto ins = db_.prepare(std::string("INSERT INTO notifications (") + kNotificationColumns +
                             ") VALUES (NULL, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      if (!ins) return ins.error();
      if (auto st = ins->bind_all(n.created_at, n.event_type, n.serial, n.channel, n.target, n.rule,
                                  n.subject, n.text, json_text(n.payload), n.state, n.attempts,
                                  n.next_attempt_at, n.last_error, n.sent_at)
                        .run();
          !st)
        return st.error();
      ids.push_back(db_.last_insert_rowid());
    }
    if (auto c = tx.commit(); !c) return c.error();
    return ids;
  }

  Result<std::vector<NotificationRecord>> claim_notifications(TimeMs now, TimeMs lease_until,
                                                              int limit) override {
    if (limit <= 0) return std::vector<NotificationRecord>();
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto sel = db_.prepare(std::string("SELECT ") + kNotificationColumns +
                           " FROM notifications WHERE state = 'pending' AND next_attempt_at <= ? "
                           "ORDER BY next_attempt_at, id LIMIT ?");
    if (!sel) return sel.error();
    sel->bind_all(now, limit);
    auto due = read_rows<NotificationRecord>(*sel, read_notification);
    if (!due) return due.error();
    for (auto& n : *due) {
      auto upd = db_.prepare("UPDATE notifications SET next_attempt_at = ? WHERE id = ?");
      if (!upd) return upd.error();
      if (auto st = upd->bind_all(lease_until, n.id).run(); !st) return st.error();
      n.next_attempt_at = lease_until;
    }
    if (auto c = tx.commit(); !c) return c.error();
    return due;
  }

  Status update_notification(const NotificationRecord& n) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto upd = db_.prepare(
        "UPDATE notifications SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, "
        "sent_at = ? WHERE id = ?");
    if (!upd) return upd.error();
    if (auto st =
            upd->bind_all(n.state, n.attempts, n.next_attempt_at, n.last_error, n.sent_at, n.id)
                .run();
        !st)
      return st;
    if (db_.changes() == 0) return not_found("notification " + std::to_string(n.id) + " not found");
    return tx.commit();
  }

  Result<std::vector<NotificationRecord>> list_notifications(const std::string& serial,
                                                             int limit) override {
    if (limit <= 0) return std::vector<NotificationRecord>();
    std::string sql = std::string("SELECT ") + kNotificationColumns + " FROM notifications";
    if (!serial.empty()) sql += " WHERE serial = ?";
    sql += " ORDER BY id DESC LIMIT ?";
    std::lock_guard lock(mu_);
    auto s = db_.prepare(sql);
    if (!s) return s.error();
    int i = 0;
    if (!serial.empty()) s->bind(++i, serial);
    s->bind(++i, limit);
    return read_rows<NotificationRecord>(*s, read_notification);
  }

  // --- admin credentials ---

  Status put_admin_credential(const AdminCredential& c) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto s = db_.prepare(
        "INSERT INTO admin_credentials (name, role, token_hash, created_at, customers) "
        "VALUES (?, ?, ?, ?, ?)");
    if (!s) return s.error();
    auto st =
        s->bind_all(c.name, to_string(c.role), c.token_hash, c.created_at, customers_text(c)).run();
    if (!st) {
      if (st.error().kind == ErrorKind::kConflict) {
        return conflict("admin credential '" + c.name + "' or its token already exists");
      }
      return st;
    }
    return tx.commit();
  }

  Result<AdminCredential> find_admin_by_token_hash(const std::string& token_hash) override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(
        "SELECT name, role, token_hash, created_at, customers FROM admin_credentials "
        "WHERE token_hash = ?");
    if (!s) return s.error();
    s->bind_all(token_hash);
    return read_one<AdminCredential>(*s, read_admin, "admin credential");
  }

  Result<std::vector<AdminCredential>> list_admin_credentials() override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare(
        "SELECT name, role, token_hash, created_at, customers FROM admin_credentials "
        "ORDER BY name");
    if (!s) return s.error();
    return read_rows<AdminCredential>(*s, read_admin);
  }

  Status delete_admin_credential(const std::string& name) override {
    std::lock_guard lock(mu_);
    auto s = db_.prepare("DELETE FROM admin_credentials WHERE name = ?");
    if (!s) return s.error();
    if (auto st = s->bind_all(name).run(); !st) return st;
    if (db_.changes() == 0) return not_found("no credential named " + name);
    return ok_status();
  }

 private:
  // One report inside append_reports' transaction (mu_ held).
  Result<StoredReceipt> append_one(const std::string& serial, const IncomingReport& in,
                                   TimeMs now) {
    // Without a valid id a retry could never be recognised; the relay validates first, this
    // keeps a caller that did not from storing what cannot be deduplicated.
    if (!is_valid_id(in.report.id)) return bad_input("report id '" + in.report.id + "' is invalid");
    StoredReceipt receipt;
    receipt.report_id = in.report.id;
    auto found = db_.prepare(
        "SELECT seq, received_at, sha256 FROM reports WHERE serial = ? AND report_id = ?");
    if (!found) return found.error();
    auto row = found->bind_all(serial, in.report.id).step();
    if (!row) return row.error();
    if (*row) {
      receipt.seq = found->int_at(0);
      receipt.received_at = found->int_at(1);
      receipt.sha256 = found->text_at(2);
      receipt.duplicate = true;
      return receipt;
    }
    auto ins = db_.prepare(
        "INSERT INTO reports (serial, report_id, kind, created_at, received_at, sha256, "
        "canonical) VALUES (?, ?, ?, ?, ?, ?, ?)");
    if (!ins) return ins.error();
    auto st = ins->bind_all(serial, in.report.id, in.report.kind, in.report.created_at, now,
                            in.sha256, canonical_report(in.report))
                  .run();
    if (!st) return st.error();
    receipt.seq = db_.last_insert_rowid();
    receipt.received_at = now;
    receipt.sha256 = in.sha256;
    if (!in.alert) return receipt;

    // The alert belongs to this report: its serial and report id come from the report.
    const Alert& a = *in.alert;
    auto alert = db_.prepare(
        "INSERT INTO alerts (serial, report_id, code, type, urgency, message, raised_at, open, "
        "acknowledged_at, acknowledged_by) VALUES (?, ?, ?, ?, ?, ?, ?, 1, NULL, '')");
    if (!alert) return alert.error();
    auto ast = alert
                   ->bind_all(serial, in.report.id, a.code, a.type, to_string(a.urgency), a.message,
                              a.raised_at != 0 ? a.raised_at : now)
                   .run();
    if (!ast) return ast.error();
    receipt.alert_id = db_.last_insert_rowid();
    return receipt;
  }

  Result<Alert> find_alert(std::int64_t id) {
    auto s = db_.prepare(std::string("SELECT ") + kAlertColumns + " FROM alerts WHERE id = ?");
    if (!s) return s.error();
    s->bind_all(id);
    return read_one<Alert>(*s, read_alert, "alert " + std::to_string(id));
  }

  // WAL lets readers in other processes (backups, the sqlite3 shell) run beside the relay;
  // synchronous=FULL syncs the WAL at every commit, so an acknowledged report survives a power
  // cut, not only a process crash.
  void configure(const std::string& path) {
    // Another process (a second relayd by mistake, a backup) may hold the lock for a moment.
    if (auto st = db_.exec("PRAGMA busy_timeout = 5000"); !st) {
      throw std::runtime_error("cannot open store database '" + path + "': " + st.error().message);
    }
    if (auto st = enable_wal(); !st) {
      throw std::runtime_error("cannot enable WAL on store database '" + path +
                               "': " + st.error().message);
    }
    if (auto st = db_.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON"); !st) {
      throw std::runtime_error("cannot configure store database '" + path +
                               "': " + st.error().message);
    }
  }

  Status enable_wal() {
    auto mode = db_.prepare("PRAGMA journal_mode = WAL");
    if (!mode) return mode.error();
    auto row = mode->step();
    if (!row) return row.error();
    const std::string journal = *row ? mode->text_at(0) : std::string();
    // An in-memory database reports "memory": there is no file to journal.
    if (journal != "wal" && journal != "memory") {
      return unavailable("journal mode stays '" + journal + "'");
    }
    return ok_status();
  }

  std::mutex mu_;
  Connection db_;
  int schema_version_ = 0;
};

}  // namespace

std::unique_ptr<Store> open_sqlite_store(const std::string& path) {
  return std::make_unique<SqliteStore>(path);
}

}  // namespace printrelay
