#include "store/postgres/migrations.h"

#include <chrono>
#include <stdexcept>

#include "clock/wall_clock.h"

namespace printrelay::postgres {

// Times are BIGINT milliseconds since the Unix epoch (UTC), as in the SQLite store. JSON values
// are TEXT, not JSONB: the canonical report text must come back byte for byte (its hash is the
// receipt's), and JSONB would reorder keys. No foreign key points from reports or jobs to devices
// (a job may target a registered device not yet enrolled; a parent relay stores reports of
// devices it has never seen).
const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all = {
      {1, R"sql(
CREATE TABLE registrations (
  serial TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  place TEXT NOT NULL,
  customer TEXT NOT NULL,
  contact TEXT NOT NULL,
  enrollment_code_hash TEXT NOT NULL,
  created_at BIGINT NOT NULL
);

CREATE TABLE devices (
  serial TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  token_hash TEXT NOT NULL,
  enrolled_at BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  state TEXT NOT NULL,
  boot_id TEXT NOT NULL,
  firmware TEXT NOT NULL
);
CREATE INDEX devices_token_hash ON devices (token_hash);

CREATE TABLE poll_policies (
  serial TEXT PRIMARY KEY,
  policy TEXT NOT NULL
);

-- seq is the reception number. A sequence never hands out a number twice, even after a
-- rollback, so a receipt's number identifies one report forever (numbers may have gaps).
CREATE TABLE reports (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  serial TEXT NOT NULL,
  report_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  received_at BIGINT NOT NULL,
  sha256 TEXT NOT NULL,
  canonical TEXT NOT NULL,
  UNIQUE (serial, report_id)
);
CREATE INDEX reports_serial_kind_created ON reports (serial, kind, created_at);
CREATE INDEX reports_kind ON reports (kind);
CREATE INDEX reports_created ON reports (created_at);

CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  serial TEXT NOT NULL,
  kind TEXT NOT NULL,
  params TEXT NOT NULL,
  state TEXT NOT NULL,
  instructing_user TEXT NOT NULL,
  managing_relay TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  not_before BIGINT NOT NULL,
  execute_at BIGINT,
  expires_at BIGINT,
  executed_at BIGINT,
  updated_at BIGINT NOT NULL,
  acknowledged BOOLEAN NOT NULL,
  result TEXT NOT NULL
);
CREATE INDEX jobs_serial_created ON jobs (serial, created_at);
CREATE INDEX jobs_created ON jobs (created_at);
CREATE INDEX jobs_state ON jobs (state);

CREATE TABLE job_transitions (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  at BIGINT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  cause TEXT NOT NULL
);
CREATE INDEX job_transitions_job ON job_transitions (job_id, id);

CREATE TABLE job_events (
  event_id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  type TEXT NOT NULL,
  at BIGINT NOT NULL,
  reason TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX job_events_job ON job_events (job_id);

CREATE TABLE alerts (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  serial TEXT NOT NULL,
  report_id TEXT NOT NULL,
  code TEXT NOT NULL,
  type TEXT NOT NULL,
  urgency TEXT NOT NULL,
  message TEXT NOT NULL,
  raised_at BIGINT NOT NULL,
  open BOOLEAN NOT NULL,
  acknowledged_at BIGINT,
  acknowledged_by TEXT NOT NULL
);
CREATE INDEX alerts_serial_open ON alerts (serial, open);
CREATE INDEX alerts_open ON alerts (open);

CREATE TABLE admin_credentials (
  name TEXT PRIMARY KEY,
  role TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at BIGINT NOT NULL
);
)sql"},
      // A child relay's queue of what it still owes its parent, in the order it was accepted.
      {2, R"sql(
CREATE TABLE upstream_outbox (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind TEXT NOT NULL,
  serial TEXT NOT NULL,
  body TEXT NOT NULL,
  queued_at BIGINT NOT NULL
);
)sql"},
      // Firmware update history per device (seed 002) and firmware campaigns. A campaign's plan,
      // waves and per-device jobs live in `doc`, read and written whole; `revision` lets several
      // relay nodes on one store detect a lost update (update_campaign compares and sets it).
      {3, R"sql(
CREATE TABLE firmware_history (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  serial TEXT NOT NULL,
  at BIGINT NOT NULL,
  event TEXT NOT NULL,
  component TEXT NOT NULL,
  version TEXT NOT NULL,
  artifact TEXT NOT NULL,
  job_id TEXT NOT NULL,
  detail TEXT NOT NULL
);
CREATE INDEX firmware_history_serial ON firmware_history (serial, id);

CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  revision BIGINT NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX campaigns_created ON campaigns (created_at);
)sql"},
      // The service center's tables (code tables, monitoring and notification rules), and the
      // notification outbox that is also the record of what was sent.
      {4, R"sql(
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  revision BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  updated_by TEXT NOT NULL,
  body TEXT NOT NULL
);

CREATE TABLE notifications (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at BIGINT NOT NULL,
  event_type TEXT NOT NULL,
  serial TEXT NOT NULL,
  channel TEXT NOT NULL,
  target TEXT NOT NULL,
  rule TEXT NOT NULL,
  subject TEXT NOT NULL,
  text TEXT NOT NULL,
  payload TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at BIGINT NOT NULL,
  last_error TEXT NOT NULL,
  sent_at BIGINT
);
CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
CREATE INDEX notifications_serial ON notifications (serial, id);
CREATE INDEX alerts_serial_type_code_open ON alerts (serial, type, code, open);
)sql"},
      // A child relay's scope: the customers it serves, as a JSON array ("[]": none). Child
      // relays made before had the whole fleet: they keep it (["*"]) until an operator narrows
      // it, or their syncs would be refused and the items they hold dropped.
      {5, R"sql(
ALTER TABLE admin_credentials ADD COLUMN customers TEXT NOT NULL DEFAULT '[]';
UPDATE admin_credentials SET customers = '["*"]' WHERE role = 'relay';
)sql"},
  };
  return all;
}

