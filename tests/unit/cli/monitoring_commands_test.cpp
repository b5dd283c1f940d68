// `relayctl tables`, `notifications`, `monitoring` and `firmware authorise|authorisations|revoke`
// end to end against a fake relay that keeps the tables with revisions, checks them as the relay
// does (core/service_tables.h) and records what it received.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "cli/relayctl.h"
#include "cli/signing_keys.h"
#include "core/firmware_job.h"
#include "core/service_tables.h"
#include "core/time.h"
#include "net/signing.h"
#include "relayctl_fixture.h"

namespace printrelay::cli {
namespace {

constexpr TimeMs kDayMs = 86'400'000;
const std::string kMain2(64, 'a');   // MX-4070 main 2.0.0
const std::string kMain19(64, 'b');  // MX-4070 main 1.9.0
const std::string kAdf1(64, 'c');    // MX-4070 adf 1.0.0

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

Json manifest(const std::string& sha, const std::string& model, const std::string& component,
              const std::string& version, int size) {
  return {{"sha256", sha},
          {"kind", "firmware"},
          {"model", model},
          {"component", component},
          {"version", version},
          {"size", size},
          {"key_id", "0123456789abcdef"},
          {"signed_at", "2026-11-01T00:00:00Z"},
          {"signature", std::string(128, 'f')}};
}

class RelayctlMonitoring : public RelayctlFixture {
 protected:
  RelayctlMonitoring() : RelayctlFixture("center") {}

  struct StoredTable {
    std::int64_t revision = 0;
    std::string updated_at;
    std::string updated_by;
    Json body = Json::array();
  };

  std::vector<testing::FakeRequest> puts() const {
    std::vector<testing::FakeRequest> out;
    for (const auto& r : relay_->requests()) {
      if (r.method == "PUT") out.push_back(r);
    }
    return out;
  }

