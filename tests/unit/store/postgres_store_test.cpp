// Runs the Store conformance suite against PostgreSQL, plus what only the PostgreSQL store
// promises: migrations recorded once even when several nodes open the store at once, clear
// startup errors, values that never become SQL.
//
// The server is a throwaway one started once per test binary (pg_server.h), or the one named by
// PRINTRELAY_PG_CONNINFO. Each test gets a schema of its own, dropped when the test ends.
#include "store/postgres/postgres_store.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "must.h"
#include "pg_server.h"
#include "store_suite.h"

namespace printrelay::testing {
namespace {

// The conninfo of the server the tests use, starting the throwaway server on first use. Throws
// (failing the test that asked, with the reason) when no server can be had.
std::string server_conninfo() {
  static std::once_flag once;
  static std::unique_ptr<PgServer> server;
  static std::string conninfo;
  static std::string failure;
  std::call_once(once, [] {
    if (const char* env = std::getenv("PRINTRELAY_PG_CONNINFO"); env && *env) {
      conninfo = env;
      return;
    }
    try {
      server = std::make_unique<PgServer>();
      conninfo = server->conninfo();
    } catch (const std::exception& e) {
      failure = std::string("cannot start the PostgreSQL test server: ") + e.what();
    }
  });
  if (!failure.empty()) throw std::runtime_error(failure);
  return conninfo;
}

// Runs one statement through a separate libpq connection, as an operator's psql would; returns
// the rows as text.
std::vector<std::vector<std::string>> query(const std::string& conninfo, const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  std::vector<std::vector<std::string>> rows;
  if (PQstatus(c) != CONNECTION_OK) {
    ADD_FAILURE() << "cannot connect: " << PQerrorMessage(c);
    PQfinish(c);
    return rows;
  }
  // DROP SCHEMA ... CASCADE lists every table it drops; nothing a test reader needs.
  PQsetNoticeProcessor(
      c, [](void*, const char*) {}, nullptr);
  PGresult* r = PQexec(c, sql.c_str());
  const auto status = PQresultStatus(r);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
  }
  for (int i = 0; i < PQntuples(r); ++i) {
    std::vector<std::string> row;
    for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetvalue(r, i, j));
    rows.push_back(std::move(row));
  }
  PQclear(r);
  PQfinish(c);
  return rows;
}

// A schema of its own on the test server; dropped with everything in it on destruction.
class TempSchema {
 public:
  TempSchema() : server_(server_conninfo()) {
    static std::atomic<int> counter{0};
    name_ = "printrelay_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
    query(server_, "CREATE SCHEMA " + name_);
  }
  ~TempSchema() { query(server_, "DROP SCHEMA IF EXISTS " + name_ + " CASCADE"); }
  TempSchema(const TempSchema&) = delete;
  TempSchema& operator=(const TempSchema&) = delete;

  // Connects with this schema first in the search path, so the store's tables land in it.
  std::string conninfo() const { return server_ + " options='-c search_path=" + name_ + "'"; }
  // Drops the schema and its tables now (the destructor then finds nothing to drop).
  void drop() { query(server_, "DROP SCHEMA IF EXISTS " + name_ + " CASCADE"); }
  const std::string& server() const { return server_; }
  const std::string& name() const { return name_; }

 private:
  std::string server_;
  std::string name_;
};

class PostgresBackend : public StoreBackend {
 public:
  std::unique_ptr<Store> open() override { return open_postgres_store(schema_.conninfo()); }
  void break_storage() override { schema_.drop(); }

 private:
  TempSchema schema_;
};

INSTANTIATE_TEST_SUITE_P(Postgres, StoreSuite,
                         ::testing::Values(StoreSuiteParam{
                             "postgres", [] { return std::make_unique<PostgresBackend>(); }}),
                         store_suite_name);

// The server closes the store's connection (a restart, a failover, an administrator's
// pg_terminate_backend): the read that meets the closed connection is an error, not an empty
// answer, and the next one reconnects and reads what is there.
TEST(PostgresStore, ReadOnAClosedConnectionIsAnErrorAndTheNextReconnects) {
  TempSchema schema;
  // Named, so that exactly the store's connection can be found and closed.
  const std::string app = schema.name();
  auto store = open_postgres_store(schema.conninfo() + " application_name=" + app);
  Registration r;
  r.serial = "MX-1";
  r.model = "MX-4071";
  ASSERT_TRUE(store->put_registration(r).ok());
  auto killed = query(schema.server(),
                      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE application_name = '" +
                          app + "'");
  ASSERT_EQ(killed, (std::vector<std::vector<std::string>>{{"t"}}))
      << "the store's connection was not found to close";
  auto after_close = store->list_registrations();
  ASSERT_FALSE(after_close.ok()) << "a read on a closed connection answered " << after_close->size()
                                 << " registrations";
  EXPECT_EQ(after_close.error().kind, ErrorKind::kUnavailable);
  auto reconnected = store->list_registrations();
  ASSERT_TRUE(reconnected.ok()) << reconnected.error().message;
  ASSERT_EQ(reconnected->size(), 1u);
  EXPECT_EQ(reconnected->front().serial, "MX-1");
}

