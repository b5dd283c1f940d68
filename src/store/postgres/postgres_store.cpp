#include "store/postgres/postgres_store.h"

#include <mutex>
#include <stdexcept>

#include "core/codec.h"
#include "core/job_flow.h"
#include "store/postgres/connection.h"
#include "store/postgres/migrations.h"

namespace printrelay {
namespace {

using postgres::Connection;
using postgres::params;
using postgres::Rows;
using postgres::Transaction;

// pg_advisory_xact_lock key that serializes report appends across relay nodes sharing the
// database ("prreport"). Identity values are drawn when a row is inserted, not when its
// transaction commits; holding this lock from before the first insert until commit makes
// reception numbers increase in commit order even with several writers.
constexpr std::int64_t kReportAppendLockKey = 0x70727265706f7274;

// pg_advisory_xact_lock key that serializes firmware history appends across relay nodes
// ("prfwhist"), for the same reason as kReportAppendLockKey: ids increase in commit order.
constexpr std::int64_t kFirmwareHistoryLockKey = 0x7072667768697374;

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
// Constants of the code, not values from a caller, so they may be part of the SQL text.
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

// "$n" for the next parameter of a query assembled from optional filters.
std::string placeholder(int& n) { return "$" + std::to_string(++n); }

constexpr const char* kReportColumns =
    "seq, serial, received_at, sha256, canonical, report_id, kind, created_at";

StoredReport read_report(const Rows& r, int i) {
  StoredReport s;
  s.seq = r.int_at(i, 0);
  s.serial = r.text_at(i, 1);
  s.received_at = r.int_at(i, 2);
  s.sha256 = r.text_at(i, 3);
  auto parsed = parse_report(json_or(r.text_at(i, 4), Json()));
  if (parsed) {
    s.report = std::move(*parsed);
    return s;
  }
  // Only reachable if the row was edited by hand: keep what the indexed columns still tell.
  s.report.id = r.text_at(i, 5);
  s.report.kind = r.text_at(i, 6);
  s.report.created_at = r.int_at(i, 7);
  return s;
}

constexpr const char* kJobColumns =
    "id, serial, kind, params, state, instructing_user, managing_relay, created_at, not_before, "
    "execute_at, expires_at, executed_at, updated_at, acknowledged, result";

Job read_job(const Rows& r, int i) {
  Job j;
  j.id = r.text_at(i, 0);
  j.serial = r.text_at(i, 1);
  j.kind = job_kind_from(r.text_at(i, 2)).value_or(JobKind::kCollect);
  j.params = json_or(r.text_at(i, 3), Json::object());
  j.state = job_state_from(r.text_at(i, 4)).value_or(JobState::kWaiting);
  j.instructing_user = r.text_at(i, 5);
  j.managing_relay = r.text_at(i, 6);
  j.created_at = r.int_at(i, 7);
  j.not_before = r.int_at(i, 8);
  j.execute_at = r.opt_int_at(i, 9);
  j.expires_at = r.opt_int_at(i, 10);
  j.executed_at = r.opt_int_at(i, 11);
  j.updated_at = r.int_at(i, 12);
  j.acknowledged = r.bool_at(i, 13);
  j.result = json_or(r.text_at(i, 14), Json::object());
  return j;
}

constexpr const char* kAlertColumns =
    "id, serial, report_id, code, type, urgency, message, raised_at, open, acknowledged_at, "
    "acknowledged_by";

Alert read_alert(const Rows& r, int i) {
  Alert a;
  a.id = r.int_at(i, 0);
  a.serial = r.text_at(i, 1);
  a.report_id = r.text_at(i, 2);
  a.code = r.text_at(i, 3);
  a.type = r.text_at(i, 4);
  a.urgency = urgency_from(r.text_at(i, 5)).value_or(Urgency::kHigh);
  a.message = r.text_at(i, 6);
  a.raised_at = r.int_at(i, 7);
  a.open = r.bool_at(i, 8);
  a.acknowledged_at = r.opt_int_at(i, 9);
  a.acknowledged_by = r.text_at(i, 10);
  return a;
}

constexpr const char* kDeviceColumns =
    "serial, model, token_hash, enrolled_at, last_seen, state, boot_id, firmware";

Device read_device(const Rows& r, int i) {
  Device d;
  d.serial = r.text_at(i, 0);
  d.model = r.text_at(i, 1);
  d.token_hash = r.text_at(i, 2);
  d.enrolled_at = r.int_at(i, 3);
  d.last_seen = r.int_at(i, 4);
  d.state = r.text_at(i, 5);
  d.boot_id = r.text_at(i, 6);
  d.firmware = json_or(r.text_at(i, 7), Json::object());
  return d;
}

constexpr const char* kRegistrationColumns =
    "serial, model, place, customer, contact, enrollment_code_hash, created_at";

Registration read_registration(const Rows& r, int i) {
  Registration g;
  g.serial = r.text_at(i, 0);
  g.model = r.text_at(i, 1);
  g.place = r.text_at(i, 2);
  g.customer = r.text_at(i, 3);
  g.contact = r.text_at(i, 4);
  g.enrollment_code_hash = r.text_at(i, 5);
  g.created_at = r.int_at(i, 6);
  return g;
}

AdminCredential read_admin(const Rows& r, int i) {
  AdminCredential c;
  c.name = r.text_at(i, 0);
  c.role = role_from(r.text_at(i, 1)).value_or(Role::kViewer);
  c.token_hash = r.text_at(i, 2);
  c.created_at = r.int_at(i, 3);
  c.customers = customers_from(r.text_at(i, 4));
  return c;
}

constexpr const char* kFirmwareHistoryColumns =
    "id, serial, at, event, component, version, artifact, job_id, detail";

FirmwareHistoryEntry read_firmware_history(const Rows& r, int i) {
  FirmwareHistoryEntry e;
  e.id = r.int_at(i, 0);
  e.serial = r.text_at(i, 1);
  e.at = r.int_at(i, 2);
  e.event = r.text_at(i, 3);
  e.component = r.text_at(i, 4);
  e.version = r.text_at(i, 5);
  e.artifact = r.text_at(i, 6);
  e.job_id = r.text_at(i, 7);
  e.detail = json_or(r.text_at(i, 8), Json::object());
  return e;
}

constexpr const char* kCampaignColumns = "id, name, state, created_at, updated_at, revision, doc";

constexpr const char* kSettingsColumns = "name, revision, updated_at, updated_by, body";

SettingsDoc read_settings(const Rows& r, int i) {
  SettingsDoc d;
  d.name = r.text_at(i, 0);
  d.revision = r.int_at(i, 1);
  d.updated_at = r.int_at(i, 2);
  d.updated_by = r.text_at(i, 3);
  d.body = json_or(r.text_at(i, 4), Json());
  return d;
}

constexpr const char* kNotificationColumns =
    "id, created_at, event_type, serial, channel, target, rule, subject, text, payload, state, "
    "attempts, next_attempt_at, last_error, sent_at";

NotificationRecord read_notification(const Rows& r, int i) {
  NotificationRecord n;
  n.id = r.int_at(i, 0);
  n.created_at = r.int_at(i, 1);
  n.event_type = r.text_at(i, 2);
  n.serial = r.text_at(i, 3);
  n.channel = r.text_at(i, 4);
  n.target = r.text_at(i, 5);
  n.rule = r.text_at(i, 6);
  n.subject = r.text_at(i, 7);
  n.text = r.text_at(i, 8);
  n.payload = json_or(r.text_at(i, 9), Json::object());
  n.state = r.text_at(i, 10);
  n.attempts = static_cast<int>(r.int_at(i, 11));
  n.next_attempt_at = r.int_at(i, 12);
  n.last_error = r.text_at(i, 13);
  n.sent_at = r.opt_int_at(i, 14);
  return n;
}

CampaignRecord read_campaign(const Rows& r, int i) {
  CampaignRecord c;
  c.id = r.text_at(i, 0);
  c.name = r.text_at(i, 1);
  c.state = r.text_at(i, 2);
  c.created_at = r.int_at(i, 3);
  c.updated_at = r.int_at(i, 4);
  c.revision = r.int_at(i, 5);
  c.doc = json_or(r.text_at(i, 6), Json::object());
  return c;
}

JobTransition read_transition(const Rows& r, int i) {
  JobTransition t;
  t.job_id = r.text_at(i, 0);
  t.at = r.int_at(i, 1);
  t.from = job_state_from(r.text_at(i, 2)).value_or(JobState::kWaiting);
  t.to = job_state_from(r.text_at(i, 3)).value_or(JobState::kWaiting);
  t.cause = r.text_at(i, 4);
  return t;
}

// Every row, read with `read`; a failed query is the error, not an empty list.
template <typename T, typename Read>
Result<std::vector<T>> read_rows(const Result<Rows>& rows, Read read) {
  if (!rows) return rows.error();
  std::vector<T> out;
  out.reserve(static_cast<std::size_t>(rows->size()));
  for (int i = 0; i < rows->size(); ++i) out.push_back(read(*rows, i));
  return out;
}

// The first row; not found (with `what` in the message) when there is none.
template <typename T, typename Read>
Result<T> read_one(const Result<Rows>& rows, Read read, const std::string& what) {
  if (!rows) return rows.error();
  if (rows->empty()) return not_found(what + " not found");
  return read(*rows, 0);
}

// The single integer a COUNT(*) query yields.
Result<std::int64_t> read_count(const Result<Rows>& rows) {
  if (!rows) return rows.error();
  if (rows->empty()) return unavailable("count query returned no row");
  return rows->int_at(0, 0);
}

Status insert_transition(Connection& c, const JobTransition& t) {
  return c.exec(
      "INSERT INTO job_transitions (job_id, at, from_state, to_state, cause) "
      "VALUES ($1, $2, $3, $4, $5)",
      params(t.job_id, t.at, to_string(t.from), to_string(t.to), t.cause));
}

// Writes every field of an existing job; not found when there is no job with that id.
Status write_job(Connection& c, const Job& j) {
  auto rows = c.query(
      "UPDATE jobs SET serial = $1, kind = $2, params = $3, state = $4, instructing_user = $5, "
      "managing_relay = $6, created_at = $7, not_before = $8, execute_at = $9, expires_at = $10, "
      "executed_at = $11, updated_at = $12, acknowledged = $13, result = $14 WHERE id = $15",
      params(j.serial, to_string(j.kind), json_text(j.params), to_string(j.state),
             j.instructing_user, j.managing_relay, j.created_at, j.not_before, j.execute_at,
             j.expires_at, j.executed_at, j.updated_at, j.acknowledged, json_text(j.result), j.id));
  if (!rows) return rows.error();
  if (rows->affected() == 0) return not_found("job " + j.id + " not found");
  return ok_status();
}

// One connection serialized by a mutex: enough for one relay node's load today (the relay
// batches heartbeats and reports). A connection pool is the next step if the store becomes the
// bottleneck; the contract (every call one transaction) does not change with it.
class PostgresStore final : public Store {
 public:
  explicit PostgresStore(const std::string& conninfo) : conninfo_(conninfo), db_(conninfo) {
    schema_version_ = postgres::migrate(db_);
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
    auto st = db_.exec(
        "INSERT INTO registrations (serial, model, place, customer, contact, "
        "enrollment_code_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (serial) DO UPDATE SET model = excluded.model, place = excluded.place, "
        "customer = excluded.customer, contact = excluded.contact, "
        "enrollment_code_hash = excluded.enrollment_code_hash, created_at = excluded.created_at",
        params(r.serial, r.model, r.place, r.customer, r.contact, r.enrollment_code_hash,
               r.created_at));
    if (!st) return st;
    if (auto n = announce(kDirectoryChanged); !n) return n;
    return tx.commit();
  }

