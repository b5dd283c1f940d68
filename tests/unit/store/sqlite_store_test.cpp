// Runs the Store conformance suite against SQLite, plus what only the SQLite store promises:
// WAL on the file, versioned migrations, clear startup errors.
#include "store/sqlite/sqlite_store.h"

#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "must.h"
#include "store_suite.h"

namespace printrelay::testing {
namespace {

namespace fs = std::filesystem;

// A database path of its own in the temp directory; removes the file and its WAL on exit.
class TempDatabase {
 public:
  TempDatabase() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() / ("printrelay-store-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(counter++) + ".db");
    remove_files();
  }
  ~TempDatabase() { remove_files(); }
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;

  std::string path() const { return path_.string(); }

 private:
  void remove_files() {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
      fs::remove(path_.string() + suffix, ec);
    }
  }
  fs::path path_;
};

class SqliteBackend : public StoreBackend {
 public:
  std::unique_ptr<Store> open() override { return open_sqlite_store(db_.path()); }
  // Through a second connection, as the sqlite3 shell would: the file then holds no table of the
  // store's, and every statement of the open store fails when it is prepared or stepped.
  void break_storage() override {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2(db_.path().c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
    std::vector<std::string> tables;
    sqlite3_exec(
        db, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        [](void* out, int, char** values, char**) {
          static_cast<std::vector<std::string>*>(out)->emplace_back(values[0]);
          return 0;
        },
        &tables, nullptr);
    ASSERT_FALSE(tables.empty());
    for (const auto& t : tables) {
      char* error = nullptr;
      EXPECT_EQ(sqlite3_exec(db, ("DROP TABLE " + t).c_str(), nullptr, nullptr, &error), SQLITE_OK)
          << (error ? error : "");
      sqlite3_free(error);
    }
    sqlite3_close(db);
  }

 private:
  TempDatabase db_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreSuite,
                         ::testing::Values(StoreSuiteParam{
                             "sqlite", [] { return std::make_unique<SqliteBackend>(); }}),
                         store_suite_name);

// Runs one query on the file through a separate connection, as an operator's sqlite3 shell would.
std::vector<std::vector<std::string>> query(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  std::vector<std::vector<std::string>> rows;
  sqlite3_exec(
      db, sql.c_str(),
      [](void* out, int n, char** values, char**) {
        std::vector<std::string> row;
        for (int i = 0; i < n; ++i) row.emplace_back(values[i] ? values[i] : "NULL");
        static_cast<std::vector<std::vector<std::string>>*>(out)->push_back(row);
        return 0;
      },
      &rows, nullptr);
  sqlite3_close(db);
  return rows;
}

TEST(SqliteStore, FileIsInWalModeWithMigrationsRecorded) {
  TempDatabase db;
  auto store = open_sqlite_store(db.path());
  EXPECT_EQ(query(db.path(), "PRAGMA journal_mode"),
            (std::vector<std::vector<std::string>>{{"wal"}}));
  auto versions = query(db.path(), "SELECT version, applied_at > 0 FROM schema_migrations");
  ASSERT_FALSE(versions.empty());
  EXPECT_EQ(versions.back()[0], std::to_string(store->schema_version()));
  EXPECT_EQ(versions.back()[1], "1");
}

TEST(SqliteStore, ReopenDoesNotReapplyMigrations) {
  TempDatabase db;
  open_sqlite_store(db.path());
  auto before = query(db.path(), "SELECT version, applied_at FROM schema_migrations");
  auto store = open_sqlite_store(db.path());
  EXPECT_EQ(query(db.path(), "SELECT version, applied_at FROM schema_migrations"), before);
}

TEST(SqliteStore, RefusesDatabaseFromNewerBuild) {
  TempDatabase db;
  open_sqlite_store(db.path());
  query(db.path(), "INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 1)");
  try {
    open_sqlite_store(db.path());
    FAIL() << "opened a database with schema version 9999";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(db.path()), std::string::npos) << e.what();
  }
}

TEST(SqliteStore, UnopenablePathIsAStartupErrorNamingThePath) {
  const std::string path = "/nonexistent-dir-for-printrelay/relay.db";
  try {
    open_sqlite_store(path);
    FAIL() << "opened " << path;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(SqliteStore, FileThatIsNotADatabaseIsAStartupError) {
  TempDatabase db;
  std::ofstream(db.path()) << "this is a printer driver, not a database\n"
                           << std::string(4096, 'x');
  EXPECT_THROW(open_sqlite_store(db.path()), std::runtime_error);
}

TEST(SqliteStore, InMemoryDatabaseWorks) {
  auto store = open_sqlite_store(":memory:");
  EXPECT_GT(store->schema_version(), 0);
  IncomingReport in;
  in.report.id = "r-1";
  in.report.kind = "boot";
  in.sha256 = "00";
  ASSERT_TRUE(store->append_reports("MX-1", {in}, 1).ok());
  EXPECT_EQ(must(store->count_reports("MX-1")), 1);
}

}  // namespace
}  // namespace printrelay::testing