TEST(PostgresStore, MigrationsAreRecordedAndNotReappliedOnReopen) {
  TempSchema schema;
  auto store = open_postgres_store(schema.conninfo());
  auto versions = query(schema.conninfo(), "SELECT version, applied_at > 0 FROM schema_migrations");
  ASSERT_FALSE(versions.empty());
  EXPECT_EQ(versions.back()[0], std::to_string(store->schema_version()));
  EXPECT_EQ(versions.back()[1], "t");
  store.reset();
  auto before = query(schema.conninfo(), "SELECT version, applied_at FROM schema_migrations");
  store = open_postgres_store(schema.conninfo());
  EXPECT_EQ(query(schema.conninfo(), "SELECT version, applied_at FROM schema_migrations"), before);
}

// Several relay nodes starting at once on an empty database: the advisory lock lets one migrate
// and the others find the schema ready, instead of failing on "relation already exists".
TEST(PostgresStore, ConcurrentOpensMigrateOnce) {
  TempSchema schema;
  constexpr int kNodes = 4;
  std::vector<std::thread> nodes;
  std::atomic<int> opened{0};
  for (int i = 0; i < kNodes; ++i) {
    nodes.emplace_back([&] {
      try {
        auto store = open_postgres_store(schema.conninfo());
        if (store->schema_version() > 0) ++opened;
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& n : nodes) n.join();
  EXPECT_EQ(opened.load(), kNodes);
  auto counts =
      query(schema.conninfo(), "SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations");
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0][0], counts[0][1]);
}

TEST(PostgresStore, RefusesSchemaFromNewerBuild) {
  TempSchema schema;
  open_postgres_store(schema.conninfo());
  query(schema.conninfo(), "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 1)");
  try {
    open_postgres_store(schema.conninfo());
    FAIL() << "opened a schema with version 9999";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
}

TEST(PostgresStore, UnreachableServerIsAStartupErrorNamingItWithoutThePassword) {
  // Port 1 on loopback: nothing listens there, the connection is refused at once.
  const std::string conninfo =
      "host=127.0.0.1 port=1 dbname=fleet user=relay password=s3cret connect_timeout=2";
  try {
    open_postgres_store(conninfo);
    FAIL() << "connected to " << conninfo;
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("127.0.0.1"), std::string::npos) << what;
    EXPECT_NE(what.find("fleet"), std::string::npos) << what;
    EXPECT_EQ(what.find("s3cret"), std::string::npos) << what;
  }
}

// Two relay nodes (two connections) append while a third pages with after_seq, as a parent
// relay or the service center follows the report stream. A reader that has seen number N must
// never later find a number below N committed: that report would be skipped for good. The
// append lock makes numbers follow commit order across connections.
TEST(PostgresStore, ReaderFollowingAfterSeqMissesNothingWithTwoWriters) {
  TempSchema schema;
  auto node_a = open_postgres_store(schema.conninfo());
  auto node_b = open_postgres_store(schema.conninfo());
  auto reader = open_postgres_store(schema.conninfo());
  constexpr int kBatches = 40;
  constexpr int kBatch = 5;
  std::atomic<int> writers_done{0};
  auto write = [&](Store& store, const std::string& serial) {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<IncomingReport> in(kBatch);
      for (int i = 0; i < kBatch; ++i) {
        in[i].report.id = "r-" + std::to_string(b * kBatch + i);
        in[i].report.kind = "counters";
        in[i].sha256 = "00";
      }
      if (auto res = store.append_reports(serial, in, b); !res.ok()) {
        ADD_FAILURE() << res.error().message;
      }
    }
    ++writers_done;
  };
  std::thread a(write, std::ref(*node_a), "MX-A");
  std::thread b(write, std::ref(*node_b), "MX-B");
  std::set<std::int64_t> seen;
  std::int64_t cursor = 0;
  auto page = [&] {
    ReportQuery q;
    q.after_seq = cursor;
    q.limit = 1000;
    for (const auto& r : must(reader->list_reports(q))) {
      seen.insert(r.seq);
      cursor = r.seq;
    }
  };
  while (writers_done.load() < 2) page();
  a.join();
  b.join();
  page();
  EXPECT_EQ(static_cast<std::int64_t>(seen.size()), must(reader->count_reports("")));
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(2 * kBatches * kBatch));
}