  Result<Registration> get_registration(const std::string& serial) override {
    std::lock_guard lock(mu_);
    return read_one<Registration>(db_.query(std::string("SELECT ") + kRegistrationColumns +
                                                " FROM registrations WHERE serial = $1",
                                            params(serial)),
                                  read_registration, "registration " + serial);
  }

  Result<std::vector<Registration>> list_registrations() override {
    std::lock_guard lock(mu_);
    return read_rows<Registration>(db_.query(std::string("SELECT ") + kRegistrationColumns +
                                             " FROM registrations ORDER BY serial"),
                                   read_registration);
  }

  Status delete_registration(const std::string& serial) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto rows = db_.query("DELETE FROM registrations WHERE serial = $1", params(serial));
    if (!rows) return rows.error();
    if (rows->affected() == 0) return not_found("registration " + serial + " not found");
    if (auto n = announce(kDirectoryChanged); !n) return n;
    return tx.commit();
  }

  // --- devices ---

  Status put_device(const Device& d) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto st = db_.exec(
        "INSERT INTO devices (serial, model, token_hash, enrolled_at, last_seen, state, boot_id, "
        "firmware) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (serial) DO UPDATE SET model = excluded.model, "
        "token_hash = excluded.token_hash, enrolled_at = excluded.enrolled_at, "
        "last_seen = excluded.last_seen, state = excluded.state, boot_id = excluded.boot_id, "
        "firmware = excluded.firmware",
        params(d.serial, d.model, d.token_hash, d.enrolled_at, d.last_seen, d.state, d.boot_id,
               json_text(d.firmware)));
    if (!st) return st;
    if (auto n = announce(kDirectoryChanged); !n) return n;
    return tx.commit();
  }