namespace {

// pg_advisory_lock key of schema migrations ("prntrlay" in ASCII); shared by every printrelay
// node on one database.
constexpr std::int64_t kMigrationLockKey = 0x70726e74726c6179;

// Holds the session advisory lock; releases it on every way out of migrate().
class MigrationLock {
 public:
  explicit MigrationLock(Connection& c)
      : c_(c), taken_(c_.exec("SELECT pg_advisory_lock($1)", params(kMigrationLockKey))) {}
  MigrationLock(const MigrationLock&) = delete;
  MigrationLock& operator=(const MigrationLock&) = delete;
  ~MigrationLock() {
    if (taken_) (void)c_.exec("SELECT pg_advisory_unlock($1)", params(kMigrationLockKey));
  }
  const Status& taken() const { return taken_; }

 private:
  Connection& c_;
  Status taken_;
};

}  // namespace

int migrate(Connection& c) {
  auto fail = [&c](const std::string& what) {
    return std::runtime_error("cannot migrate PostgreSQL store " + c.describe() + ": " + what);
  };
  MigrationLock lock(c);
  if (!lock.taken()) throw fail(lock.taken().error().message);
  auto created = c.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      "version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)");
  if (!created) throw fail(created.error().message);
  auto current = c.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
  if (!current) throw fail(current.error().message);
  int version = static_cast<int>(current->int_at(0, 0));
  const int known = migrations().back().version;
  if (version > known) {
    throw fail("its schema version " + std::to_string(version) +
               " is newer than this build supports (" + std::to_string(known) +
               "); run a newer printrelay");
  }
  for (const auto& m : migrations()) {
    if (m.version <= version) continue;
    Transaction tx(c);
    if (!tx.begun()) throw fail(tx.begun().error().message);
    // Without parameters libpq sends the simple query protocol, which runs several statements.
    if (auto st = c.exec(m.sql); !st) {
      throw fail("migration " + std::to_string(m.version) + ": " + st.error().message);
    }
    auto ins = c.exec("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                      params(m.version, wall_clock_ms()));
    if (!ins) throw fail(ins.error().message);
    if (auto st = tx.commit(); !st) throw fail(st.error().message);
    version = m.version;
  }
  return version;
}

}  // namespace printrelay::postgres