// Two relay nodes (two connections) changing one campaign at once: each update is a
// compare-and-set on the revision, so a writer working from a stale read gets a conflict instead
// of overwriting the other's change. Retrying from a fresh read, no increment is lost.
TEST(PostgresStore, CampaignUpdatesFromTwoNodesLoseNothing) {
  TempSchema schema;
  auto node_a = open_postgres_store(schema.conninfo());
  auto node_b = open_postgres_store(schema.conninfo());
  CampaignRecord c;
  c.id = "c-1";
  c.name = "rollout";
  c.state = "running";
  c.doc = {{"count", 0}};
  ASSERT_TRUE(node_a->create_campaign(c).ok());
  constexpr int kPerNode = 40;
  std::atomic<int> conflicts{0};
  auto bump = [&](Store& store) {
    for (int i = 0; i < kPerNode; ++i) {
      for (;;) {
        auto cur = store.get_campaign("c-1");
        if (!cur.ok()) {
          ADD_FAILURE() << cur.error().message;
          return;
        }
        cur->doc["count"] = cur->doc["count"].get<int>() + 1;
        auto res = store.update_campaign(*cur);
        if (res.ok()) break;
        if (res.error().kind != ErrorKind::kConflict) {
          ADD_FAILURE() << res.error().message;
          return;
        }
        ++conflicts;
      }
    }
  };
  std::thread a(bump, std::ref(*node_a));
  std::thread b(bump, std::ref(*node_b));
  a.join();
  b.join();
  auto got = node_b->get_campaign("c-1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->doc["count"], 2 * kPerNode);
  EXPECT_EQ(got->revision, 1 + 2 * kPerNode);
  RecordProperty("conflicts", conflicts.load());
}

// Values travel as parameters: quotes, semicolons and backslashes in ids are data, not SQL.
TEST(PostgresStore, HostileValuesAreStoredVerbatim) {
  TempSchema schema;
  auto store = open_postgres_store(schema.conninfo());
  const std::string serial = "MX-1'); DROP TABLE reports; --\\";
  IncomingReport in;
  in.report.id = "r-1";
  in.report.kind = "counters";
  in.report.created_at = 1;
  in.sha256 = "00";
  ASSERT_TRUE(store->append_reports(serial, {in}, 2).ok());
  Registration r;
  r.serial = serial;
  r.place = "O'Brien's print room; $1 $2";
  ASSERT_TRUE(store->put_registration(r).ok());
  EXPECT_EQ(must(store->count_reports(serial)), 1);
  EXPECT_EQ(must(store->list_reports({}))[0].serial, serial);
  EXPECT_EQ(store->get_registration(serial)->place, r.place);
}

// What a relay node's watcher has been told, for the cross-node tests below.
class Announcements {
 public:
  void add(const std::string& serial) {
    std::lock_guard lock(mu_);
    serials_.push_back(serial);
    cv_.notify_all();
  }
  // True once `serial` was announced; gives up after a generous bound (not a timing assertion:
  // delivery takes milliseconds, the bound only keeps a broken build from hanging).
  bool wait_for(const std::string& serial) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] {
      return std::find(serials_.begin(), serials_.end(), serial) != serials_.end();
    });
  }
  std::vector<std::string> all() {
    std::lock_guard lock(mu_);
    return serials_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> serials_;
};

Job collect_job(const std::string& id, const std::string& serial) {
  Job j;
  j.id = id;
  j.serial = serial;
  j.kind = JobKind::kCollect;
  j.params = {{"data_sets", {"counters"}}};
  j.instructing_user = "alice";
  j.managing_relay = "root";
  j.created_at = j.not_before = j.updated_at = 1000;
  return j;
}