  Result<Device> get_device(const std::string& serial) override {
    std::lock_guard lock(mu_);
    return read_one<Device>(
        db_.query(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE serial = $1",
                  params(serial)),
        read_device, "device " + serial);
  }

  Result<Device> find_device_by_token_hash(const std::string& token_hash) override {
    std::lock_guard lock(mu_);
    return read_one<Device>(
        db_.query(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE token_hash = $1",
                  params(token_hash)),
        read_device, "device with that credential");
  }

  Result<std::vector<Device>> list_devices() override {
    std::lock_guard lock(mu_);
    return read_rows<Device>(
        db_.query(std::string("SELECT ") + kDeviceColumns + " FROM devices ORDER BY serial"),
        read_device);
  }

  // Sightings of unknown serials are ignored, and so is a sighting older than the one stored:
  // batches may be flushed out of order, and last-seen must never go back in time.
  Status record_sightings(const std::vector<DeviceSighting>& sightings) override {
    if (sightings.empty()) return ok_status();
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    for (const auto& v : sightings) {
      auto st = db_.exec(
          "UPDATE devices SET last_seen = $1, state = $2, boot_id = $3, firmware = $4 "
          "WHERE serial = $5 AND last_seen <= $1",
          params(v.last_seen, v.state, v.boot_id, json_text(v.firmware), v.serial));
      if (!st) return st;
    }
    return tx.commit();
  }

