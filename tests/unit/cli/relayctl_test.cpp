// Command-level behaviour that needs no relay: usage errors, missing settings, unreachable relay.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/relayctl.h"
#include "relayctl_fixture.h"

namespace printrelay::cli {
namespace {

TEST(Relayctl, MissingUrlIsUsageErrorNamingTheVariable) {
  auto r = run({"devices"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("PRINTRELAY_URL"), std::string::npos) << r.err;
  r = run({"jobs", "--url", "https://127.0.0.1:1"});
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("PRINTRELAY_TOKEN"), std::string::npos) << r.err;
}

TEST(Relayctl, BadArgumentsExit2) {
  EXPECT_EQ(run({}).rc, kExitUsage);
  EXPECT_EQ(run({"nonsense"}).rc, kExitUsage);
  EXPECT_EQ(run({"jobs", "create", "collect", "--serial", "S"}).rc, kExitUsage);  // no --data-sets
  const Env env = unreachable_relay_env();
  auto r = run({"jobs", "create", "configure", "--serial", "S", "--set", "novalue"}, env);
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("key=value"), std::string::npos) << r.err;
  EXPECT_EQ(run({"reports", "--since", "yesterday"}, env).rc, kExitUsage);
  EXPECT_EQ(run({"reports", "--limit", "5000"}, env).rc, kExitUsage);
  EXPECT_EQ(run({"credentials", "create", "--name", "n", "--role", "root"}, env).rc, kExitUsage);
  EXPECT_EQ(run({"watch", "--kinds", "alert,toner"}, env).rc, kExitUsage);
  EXPECT_EQ(run({"--help"}).rc, kExitOk);
}

TEST(Relayctl, UnreachableRelayExit1) {
  const Env env = unreachable_relay_env();
  auto r = run({"devices"}, env);
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_EQ(r.err.rfind("error: cannot reach relay at http://127.0.0.1:1: ", 0), 0u) << r.err;
  r = run({"jobs", "show", "j-1", "--json"}, env);  // global flag after the subcommand
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_NE(r.err.find("cannot reach relay"), std::string::npos) << r.err;
}

TEST(Relayctl, BillingChecksThePeriodBeforeCallingTheRelay) {
  const Env env = unreachable_relay_env();
  EXPECT_EQ(run({"billing"}, env).rc, kExitUsage);
  EXPECT_EQ(run({"billing", "export", "--to", "-0s"}, env).rc, kExitUsage);  // no --from
  auto r = run({"billing", "export", "--from", "last month", "--to", "-0s"}, env);
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("--from"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("cannot reach"), std::string::npos) << r.err;
  r = run({"billing", "show", "--from", "-30d", "--to", "-0s"}, env);
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_NE(r.err.find("cannot reach relay"), std::string::npos) << r.err;
  r = run({"billing", "export", "--from", "-30d", "--to", "-0s", "--out", "/nonexistent/b.csv"},
          env);
  EXPECT_EQ(r.rc, kExitFailed);  // the relay is asked first; nothing is written
  EXPECT_NE(r.err.find("cannot reach relay"), std::string::npos) << r.err;
}

TEST(Relayctl, ImportValidatesWholeFileBeforeSending) {
  auto path = std::filesystem::temp_directory_path() / "relayctl-import-test.csv";
  std::ofstream(path) << "serial,model,place,customer,contact,enrollment_code\n"
                         "SIM-1,MX,,,,c1\n"
                         "SIM 2,MX,,,,c2\n";
  // The URL is unreachable: a validation failure must be reported before any connection.
  auto r = run({"registrations", "import", path.c_str()}, unreachable_relay_env());
  std::filesystem::remove(path);
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_NE(r.err.find("line 3: serial"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("cannot reach"), std::string::npos) << r.err;
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace printrelay::cli