// A job created or cancelled through node A is announced to node B's watcher (LISTEN/NOTIFY):
// how a device long-polling B is woken by a job posted on A.
TEST(PostgresStore, JobChangesOnOneNodeAreAnnouncedToTheOthers) {
  TempSchema schema;
  auto node_a = open_postgres_store(schema.conninfo());
  auto node_b = open_postgres_store(schema.conninfo());
  Announcements seen_by_b;
  ASSERT_TRUE(node_b->watch_jobs_changed([&](const std::string& s) { seen_by_b.add(s); }));

  Job j = collect_job("j-x1", "MX-CROSS-1");
  ASSERT_TRUE(node_a->create_job(j, {j.id, 1000, JobState::kWaiting, JobState::kWaiting, "new"}));
  EXPECT_TRUE(seen_by_b.wait_for("MX-CROSS-1"));

  j.state = JobState::kCancelled;
  j.updated_at = 2000;
  j.serial = "MX-CROSS-1";
  ASSERT_TRUE(node_a->update_job(j, JobTransition{j.id, 2000, JobState::kWaiting,
                                                  JobState::kCancelled, "cancelled by alice"}));
  // A second announcement for the same serial (the first is already in the list).
  auto count = [&] {
    auto all = seen_by_b.all();
    return std::count(all.begin(), all.end(), std::string("MX-CROSS-1"));
  };
  for (int i = 0; i < 400 && count() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GE(count(), 2);
  node_b->unwatch_jobs_changed();
}

// Registrations and device credentials changed through one node are announced too, so that the
// child relays waiting at every node receive the new directory.
TEST(PostgresStore, DirectoryChangesAreAnnouncedToTheOtherNodes) {
  TempSchema schema;
  auto node_a = open_postgres_store(schema.conninfo());
  auto node_b = open_postgres_store(schema.conninfo());
  Announcements seen_by_b;
  ASSERT_TRUE(node_b->watch_jobs_changed([&](const std::string& s) { seen_by_b.add(s); }));
  Registration r;
  r.serial = "MX-DIR-1";
  r.model = "MX";
  r.enrollment_code_hash = "h";
  ASSERT_TRUE(node_a->put_registration(r).ok());
  EXPECT_TRUE(seen_by_b.wait_for(Store::kDirectoryChanged));
  auto count = [&] {
    auto all = seen_by_b.all();
    return std::count(all.begin(), all.end(), std::string(Store::kDirectoryChanged));
  };
  Device d;
  d.serial = "MX-DIR-1";
  d.model = "MX";
  d.token_hash = "t";
  d.enrolled_at = 1;
  ASSERT_TRUE(node_a->put_device(d).ok());
  ASSERT_TRUE(node_a->delete_registration("MX-DIR-1").ok());
  // A revoked admin or relay credential: every node drops it from its cache.
  ASSERT_TRUE(node_a->put_admin_credential({"ops-1", Role::kOperator, "th", 1}).ok());
  ASSERT_TRUE(node_a->delete_admin_credential("ops-1").ok());
  for (int i = 0; i < 400 && count() < 4; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(count(), 4);
  node_b->unwatch_jobs_changed();
}

// A job that is not committed (its id is taken) announces nothing: the notification rides the
// transaction.
TEST(PostgresStore, AFailedJobWriteAnnouncesNothing) {
  TempSchema schema;
  auto node_a = open_postgres_store(schema.conninfo());
  auto node_b = open_postgres_store(schema.conninfo());
  Announcements seen_by_b;
  ASSERT_TRUE(node_b->watch_jobs_changed([&](const std::string& s) { seen_by_b.add(s); }));
  Job first = collect_job("j-dup", "MX-FIRST");
  ASSERT_TRUE(
      node_a->create_job(first, {"j-dup", 1000, JobState::kWaiting, JobState::kWaiting, ""}));
  Job clash = collect_job("j-dup", "MX-CLASH");
  auto st = node_a->create_job(clash, {"j-dup", 1000, JobState::kWaiting, JobState::kWaiting, ""});
  ASSERT_FALSE(st.ok());
  // A later, good job is announced; by then the clash would have been delivered before it
  // (notifications arrive in commit order on one connection).
  Job later = collect_job("j-later", "MX-LATER");
  ASSERT_TRUE(
      node_a->create_job(later, {"j-later", 1000, JobState::kWaiting, JobState::kWaiting, ""}));
  ASSERT_TRUE(seen_by_b.wait_for("MX-LATER"));
  auto all = seen_by_b.all();
  EXPECT_EQ(std::count(all.begin(), all.end(), std::string("MX-CLASH")), 0);
  EXPECT_EQ(std::count(all.begin(), all.end(), std::string("MX-FIRST")), 1);
}

}  // namespace
}  // namespace printrelay::testing