  Status set_poll_policy(const std::string& serial, const PollPolicy& p) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto st = db_.exec(
        "INSERT INTO poll_policies (serial, policy) VALUES ($1, $2) "
        "ON CONFLICT (serial) DO UPDATE SET policy = excluded.policy",
        params(serial, json_text(to_json(p))));
    if (!st) return st;
    return tx.commit();
  }

  Result<std::optional<PollPolicy>> get_poll_policy(const std::string& serial) override {
    std::lock_guard lock(mu_);
    auto rows = db_.query("SELECT policy FROM poll_policies WHERE serial = $1", params(serial));
    if (!rows) return rows.error();
    if (rows->empty()) return std::optional<PollPolicy>();
    // Only set_poll_policy writes the column, from a parsed policy: a row that no longer parses
    // was edited by hand, and the default is the safe reading of it.
    auto p = parse_poll_policy(json_or(rows->text_at(0, 0), Json()));
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
    if (auto st = db_.exec("SELECT pg_advisory_xact_lock($1)", params(kReportAppendLockKey)); !st) {
      return st.error();
    }
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
    std::string sql = std::string("SELECT ") + kReportColumns + " FROM reports WHERE TRUE";
    std::vector<postgres::Param> values;
    int n = 0;
    if (!q.serial.empty()) {
      sql += " AND serial = " + placeholder(n);
      values.push_back(q.serial);
    }
    if (!q.kind.empty()) {
      sql += " AND kind = " + placeholder(n);
      values.push_back(q.kind);
    }
    if (q.since) {
      sql += " AND created_at >= " + placeholder(n);
      values.push_back(postgres::param(*q.since));
    }
    if (q.until) {
      sql += " AND created_at < " + placeholder(n);
      values.push_back(postgres::param(*q.until));
    }
    if (q.after_seq) {
      sql += " AND seq > " + placeholder(n) + " ORDER BY seq ASC";
      values.push_back(postgres::param(*q.after_seq));
    } else {
      sql += " ORDER BY seq DESC";
    }
    sql += " LIMIT " + placeholder(n);
    values.push_back(postgres::param(q.limit));

    std::lock_guard lock(mu_);
    return read_rows<StoredReport>(db_.query(sql, values), read_report);
  }

  // "Newest" is by created_at (then reception number): an agent sends alerts ahead of its
  // outbox backlog, so an older report of a kind may arrive after a newer one.
  Result<std::map<std::string, StoredReport>> latest_reports(const std::string& serial) override {
    std::map<std::string, StoredReport> latest;
    std::lock_guard lock(mu_);
    auto rows = db_.query(std::string("SELECT DISTINCT ON (kind) ") + kReportColumns +
                              " FROM reports WHERE serial = $1 "
                              "ORDER BY kind, created_at DESC, seq DESC",
                          params(serial));
    auto found = read_rows<StoredReport>(rows, read_report);
    if (!found) return found.error();
    for (auto& r : *found) {
      std::string kind = r.report.kind;
      latest.emplace(std::move(kind), std::move(r));
    }
    return latest;
  }

  // One index seek per device on (serial, kind, created_at).
  Result<std::map<std::string, StoredReport>> latest_of_kind(const std::string& kind) override {
    std::map<std::string, StoredReport> latest;
    std::lock_guard lock(mu_);
    auto rows = db_.query(std::string("SELECT ") + kReportColumns +
                              " FROM reports WHERE seq IN (SELECT (SELECT r.seq FROM reports r "
                              "WHERE r.serial = d.serial AND r.kind = $1 ORDER BY r.created_at "
                              "DESC, r.seq DESC LIMIT 1) FROM devices d)",
                          params(kind));
    auto found = read_rows<StoredReport>(rows, read_report);
    if (!found) return found.error();
    for (auto& r : *found) {
      std::string serial = r.serial;
      latest.emplace(std::move(serial), std::move(r));
    }
    return latest;
  }

  Result<std::int64_t> count_reports(const std::string& serial) override {
    std::lock_guard lock(mu_);
    if (serial.empty()) return read_count(db_.query("SELECT COUNT(*) FROM reports"));
    return read_count(db_.query("SELECT COUNT(*) FROM reports WHERE serial = $1", params(serial)));
  }

  // --- jobs ---

  Status create_job(const Job& j, const JobTransition& created) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto st = db_.exec(
        std::string("INSERT INTO jobs (") + kJobColumns +
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
            "$14, $15)",
        params(j.id, j.serial, to_string(j.kind), json_text(j.params), to_string(j.state),
               j.instructing_user, j.managing_relay, j.created_at, j.not_before, j.execute_at,
               j.expires_at, j.executed_at, j.updated_at, j.acknowledged, json_text(j.result)));
    if (!st) {
      if (st.error().kind == ErrorKind::kConflict)
        return conflict("job " + j.id + " already exists");
      return st;
    }
    if (auto t = insert_transition(db_, created); !t) return t;
    if (auto n = announce(j.serial); !n) return n;
    return tx.commit();
  }

  Result<Job> get_job(const std::string& id) override {
    std::lock_guard lock(mu_);
    return read_one<Job>(
        db_.query(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = $1", params(id)),
        read_job, "job " + id);
  }

  Result<std::vector<Job>> list_jobs(const JobQuery& q) override {
    if (q.limit <= 0) return std::vector<Job>();
    std::string sql = std::string("SELECT ") + kJobColumns + " FROM jobs WHERE TRUE";
    std::vector<postgres::Param> values;
    int n = 0;
    if (!q.serial.empty()) {
      sql += " AND serial = " + placeholder(n);
      values.push_back(q.serial);
    }
    if (q.state) {
      sql += " AND state = " + placeholder(n);
      values.push_back(std::string(to_string(*q.state)));
    }
    // The SQL form of in_default_list (core/job_flow.h), so that hidden jobs are not even read;
    // in_default_list is still applied below and stays the definition.
    if (!q.all) {
      sql += " AND (state IN " + open_states_sql() +
             " OR (state = 'failed' AND NOT acknowledged)"
             " OR (state IN ('succeeded', 'cancelled', 'expired') AND updated_at > " +
             placeholder(n) + "))";
      values.push_back(postgres::param(q.now - q.retention_ms));
    }
    sql += " ORDER BY created_at DESC, id DESC LIMIT " + placeholder(n);
    values.push_back(postgres::param(q.limit));

    std::lock_guard lock(mu_);
    auto found = read_rows<Job>(db_.query(sql, values), read_job);
    if (!found) return found.error();
    std::vector<Job> jobs;
    for (auto& j : *found) {
      if (q.all || in_default_list(j, q.now, q.retention_ms)) jobs.push_back(std::move(j));
    }
    return jobs;
  }

  Result<std::vector<Job>> open_jobs(const std::string& serial) override {
    std::lock_guard lock(mu_);
    return read_rows<Job>(db_.query(std::string("SELECT ") + kJobColumns +
                                        " FROM jobs WHERE serial = $1 AND state IN " +
                                        open_states_sql() + " ORDER BY created_at ASC, id ASC",
                                    params(serial)),
                          read_job);
  }

  Result<std::vector<Job>> open_jobs_of_kind(JobKind kind) override {
    std::lock_guard lock(mu_);
    return read_rows<Job>(db_.query(std::string("SELECT ") + kJobColumns +
                                        " FROM jobs WHERE kind = $1 AND state IN " +
                                        open_states_sql() + " ORDER BY created_at ASC, id ASC",
                                    params(std::string(to_string(kind)))),
                          read_job);
  }

  Result<std::int64_t> count_open_jobs() override {
    std::lock_guard lock(mu_);
    return read_count(
        db_.query(std::string("SELECT COUNT(*) FROM jobs WHERE state IN ") + open_states_sql()));
  }

  Result<std::vector<Job>> expirable_jobs() override {
    std::lock_guard lock(mu_);
    return read_rows<Job>(db_.query(std::string("SELECT ") + kJobColumns +
                                    " FROM jobs WHERE state IN " + open_states_sql() +
                                    " AND expires_at IS NOT NULL ORDER BY expires_at ASC, id ASC"),
                          read_job);
  }

  Status update_job(const Job& j, const std::optional<JobTransition>& t) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    if (auto st = write_job(db_, j); !st) return st;
    if (t) {
      if (auto st = insert_transition(db_, *t); !st) return st;
    }
    if (auto n = announce(j.serial); !n) return n;
    return tx.commit();
  }

  // The job is written first (not found ends it), then the event is inserted with
  // ON CONFLICT DO NOTHING: when the event id was recorded before, nothing comes back and the
  // transaction rolls back the job write. Two nodes racing on one event serialize on the job's
  // row lock and then on the event's unique index; the second one sees the first's event.
  Result<bool> record_job_event(const JobEvent& e, const Job& j,
                                const std::optional<JobTransition>& t) override {
    if (e.job_id != j.id) {
      return bad_input("event " + e.event_id + " is for job " + e.job_id + ", not " + j.id);
    }
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    if (auto st = write_job(db_, j); !st) return st.error();
    auto inserted = db_.query(
        "INSERT INTO job_events (event_id, job_id, type, at, reason, detail) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        params(e.event_id, e.job_id, to_string(e.type), e.at, e.reason, json_text(e.detail)));
    if (!inserted) return inserted.error();
    if (inserted->empty()) return false;  // recorded before; the rollback undoes the job write
    if (t) {
      if (auto tr = insert_transition(db_, *t); !tr) return tr.error();
    }
    if (auto c = tx.commit(); !c) return c.error();
    return true;
  }

  Result<std::vector<JobTransition>> list_transitions(const std::string& job_id) override {
    std::lock_guard lock(mu_);
    return read_rows<JobTransition>(
        db_.query("SELECT job_id, at, from_state, to_state, cause FROM job_transitions "
                  "WHERE job_id = $1 ORDER BY id ASC",
                  params(job_id)),
        read_transition);
  }

  // --- alerts ---

  // Newest first; an empty serial lists every device's alerts.
  Result<std::vector<Alert>> list_alerts(const std::string& serial, bool open_only) override {
    std::string sql = std::string("SELECT ") + kAlertColumns + " FROM alerts WHERE TRUE";
    std::vector<postgres::Param> values;
    if (!serial.empty()) {
      sql += " AND serial = $1";
      values.push_back(serial);
    }
    if (open_only) sql += " AND open";
    sql += " ORDER BY id DESC";
    std::lock_guard lock(mu_);
    return read_rows<Alert>(db_.query(sql, values), read_alert);
  }

  // Acknowledging twice keeps the first acknowledgement: who looked first, and when, is what
  // the service center wants to see.
  Result<Alert> acknowledge_alert(std::int64_t id, const std::string& user, TimeMs now) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto st = db_.exec(
        "UPDATE alerts SET open = FALSE, acknowledged_at = $1, acknowledged_by = $2 "
        "WHERE id = $3 AND open",
        params(now, user, id));
    if (!st) return st.error();
    auto alert = read_one<Alert>(
        db_.query(std::string("SELECT ") + kAlertColumns + " FROM alerts WHERE id = $1",
                  params(id)),
        read_alert, "alert " + std::to_string(id));
    if (!alert) return alert;
    if (auto c = tx.commit(); !c) return c.error();
    return alert;
  }

  Result<std::map<std::string, int>> open_alert_counts() override {
    std::map<std::string, int> counts;
    std::lock_guard lock(mu_);
    auto rows = db_.query("SELECT serial, COUNT(*) FROM alerts WHERE open GROUP BY serial");
    if (!rows) return rows.error();
    for (int i = 0; i < rows->size(); ++i) {
      counts[rows->text_at(i, 0)] = static_cast<int>(rows->int_at(i, 1));
    }
    return counts;
  }

  // --- firmware update history ---

  Result<std::int64_t> append_firmware_history(const FirmwareHistoryEntry& e) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    if (auto st = db_.exec("SELECT pg_advisory_xact_lock($1)", params(kFirmwareHistoryLockKey));
        !st) {
      return st.error();
    }
    auto inserted = db_.query(
        "INSERT INTO firmware_history (serial, at, event, component, version, artifact, job_id, "
        "detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        params(e.serial, e.at, e.event, e.component, e.version, e.artifact, e.job_id,
               json_text(e.detail)));
    if (!inserted) return inserted.error();
    if (inserted->empty()) return unavailable("firmware history insert returned no id");
    const std::int64_t id = inserted->int_at(0, 0);
    if (auto c = tx.commit(); !c) return c.error();
    return id;
  }

  Result<std::vector<FirmwareHistoryEntry>> list_firmware_history(const std::string& serial,
                                                                  int limit) override {
    if (limit <= 0) return std::vector<FirmwareHistoryEntry>();
    std::string sql = std::string("SELECT ") + kFirmwareHistoryColumns + " FROM firmware_history";
    std::vector<postgres::Param> values;
    int n = 0;
    if (!serial.empty()) {
      sql += " WHERE serial = " + placeholder(n);
      values.push_back(serial);
    }
    sql += " ORDER BY id DESC LIMIT " + placeholder(n);
    values.push_back(postgres::param(limit));
    std::lock_guard lock(mu_);
    return read_rows<FirmwareHistoryEntry>(db_.query(sql, values), read_firmware_history);
  }

  // --- firmware campaigns ---

  Status create_campaign(const CampaignRecord& c) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto st = db_.exec(std::string("INSERT INTO campaigns (") + kCampaignColumns +
                           ") VALUES ($1, $2, $3, $4, $5, 1, $6)",
                       params(c.id, c.name, c.state, c.created_at, c.updated_at, json_text(c.doc)));
    if (!st) {
      if (st.error().kind == ErrorKind::kConflict)
        return conflict("campaign " + c.id + " already exists");
      return st;
    }
    return tx.commit();
  }

  Result<CampaignRecord> get_campaign(const std::string& id) override {
    std::lock_guard lock(mu_);
    return read_one<CampaignRecord>(
        db_.query(std::string("SELECT ") + kCampaignColumns + " FROM campaigns WHERE id = $1",
                  params(id)),
        read_campaign, "campaign " + id);
  }

  Result<std::vector<CampaignRecord>> list_campaigns() override {
    std::lock_guard lock(mu_);
    return read_rows<CampaignRecord>(db_.query(std::string("SELECT ") + kCampaignColumns +
                                               " FROM campaigns ORDER BY created_at DESC, id DESC"),
                                     read_campaign);
  }

  // Compare-and-set on the revision. Two nodes updating at once serialize on the row lock; the
  // second one's WHERE is re-checked against the first one's committed row, matches nothing and
  // ends as a conflict.
  Result<std::int64_t> update_campaign(const CampaignRecord& c) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto updated = db_.query(
        "UPDATE campaigns SET name = $3, state = $4, updated_at = $5, doc = $6, "
        "revision = revision + 1 WHERE id = $1 AND revision = $2 RETURNING revision",
        params(c.id, c.revision, c.name, c.state, c.updated_at, json_text(c.doc)));
    if (!updated) return updated.error();
    if (updated->empty()) {
      auto found = db_.query("SELECT revision FROM campaigns WHERE id = $1", params(c.id));
      if (!found) return found.error();
      if (found->empty()) return not_found("campaign " + c.id + " not found");
      return conflict("campaign " + c.id + " is at revision " +
                      std::to_string(found->int_at(0, 0)) + ", not " + std::to_string(c.revision));
    }
    const std::int64_t revision = updated->int_at(0, 0);
    if (auto cm = tx.commit(); !cm) return cm.error();
    return revision;
  }

  // --- service-center tables ---

  Result<SettingsDoc> get_settings(const std::string& name) override {
    std::lock_guard lock(mu_);
    return read_one<SettingsDoc>(
        db_.query(std::string("SELECT ") + kSettingsColumns + " FROM settings WHERE name = $1",
                  params(name)),
        read_settings, "table " + name);
  }

  Result<std::vector<SettingsDoc>> list_settings() override {
    std::lock_guard lock(mu_);
    return read_rows<SettingsDoc>(
        db_.query(std::string("SELECT ") + kSettingsColumns + " FROM settings ORDER BY name"),
        read_settings);
  }

  // Two nodes putting at once: the row lock (FOR UPDATE), or for a first put the primary key,
  // makes the second one see the first one's revision and end as a conflict.
  Result<std::int64_t> put_settings(const SettingsDoc& d, std::int64_t expected_revision) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto found =
        db_.query("SELECT revision FROM settings WHERE name = $1 FOR UPDATE", params(d.name));
    if (!found) return found.error();
    const std::int64_t current = found->empty() ? 0 : found->int_at(0, 0);
    if (current != expected_revision) {
      return conflict("table " + d.name + " is at revision " + std::to_string(current) + ", not " +
                      std::to_string(expected_revision) +
                      " (someone else changed it: read it again)");
    }
    auto st = current == 0
                  ? db_.exec(
                        "INSERT INTO settings (name, revision, updated_at, updated_by, body) "
                        "VALUES ($1, 1, $2, $3, $4)",
                        params(d.name, d.updated_at, d.updated_by, json_text(d.body)))
                  : db_.exec(
                        "UPDATE settings SET revision = $2, updated_at = $3, updated_by = $4, "
                        "body = $5 WHERE name = $1",
                        params(d.name, current + 1, d.updated_at, d.updated_by, json_text(d.body)));
    if (!st) {
      if (st.error().kind == ErrorKind::kConflict)
        return conflict("table " + d.name + " was created meanwhile (read it again)");
      return st.error();
    }
    if (auto c = tx.commit(); !c) return c.error();
    return current + 1;
  }

  // --- alerts raised by the monitoring center ---

  Result<std::optional<std::int64_t>> raise_alert(const Alert& a) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    // Serializes raisers of one device's alerts across nodes for this transaction.
    if (auto l = db_.query("SELECT pg_advisory_xact_lock(hashtext($1))", params(a.serial)); !l)
      return l.error();
    auto open = db_.query(
        "SELECT id FROM alerts WHERE serial = $1 AND type = $2 AND code = $3 AND open LIMIT 1",
        params(a.serial, a.type, a.code));
    if (!open) return open.error();
    if (!open->empty()) return std::optional<std::int64_t>();
    auto ins = db_.query(
        "INSERT INTO alerts (serial, report_id, code, type, urgency, message, raised_at, open, "
        "acknowledged_at, acknowledged_by) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, NULL, '') "
        "RETURNING id",
        params(a.serial, a.report_id, a.code, a.type, to_string(a.urgency), a.message,
               a.raised_at));
    if (!ins) return ins.error();
    const std::int64_t id = ins->int_at(0, 0);
    if (auto c = tx.commit(); !c) return c.error();
    return std::optional<std::int64_t>(id);
  }

  Result<std::vector<Alert>> resolve_alerts(const std::string& serial, const std::string& type,
                                            const std::string& code, const std::string& by,
                                            TimeMs now) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto rows = db_.query(
        std::string("UPDATE alerts SET open = FALSE, acknowledged_at = $1, acknowledged_by = $2 "
                    "WHERE serial = $3 AND type = $4 AND open AND ($5 = '' OR code = $5) "
                    "RETURNING ") +
            kAlertColumns,
        params(now, by, serial, type, code));
    if (!rows) return rows.error();
    auto closed = read_rows<Alert>(rows, read_alert);
    if (auto c = tx.commit(); !c) return c.error();
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
      auto ins = db_.query(
          "INSERT INTO notifications (created_at, event_type, serial, channel, target, rule, "
          "subject, text, payload, state, attempts, next_attempt_at, last_error, sent_at) VALUES "
          "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id",
          params(n.created_at, n.event_type, n.serial, n.channel, n.target, n.rule, n.subject,
                 n.text, json_text(n.payload), n.state, n.attempts, n.next_attempt_at, n.last_error,
                 n.sent_at));
      if (!ins) return ins.error();
      ids.push_back(ins->int_at(0, 0));
    }
    if (auto c = tx.commit(); !c) return c.error();
    return ids;
  }

  // SKIP LOCKED: two nodes claiming at once take different notifications.
  Result<std::vector<NotificationRecord>> claim_notifications(TimeMs now, TimeMs lease_until,
                                                              int limit) override {
    if (limit <= 0) return std::vector<NotificationRecord>();
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun().error();
    auto rows = db_.query(
        std::string("UPDATE notifications SET next_attempt_at = $2 WHERE id IN (SELECT id FROM "
                    "notifications WHERE state = 'pending' AND next_attempt_at <= $1 ORDER BY "
                    "next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) RETURNING ") +
            kNotificationColumns,
        params(now, lease_until, limit));
    auto due = read_rows<NotificationRecord>(rows, read_notification);
    if (!due) return due.error();
    if (auto c = tx.commit(); !c) return c.error();
    std::sort(due->begin(), due->end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    return due;
  }

  Status update_notification(const NotificationRecord& n) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto rows = db_.query(
        "UPDATE notifications SET state = $2, attempts = $3, next_attempt_at = $4, "
        "last_error = $5, sent_at = $6 WHERE id = $1 RETURNING id",
        params(n.id, n.state, n.attempts, n.next_attempt_at, n.last_error, n.sent_at));
    if (!rows) return rows.error();
    if (rows->empty()) return not_found("notification " + std::to_string(n.id) + " not found");
    return tx.commit();
  }

  Result<std::vector<NotificationRecord>> list_notifications(const std::string& serial,
                                                             int limit) override {
    if (limit <= 0) return std::vector<NotificationRecord>();
    std::lock_guard lock(mu_);
    std::string sql = std::string("SELECT ") + kNotificationColumns + " FROM notifications";
    if (!serial.empty()) {
      return read_rows<NotificationRecord>(
          db_.query(sql + " WHERE serial = $1 ORDER BY id DESC LIMIT $2", params(serial, limit)),
          read_notification);
    }
    return read_rows<NotificationRecord>(
        db_.query(sql + " ORDER BY id DESC LIMIT $1", params(limit)), read_notification);
  }

  // --- admin credentials ---

  Status put_admin_credential(const AdminCredential& c) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto st = db_.exec(
        "INSERT INTO admin_credentials (name, role, token_hash, created_at, customers) "
        "VALUES ($1, $2, $3, $4, $5)",
        params(c.name, to_string(c.role), c.token_hash, c.created_at, customers_text(c)));
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
    return read_one<AdminCredential>(
        db_.query("SELECT name, role, token_hash, created_at, customers FROM admin_credentials "
                  "WHERE token_hash = $1",
                  params(token_hash)),
        read_admin, "admin credential");
  }

  Result<std::vector<AdminCredential>> list_admin_credentials() override {
    std::lock_guard lock(mu_);
    return read_rows<AdminCredential>(
        db_.query("SELECT name, role, token_hash, created_at, customers FROM admin_credentials "
                  "ORDER BY name"),
        read_admin);
  }

  Status delete_admin_credential(const std::string& name) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    auto rows = db_.query("DELETE FROM admin_credentials WHERE name = $1", params(name));
    if (!rows) return rows.error();
    if (rows->affected() == 0) return not_found("no credential named " + name);
    // Every node drops its cached credentials on this announcement.
    if (auto a = announce(kDirectoryChanged); !a) return a;
    return tx.commit();
  }

 private:
  // One report inside append_reports' transaction (mu_ held). The insert comes first: a new
  // report (the common case) costs one round trip; a duplicate falls through to the lookup.
  Result<StoredReceipt> append_one(const std::string& serial, const IncomingReport& in,
                                   TimeMs now) {
    // Without a valid id a retry could never be recognised; the relay validates first, this
    // keeps a caller that did not from storing what cannot be deduplicated.
    if (!is_valid_id(in.report.id)) return bad_input("report id '" + in.report.id + "' is invalid");
    StoredReceipt receipt;
    receipt.report_id = in.report.id;
    auto inserted = db_.query(
        "INSERT INTO reports (serial, report_id, kind, created_at, received_at, sha256, "
        "canonical) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (serial, report_id) DO NOTHING RETURNING seq",
        params(serial, in.report.id, in.report.kind, in.report.created_at, now, in.sha256,
               canonical_report(in.report)));
    if (!inserted) return inserted.error();
    if (inserted->empty()) {
      auto found = db_.query(
          "SELECT seq, received_at, sha256 FROM reports WHERE serial = $1 AND report_id = $2",
          params(serial, in.report.id));
      if (!found) return found.error();
      if (found->empty()) return unavailable("report " + in.report.id + " conflicted but is gone");
      receipt.seq = found->int_at(0, 0);
      receipt.received_at = found->int_at(0, 1);
      receipt.sha256 = found->text_at(0, 2);
      receipt.duplicate = true;
      return receipt;
    }
    receipt.seq = inserted->int_at(0, 0);
    receipt.received_at = now;
    receipt.sha256 = in.sha256;
    if (!in.alert) return receipt;

    // The alert belongs to this report: its serial and report id come from the report.
    const Alert& a = *in.alert;
    auto alert = db_.query(
        "INSERT INTO alerts (serial, report_id, code, type, urgency, message, raised_at, open, "
        "acknowledged_at, acknowledged_by) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, NULL, '') "
        "RETURNING id",
        params(serial, in.report.id, a.code, a.type, std::string(to_string(a.urgency)), a.message,
               a.raised_at != 0 ? a.raised_at : now));
    if (!alert) return alert.error();
    receipt.alert_id = alert->int_at(0, 0);
    return receipt;
  }

  // --- upstream outbox ---

  Status enqueue_upstream(const std::vector<UpstreamItem>& items) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    if (!tx.begun()) return tx.begun();
    for (const auto& it : items) {
      auto st = db_.exec(
          "INSERT INTO upstream_outbox (kind, serial, body, queued_at) VALUES ($1, $2, $3, $4)",
          params(it.kind, it.serial, json_text(it.body), it.queued_at));
      if (!st) return st;
    }
    return tx.commit();
  }

  Result<std::vector<UpstreamItem>> peek_upstream(int limit) override {
    std::lock_guard lock(mu_);
    auto rows = db_.query(
        "SELECT seq, kind, serial, body, queued_at FROM upstream_outbox ORDER BY seq LIMIT $1",
        params(std::int64_t(limit)));
    return read_rows<UpstreamItem>(rows, [](const Rows& r, int i) {
      return UpstreamItem{r.int_at(i, 0), r.text_at(i, 1), r.text_at(i, 2),
                          json_or(r.text_at(i, 3), Json::object()), r.int_at(i, 4)};
    });
  }

  Status ack_upstream(std::int64_t seq) override {
    std::lock_guard lock(mu_);
    return db_.exec("DELETE FROM upstream_outbox WHERE seq <= $1", params(seq));
  }

  Result<std::int64_t> count_upstream() override {
    std::lock_guard lock(mu_);
    return read_count(db_.query("SELECT COUNT(*) FROM upstream_outbox"));
  }

  bool watch_jobs_changed(std::function<void(const std::string&)> on_change) override {
    std::lock_guard lock(listener_mu_);
    listener_ = std::make_unique<postgres::Listener>(conninfo_, kJobsChannel, std::move(on_change));
    return true;
  }

  void unwatch_jobs_changed() override {
    std::lock_guard lock(listener_mu_);
    listener_.reset();
  }

  // Inside a transaction: delivered to every node's listener when (and only if) it commits.
  Status announce(const std::string& payload) {
    return db_.exec("SELECT pg_notify('" + std::string(kJobsChannel) + "', $1)", params(payload));
  }

  static constexpr const char* kJobsChannel = "printrelay_jobs";
  std::string conninfo_;
  std::mutex mu_;
  Connection db_;
  int schema_version_ = 0;
  std::mutex listener_mu_;
  std::unique_ptr<postgres::Listener> listener_;  // last: stopped before the rest goes
};

}  // namespace

std::unique_ptr<Store> open_postgres_store(const std::string& conninfo) {
  return std::make_unique<PostgresStore>(conninfo);
}

}  // namespace printrelay