  StoredTable table(const std::string& name) {
    std::lock_guard lock(mu_);
    return tables_[name];
  }
  void set_table(const std::string& name, Json body, std::int64_t revision) {
    std::lock_guard lock(mu_);
    tables_[name] = {revision, "2026-11-20T08:00:00.000Z", "admin", std::move(body)};
  }
  std::string path(const std::string& name, const std::string& text) const {
    const std::string p = (tmp_.path() / name).string();
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

  Json table_json(const std::string& name, const StoredTable& t) const {
    Json j = {{"name", name},
              {"revision", t.revision},
              {"updated_by", t.updated_by},
              {"entries", t.body.is_array() ? t.body.size() : 1},
              {"body", t.body}};
    j["updated_at"] = t.updated_at.empty() ? Json() : Json(t.updated_at);
    return j;
  }

  // What the relay checks of a table (monitoring_center.cpp canonical_table()).
  static Status check_table(const std::string& name, const Json& body) {
    auto status_of = [](const auto& parsed) -> Status {
      if (!parsed) return parsed.error();
      return ok_status();
    };
    if (name == "error_codes") return status_of(parse_error_content_table(body));
    if (name == "order_codes") return status_of(parse_order_content_table(body));
    if (name == "auto_updates") return status_of(parse_auto_update_authorisations(body));
    return ok_status();
  }

  static testing::FakeResponse error(int status, const std::string& code,
                                     const std::string& message) {
    return {status, Json{{"error", {{"code", code}, {"message", message}}}}.dump()};
  }

  testing::FakeResponse answer(const testing::FakeRequest& req) override {
    std::lock_guard lock(mu_);
    const std::string prefix = "/v1/tables/";
    if (req.method == "GET" && req.path == "/v1/tables") {
      Json list = Json::array();
      for (const auto& name : kNames) {
        Json j = table_json(name, tables_[name]);
        j.erase("body");
        list.push_back(j);
      }
      return {200, Json{{"tables", list}}.dump()};
    }
    if (req.path.rfind(prefix, 0) == 0) {
      const std::string name = req.path.substr(prefix.size());
      if (std::find(kNames.begin(), kNames.end(), name) == kNames.end()) {
        return error(404, "not_found", "no table " + name);
      }
      StoredTable& t = tables_[name];
      if (req.method == "GET") return {200, table_json(name, t).dump()};
      if (req.method != "PUT") return error(404, "not_found", "no such endpoint");
      if (someone_else_changes_) ++t.revision;  // between the command's GET and its PUT
      const Json request = Json::parse(req.body);
      const std::int64_t revision = request.at("revision");
      if (revision != t.revision) {
        return error(409, "conflict",
                     "table " + name + " is at revision " + std::to_string(t.revision) + ", not " +
                         std::to_string(revision) + " (someone else changed it: read it again)");
      }
      if (auto st = check_table(name, request.at("body")); !st) {
        return error(400, "bad_input", st.error().message);
      }
      t = {t.revision + 1, "2026-11-23T10:00:00.789Z", "admin", request.at("body")};
      return {200, table_json(name, t).dump()};
    }
    if (req.method == "GET" && req.path == "/v1/artifacts") {
      return {200, Json{{"artifacts",
                         {manifest(kMain2, "MX-4070", "main", "2.0.0", 7),
                          manifest(kMain19, "MX-4070", "main", "1.9.0", 6),
                          manifest(kAdf1, "MX-4070", "adf", "1.0.0", 5),
                          manifest(std::string(64, 'd'), "MX-5000", "main", "3.0.0", 4)}}}
                       .dump()};
    }
    if (req.method == "GET" && req.path.rfind("/v1/notifications", 0) == 0) {
      return {200, Json{{"notifications",
                         {{{"id", 7},
                           {"created_at", "2026-11-23T09:00:00.000Z"},
                           {"event_type", "supply_low"},
                           {"serial", "SIM-1"},
                           {"channel", "email"},
                           {"target", "ops@example.com"},
                           {"rule", "toner"},
                           {"subject", "SIM-1: toner-black runs out in 3 days"},
                           {"state", "failed"},
                           {"attempts", 8},
                           {"last_error", "smtp: connection refused"},
                           {"sent_at", nullptr},
                           {"next_attempt_at", nullptr}}}}}
                       .dump()};
    }
    if (req.method == "GET" && req.path == "/v1/devices/SIM-1/monitoring") {
      return {200, monitoring_answer().dump()};
    }
    if (req.method == "GET" && req.path.rfind("/v1/devices/", 0) == 0) {
      return error(404, "not_found", "no device SIM-9");
    }
    return error(404, "not_found", "no such endpoint");
  }

  static Json monitoring_answer() {
    return {{"serial", "SIM-1"},
            {"model", "MX-4070"},
            {"structure_at", "2026-11-23T08:00:00.000Z"},
            {"structure",
             {{"model", "MX-4070"}, {"units", {{{"id", "main"}, {"software_version", "1.0.2"}}}}}},
            {"compatibility",
             {{"model", "MX-4070"},
              {"verdict", "incompatible"},
              {"findings",
               {{{"unit", "main"},
                 {"found_version", "1.0.2"},
                 {"kind", "version_incompatible"},
                 {"incompatible", true},
                 {"why", "main 1.0.2 is not compatible with MX-4070 (compatible: >=2.0.0)"},
                 {"recommended", "2.0.0"}}}},
              {"updates", {{"main", "2.0.0"}}},
              {"auto_update", true},
              {"summary", "main 1.0.2 is not compatible"}}},
            {"troubles",
             {{{"type", "repeated_jams"},
               {"subject", "tray2"},
               {"count", 3},
               {"window_h", 168},
               {"first_at", "2026-11-20T08:00:00.000Z"},
               {"last_at", "2026-11-23T07:00:00.000Z"},
               {"urgency", "normal"},
               {"meaning", "paper jams at tray 2 keep happening"},
               {"action", "check the pickup roller"},
               {"text", "Repeated jams at tray2: check the pickup roller; 3 in 7 days"}}}},
            {"forecasts",
             {{{"supply", "toner-black"},
               {"confidence", "ok"},
               {"level_pct", 12.0},
               {"last_reading_at", "2026-11-23T06:00:00.000Z"},
               {"replaced_at", nullptr},
               {"readings_used", 9},
               {"pct_per_day", 1.5},
               {"days_until_empty", 7.75},
               {"empty_at", "2026-12-01T04:00:00.000Z"},
               {"low", true},
               {"reason", "empty within the lead time"}}}},
            {"notes", Json::array()}};
  }

  // The envelope of an auto_updates entry, checked against the key; its parsed form.
  JobEnvelope verified_envelope(const Json& entry) const {
    const Json& e = entry.at("envelope");
    auto verified = verify_text(e.at("text").get<std::string>(),
                                e.at("signature").get<std::string>(), public_pem());
    EXPECT_TRUE(verified && *verified);
    auto env = parse_envelope_text(e.at("text").get<std::string>());
    EXPECT_TRUE(env) << env.error().message;
    return env ? *env : JobEnvelope{};
  }

  const std::vector<std::string> kNames = {"error_codes", "order_codes", "compatibility",
                                           "troubles",    "forecast",    "notification_rules",
                                           "auto_updates"};
  std::mutex mu_;
  std::map<std::string, StoredTable> tables_;
  bool someone_else_changes_ = false;
};

// ---------------- tables ----------------

TEST_F(RelayctlMonitoring, TablesListsEveryTable) {
  set_table("error_codes", Json::array({{{"code", "SC542"}, {"text", "Fuser"}}}), 3);
  auto r = run({"tables"}, env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(requests(1).at(0).path, "/v1/tables");
  EXPECT_TRUE(
      contains(r.out, "NAME                REVISION  ENTRIES  UPDATED AT           UPDATED BY\n"))
      << r.out;
  EXPECT_TRUE(
      contains(r.out, "error_codes         3         1        2026-11-20 08:00:00  admin\n"))
      << r.out;
  EXPECT_TRUE(contains(r.out, "auto_updates        0         0        -                    -\n"))
      << r.out;

  auto as_json = run({"tables", "--json"}, env());
  ASSERT_EQ(as_json.rc, kExitOk) << as_json.err;
  EXPECT_EQ(Json::parse(as_json.out)["tables"].size(), 7u);
}

TEST_F(RelayctlMonitoring, TablesShowPrintsCodeTablesAsATableAndOthersAsJson) {
  set_table("error_codes",
            Json::array({{{"code", "SC542"},
                          {"text", "Fuser temperature abnormal"},
                          {"action", "Replace the thermistor"},
                          {"urgency", "high"}}}),
            3);
  set_table("troubles", Json{{"jam_rate", {{"count", 5}}}}, 1);
  auto r = run({"tables", "show", "error_codes"}, env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(r.out,
            "CODE   URGENCY  TEXT                        ACTION\n"
            "SC542  high     Fuser temperature abnormal  Replace the thermistor\n");
  EXPECT_EQ(r.err, "error_codes: revision 3, 1 entry, updated 2026-11-20 08:00:00 by admin\n");

  auto troubles = run({"tables", "show", "troubles"}, env());
  ASSERT_EQ(troubles.rc, kExitOk) << troubles.err;
  EXPECT_EQ(troubles.out, "{\n  \"jam_rate\": {\n    \"count\": 5\n  }\n}\n");

  auto as_json = run({"tables", "show", "error_codes", "--json"}, env());
  ASSERT_EQ(as_json.rc, kExitOk) << as_json.err;
  const Json j = Json::parse(as_json.out);
  EXPECT_EQ(j["revision"], 3);
  EXPECT_EQ(j["body"][0]["code"], "SC542");

  auto unknown = run({"tables", "show", "toner"}, env());
  EXPECT_EQ(unknown.rc, kExitFailed);
  EXPECT_EQ(unknown.err, "error: no table toner (not_found, HTTP 404)\n");
}

TEST_F(RelayctlMonitoring, TablesPutJsonReadsTheRevisionThenPutsWithIt) {
  set_table("order_codes", Json::array(), 4);
  const std::string file =
      path("orders.json", R"([{"code": "TYPE2-K", "text": "Toner cartridge Type 2, black"}])");
  auto r = run({"tables", "put", "order_codes", file.c_str()}, env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(r.out, "order_codes revision 5 (1 entry)\n");
  auto sent = requests(2);
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].method, "GET");
  EXPECT_EQ(sent[0].path, "/v1/tables/order_codes");
  EXPECT_EQ(sent[1].method, "PUT");
  EXPECT_EQ(sent[1].path, "/v1/tables/order_codes");
  EXPECT_EQ(Json::parse(sent[1].body),
            (Json{{"body", {{{"code", "TYPE2-K"}, {"text", "Toner cartridge Type 2, black"}}}},
                  {"revision", 4}}));
  EXPECT_EQ(table("order_codes").revision, 5);
}

TEST_F(RelayctlMonitoring, TablesPutTakesCodeTablesAsCsv) {
  const std::string file = path("errors.csv",
                                "\xEF\xBB\xBF"
                                "code,urgency,text,action\r\n"
                                "SC542,high,\"Fuser temperature abnormal, 240\"\"C\",Replace the "
                                "thermistor\r\n"
                                "\r\n"
                                "J-TRAY2,,Jam at tray 2,\r\n");
  auto r = run({"tables", "put", "error_codes", file.c_str()}, env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(r.out, "error_codes revision 1 (2 entries)\n");
  const Json body = Json::parse(puts().at(0).body);
  EXPECT_EQ(body["revision"], 0);
  EXPECT_EQ(body["body"], (Json{{{"code", "SC542"},
                                 {"urgency", "high"},
                                 {"text", "Fuser temperature abnormal, 240\"C"},
                                 {"action", "Replace the thermistor"}},
                                {{"code", "J-TRAY2"}, {"text", "Jam at tray 2"}}}));
}

TEST_F(RelayctlMonitoring, TablesPutReadsStandardInput) {
  auto r = run({"tables", "put", "order_codes", "-"}, env(), "code,text\nTYPE2-K,Black toner\n");
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(Json::parse(puts().at(0).body)["body"],
            (Json{{{"code", "TYPE2-K"}, {"text", "Black toner"}}}));
}

TEST_F(RelayctlMonitoring, TablesPutBadCsvNamesTheLinesAndSendsNothing) {
  const std::string file = path("errors.csv",
                                "code,text,urgency\n"
                                "SC542,Fuser,urgent\n"
                                "SC543,,\n"
                                "SC544,Lamp\n"
                                "SC545,Drum,high\n"
                                "SC545,Drum again,low\n");
  auto r = run({"tables", "put", "error_codes", file.c_str()}, env());
  EXPECT_EQ(r.rc, kExitUsage);
  EXPECT_TRUE(contains(
      r.err, "error: " + file + ": line 2 (SC542): urgency must be low, normal, high or fatal\n"))
      << r.err;
  EXPECT_TRUE(contains(r.err, "line 3 (SC543): text must be 1-200 characters")) << r.err;
  EXPECT_TRUE(contains(r.err, "line 4: expected 3 fields, found 2\n")) << r.err;
  EXPECT_TRUE(contains(r.err, "line 6: code SC545 is listed twice (line 5)\n")) << r.err;
  EXPECT_TRUE(contains(r.err, "nothing was changed\n")) << r.err;
  EXPECT_TRUE(relay_->requests().empty());

  auto header = run({"tables", "put", "order_codes", "-"}, env(), "code,name\nA,B\n");
  EXPECT_EQ(header.rc, kExitUsage);
  EXPECT_TRUE(contains(header.err, "line 1: unknown column 'name' (header: code,text)"))
      << header.err;
  auto not_json = run({"tables", "put", "troubles", "-"}, env(), "jam_rate: 5\n");
  EXPECT_EQ(not_json.rc, kExitUsage);
  EXPECT_TRUE(contains(not_json.err, "error: standard input: not valid JSON: parse error"))
      << not_json.err;
  auto missing = run({"tables", "put", "troubles", "/nonexistent/t.json"}, env());
  EXPECT_EQ(missing.rc, kExitUsage);
  EXPECT_TRUE(contains(missing.err, "cannot read /nonexistent/t.json")) << missing.err;
  EXPECT_TRUE(relay_->requests().empty());
}

TEST_F(RelayctlMonitoring, TablesPutRefusedByTheRelayPrintsItsMessageAndChangesNothing) {
  set_table("error_codes", Json::array({{{"code", "SC542"}, {"text", "Fuser"}}}), 2);
  const std::string file =
      path("errors.json", R"([{"code": "SC542", "text": "Fuser"}, {"code": "SC543"}])");
  auto r = run({"tables", "put", "error_codes", file.c_str()}, env());
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_EQ(r.err,
            "error: error_codes[1]: 'text' is required (bad_input, HTTP 400)\n"
            "nothing was changed\n");
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(table("error_codes").revision, 2);
  EXPECT_EQ(table("error_codes").body.size(), 1u);
}

TEST_F(RelayctlMonitoring, TablesPutOfAStaleShowAnswerIsAConflict) {
  set_table("forecast", Json{{"lead_time_days", 7}}, 2);
  auto shown = run({"tables", "show", "forecast", "--json"}, env());
  ASSERT_EQ(shown.rc, kExitOk) << shown.err;
  Json edited = Json::parse(shown.out);
  edited["body"]["lead_time_days"] = 10;
  const std::string file = path("forecast.json", edited.dump(2));

  set_table("forecast", Json{{"lead_time_days", 5}}, 3);  // someone else, meanwhile
  auto r = run({"tables", "put", "forecast", file.c_str()}, env());
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_EQ(r.err,
            "error: table forecast is at revision 3, not 2 (someone else changed it: read it "
            "again) (conflict, HTTP 409)\n"
            "nothing was changed: forecast was changed meanwhile by someone else; read it again "
            "and retry\n");
  EXPECT_EQ(table("forecast").body, (Json{{"lead_time_days", 5}}));
  // The file's revision was used: no GET before the PUT.
  auto sent = requests(2);
  EXPECT_EQ(sent.back().method, "PUT");
  EXPECT_EQ(Json::parse(sent.back().body)["revision"], 2);

  auto other = run({"tables", "put", "troubles", file.c_str()}, env());
  EXPECT_EQ(other.rc, kExitUsage);
  EXPECT_TRUE(contains(other.err, "the file holds table forecast, not troubles")) << other.err;
}

TEST_F(RelayctlMonitoring, TablesPutChangedBetweenReadAndWriteIsAConflict) {
  someone_else_changes_ = true;
  auto r = run({"tables", "put", "order_codes", "-"}, env(), "code,text\nA,B\n");
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_TRUE(contains(r.err,
                       "(conflict, HTTP 409)\nnothing was changed: order_codes was changed "
                       "meanwhile by someone else"))
      << r.err;
}

// ---------------- notifications, monitoring ----------------

TEST_F(RelayctlMonitoring, NotificationsAreTheRecordOfWhatWasSent) {
  auto r = run({"notifications", "--serial", "SIM-1", "--limit", "20"}, env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(requests(1).at(0).path, "/v1/notifications?serial=SIM-1&limit=20");
  EXPECT_TRUE(contains(r.out,
                       "TIME                 EVENT       SERIAL  CHANNEL  TARGET           "
                       "RULE   STATE   ATTEMPTS  SENT  LAST ERROR\n"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "2026-11-23 09:00:00  supply_low  SIM-1   email    ops@example.com  "
                       "toner  failed  8         -     smtp: connection refused\n"))
      << r.out;

  auto as_json = run({"notifications", "--json"}, env());
  ASSERT_EQ(as_json.rc, kExitOk) << as_json.err;
  EXPECT_EQ(requests(2).at(1).path, "/v1/notifications");
  EXPECT_EQ(Json::parse(as_json.out)["notifications"][0]["id"], 7);

  EXPECT_EQ(run({"notifications", "--limit", "0"}, env()).rc, kExitUsage);
  auto bad = run({"notifications", "--serial", "SIM 1"}, env());
  EXPECT_EQ(bad.rc, kExitUsage);
  EXPECT_TRUE(contains(bad.err, "--serial must be")) << bad.err;
  EXPECT_EQ(relay_->requests().size(), 2u);
}

TEST_F(RelayctlMonitoring, MonitoringShowsVerdictTroublesAndForecasts) {
  auto r = run({"monitoring", "SIM-1"}, env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  EXPECT_EQ(requests(1).at(0).path, "/v1/devices/SIM-1/monitoring");
  EXPECT_TRUE(contains(r.out, "COMPATIBILITY  incompatible: main 1.0.2 is not compatible\n"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "main  1.0.2  version_incompatible  yes           2.0.0        main "
                       "1.0.2 is not compatible with MX-4070 (compatible: >=2.0.0)\n"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "RECOMMENDED VERSIONS (installed automatically when authorised)\n"
                       "UNIT  NOW    RECOMMENDED\n"
                       "main  1.0.2  2.0.0\n"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "repeated_jams  tray2    3      normal   2026-11-23 07:00:00  "
                       "Repeated jams at tray2"))
      << r.out;
  EXPECT_TRUE(contains(r.out,
                       "SUPPLY       LEVEL  USE/DAY  DAYS LEFT  EMPTY AT             LOW  "
                       "REASON\n"
                       "toner-black  12%    1.50%    7.8        2026-12-01 04:00:00  yes  "
                       "empty within the lead time\n"))
      << r.out;

  auto as_json = run({"monitoring", "SIM-1", "--json"}, env());
  ASSERT_EQ(as_json.rc, kExitOk) << as_json.err;
  EXPECT_EQ(Json::parse(as_json.out), monitoring_answer());

  auto unknown = run({"monitoring", "SIM-9"}, env());
  EXPECT_EQ(unknown.rc, kExitFailed);
  EXPECT_EQ(unknown.err, "error: no device SIM-9 (not_found, HTTP 404)\n");
}

// ---------------- standing auto-update authorisations ----------------

TEST_F(RelayctlMonitoring, AuthoriseSignsAnEnvelopeForAnyDeviceAndAddsItToTheTable) {
  auto r = run({"firmware", "authorise", "--model", "MX-4070", "--component", "main=2.0.0",
                "--component", "adf=1.0.0", "--sign-key", "center"},
               env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  auto sent = requests(3);
  ASSERT_EQ(sent.size(), 3u);
  EXPECT_EQ(sent[0].path, "/v1/artifacts");
  EXPECT_EQ(sent[1].method, "GET");
  EXPECT_EQ(sent[1].path, "/v1/tables/auto_updates");
  EXPECT_EQ(sent[2].method, "PUT");
  EXPECT_EQ(sent[2].path, "/v1/tables/auto_updates");
  const Json put = Json::parse(sent[2].body);
  EXPECT_EQ(put["revision"], 0);
  ASSERT_EQ(put["body"].size(), 1u);
  const Json& entry = put["body"][0];
  EXPECT_EQ(entry["model"], "MX-4070");
  const JobEnvelope e = verified_envelope(entry);
  EXPECT_EQ(e.serial, kAnyDevice);
  EXPECT_EQ(e.kind, JobKind::kFirmware);
  EXPECT_EQ(e.expires_at, kNow + 30 * kDayMs);
  EXPECT_EQ(e.signed_at, kNow);
  EXPECT_EQ(e.key_id, *key_id(public_pem()));
  auto spec = parse_firmware_params(e.params);
  ASSERT_TRUE(spec) << spec.error().message;
  ASSERT_EQ(spec->components.size(), 2u);
  EXPECT_EQ(spec->components[0].component, "adf");
  EXPECT_EQ(spec->components[0].artifact, kAdf1);
  EXPECT_EQ(spec->components[0].size, 5);
  EXPECT_EQ(spec->components[1].component, "main");
  EXPECT_EQ(spec->components[1].version, "2.0.0");
  EXPECT_EQ(spec->components[1].artifact, kMain2);
  EXPECT_EQ(e.params, to_json(*spec));  // canonical: what the device reads back
  EXPECT_EQ(table("auto_updates").revision, 1);

  EXPECT_EQ(r.out, "authorised MX-4070 adf=1.0.0, main=2.0.0 until 2026-12-23 10:00:00 (envelope " +
                       e.id + ", key " + e.key_id + ")\n");
  EXPECT_EQ(r.err, "auto_updates is at revision 1\n");
}

TEST_F(RelayctlMonitoring, AuthoriseReplacesTheSameVersionsAndKeepsOthers) {
  auto first = run({"firmware", "authorise", "--model", "MX-4070", "--component", "main=1.9.0",
                    "--sign-key", "center"},
                   env());
  ASSERT_EQ(first.rc, kExitOk) << first.err;
  auto second = run({"firmware", "authorise", "--model", "MX-4070", "--component", "main=2.0.0",
                     "--sign-key", "center", "--expires-days", "365"},
                    env());
  ASSERT_EQ(second.rc, kExitOk) << second.err;
  const std::string old_text = table("auto_updates").body[1]["envelope"]["text"];
  auto again = run({"firmware", "authorise", "--model", "MX-4070", "--component", "main=2.0.0",
                    "--sign-key", "center", "--expires-days", "7"},
                   env());
  ASSERT_EQ(again.rc, kExitOk) << again.err;
  EXPECT_EQ(again.err,
            "replaced the authorisation of the same versions; auto_updates is at "
            "revision 3\n");
  const Json body = table("auto_updates").body;
  ASSERT_EQ(body.size(), 2u);
  EXPECT_NE(body[1]["envelope"]["text"], old_text);
  EXPECT_EQ(verified_envelope(body[0]).params["components"][0]["version"], "1.9.0");
  EXPECT_EQ(verified_envelope(body[1]).expires_at, kNow + 7 * kDayMs);

  auto list = run({"firmware", "authorisations"}, env());
  ASSERT_EQ(list.rc, kExitOk) << list.err;
  const std::string id = verified_envelope(body[1]).id;
  EXPECT_TRUE(contains(list.out, "MX-4070  main=2.0.0  2026-11-30 10:00:00  valid  " + id + "  " +
                                     *key_id(public_pem()) + "  2026-11-23 10:00:00\n"))
      << list.out;
  auto as_json = run({"firmware", "authorisations", "--json"}, env());
  ASSERT_EQ(as_json.rc, kExitOk) << as_json.err;
  const Json rows = Json::parse(as_json.out);
  EXPECT_EQ(rows["revision"], 3);
  ASSERT_EQ(rows["authorisations"].size(), 2u);
  EXPECT_EQ(rows["authorisations"][1], (Json{{"model", "MX-4070"},
                                             {"versions", {{"main", "2.0.0"}}},
                                             {"expires_at", "2026-11-30T10:00:00.789Z"},
                                             {"expired", false},
                                             {"envelope_id", id},
                                             {"key_id", *key_id(public_pem())},
                                             {"signed_at", "2026-11-23T10:00:00.789Z"}}));
}

TEST_F(RelayctlMonitoring, AuthoriseUnknownVersionNamesThePushedOnesAndChangesNothing) {
  auto r = run({"firmware", "authorise", "--model", "MX-4070", "--component", "main=2.1.0",
                "--sign-key", "center"},
               env());
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_EQ(r.err,
            "error: no firmware image of MX-4070 main 2.1.0 on the relay (main versions pushed: "
            "1.9.0, 2.0.0; see relayctl artifact list)\n");
  auto other = run({"firmware", "authorise", "--model", "MX-4070", "--component", "fax=1.0",
                    "--sign-key", "center"},
                   env());
  EXPECT_EQ(other.rc, kExitFailed);
  EXPECT_TRUE(contains(other.err, "(none of MX-4070 fax; see relayctl artifact list)"))
      << other.err;
  EXPECT_EQ(requests(2).size(), 2u);  // the artifact list, each time; no table read or written
  EXPECT_TRUE(puts().empty());
}

TEST_F(RelayctlMonitoring, AuthoriseLocalProblemsSendNothing) {
  auto no_key =
      run({"firmware", "authorise", "--model", "MX-4070", "--component", "main=2.0.0"}, env());
  EXPECT_EQ(no_key.rc, kExitUsage);
  EXPECT_TRUE(contains(no_key.err,
                       "a standing authorisation must be signed by the service "
                       "center: pass --sign-key NAME"))
      << no_key.err;
  auto too_long = run({"firmware", "authorise", "--model", "MX-4070", "--component", "main=2.0.0",
                       "--sign-key", "center", "--expires-days", "400"},
                      env());
  EXPECT_EQ(too_long.rc, kExitUsage);
  EXPECT_EQ(too_long.err, "error: --expires-days must be 1-365, not 400\n");
  auto bad_component = run({"firmware", "authorise", "--model", "MX-4070", "--component", "main",
                            "--sign-key", "center"},
                           env());
  EXPECT_EQ(bad_component.rc, kExitUsage);
  EXPECT_TRUE(contains(bad_component.err,
                       "--component must look like main=1.0.3 (component=version to install)"))
      << bad_component.err;
  auto twice = run({"firmware", "authorize", "--model", "MX-4070", "--component", "main=2.0.0",
                    "--component", "main=1.9.0", "--sign-key", "center"},
                   env());
  EXPECT_EQ(twice.rc, kExitUsage);
  EXPECT_TRUE(contains(twice.err, "--component main is given twice")) << twice.err;
  auto bad_model = run({"firmware", "authorise", "--model", "MX 4070", "--component", "main=2.0.0",
                        "--sign-key", "center"},
                       env());
  EXPECT_EQ(bad_model.rc, kExitUsage);
  EXPECT_EQ(
      run({"firmware", "authorise", "--component", "main=2.0.0", "--sign-key", "center"}, env()).rc,
      kExitUsage);
  EXPECT_TRUE(relay_->requests().empty());
}

TEST_F(RelayctlMonitoring, AuthoriseConflictIsReported) {
  someone_else_changes_ = true;
  auto r = run({"firmware", "authorise", "--model", "MX-4070", "--component", "main=2.0.0",
                "--sign-key", "center"},
               env());
  EXPECT_EQ(r.rc, kExitFailed);
  EXPECT_TRUE(contains(r.err, "error: table auto_updates is at revision 1, not 0")) << r.err;
  EXPECT_TRUE(contains(r.err, "nothing was changed: auto_updates was changed meanwhile")) << r.err;
  EXPECT_TRUE(table("auto_updates").body.empty());
}

TEST_F(RelayctlMonitoring, RevokeRemovesExactlyTheseVersions) {
  for (const char* v : {"main=1.9.0", "main=2.0.0"}) {
    ASSERT_EQ(run({"firmware", "authorise", "--model", "MX-4070", "--component", v, "--sign-key",
                   "center"},
                  env())
                  .rc,
              kExitOk);
  }
  const Json before = table("auto_updates").body;
  auto missing = run({"firmware", "revoke", "--model", "MX-4070", "--component", "main=2.0.0",
                      "--component", "adf=1.0.0"},
                     env());
  EXPECT_EQ(missing.rc, kExitFailed);
  EXPECT_EQ(missing.err,
            "error: no authorisation of MX-4070 for adf=1.0.0, main=2.0.0 (MX-4070 is authorised "
            "for main=1.9.0; main=2.0.0)\n");
  EXPECT_EQ(table("auto_updates").body, before);

  auto r = run({"firmware", "revoke", "--model", "MX-4070", "--component", "main=1.9.0"}, env());
  ASSERT_EQ(r.rc, kExitOk) << r.err;
  const std::string revoked_id = verified_envelope(before[0]).id;
  EXPECT_EQ(r.out, "revoked MX-4070 main=1.9.0 (envelope " + revoked_id + ")\n");
  EXPECT_TRUE(contains(r.err,
                       "jobs it already created keep their envelope until it expires "
                       "(2026-12-23 10:00:00)"))
      << r.err;
  const Json after = table("auto_updates").body;
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0], before[1]);
  EXPECT_EQ(Json::parse(puts().back().body)["revision"], 2);
}

}  // namespace
}  // namespace printrelay::cli
