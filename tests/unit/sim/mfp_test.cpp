#include "sim/mfp.h"

#include <gtest/gtest.h>

namespace printrelay::sim {
namespace {

constexpr TimeMs kStart = 1795000000000;  // a fixed simulated clock origin

TEST(Mfp, SameSeedSameLife) {
  Mfp a("SIM-0001", "MX-4070", 42, kStart);
  Mfp b("SIM-0001", "MX-4070", 42, kStart);
  EXPECT_EQ(a.counters(), b.counters());
  std::vector<std::string> ea, eb;
  for (int hour = 0; hour < 72; ++hour) {
    for (const auto& e : a.advance(3600)) ea.push_back(e.code + e.location);
    for (const auto& e : b.advance(3600)) eb.push_back(e.code + e.location);
  }
  EXPECT_EQ(a.counters(), b.counters());
  EXPECT_EQ(a.supplies(), b.supplies());
  EXPECT_EQ(*a.data_set("jams"), *b.data_set("jams"));
  EXPECT_EQ(ea, eb);
  // Three days of office work printed something.
  EXPECT_GT(a.counters()["total"].get<std::int64_t>(),
            Mfp("SIM-0001", "MX-4070", 42, kStart).counters()["total"].get<std::int64_t>());
}

TEST(Mfp, SerialAndSeedMakeDevicesDiffer) {
  Mfp a("SIM-0001", "MX-4070", 42, kStart);
  Mfp b("SIM-0002", "MX-4070", 42, kStart);
  Mfp c("SIM-0001", "MX-4070", 43, kStart);
  EXPECT_NE(a.counters(), b.counters());
  EXPECT_NE(a.counters(), c.counters());
}

TEST(Mfp, CountersAddUp) {
  Mfp m("SIM-0001", "MX-4070", 7, kStart);
  for (int i = 0; i < 24; ++i) m.advance(3600);
  Json c = m.counters();
  EXPECT_EQ(c["total"], c["copy"].get<std::int64_t>() + c["print"].get<std::int64_t>() +
                            c["fax"].get<std::int64_t>());
  EXPECT_EQ(c["total"], c["color"].get<std::int64_t>() + c["mono"].get<std::int64_t>());
  std::int64_t by_paper = 0;
  for (const auto& [size, n] : c["paper"].items()) by_paper += n.get<std::int64_t>();
  EXPECT_EQ(c["total"], by_paper);
}

TEST(Mfp, PrintCountsPagesAndWearsToner) {
  Mfp m("SIM-0001", "MX-4070", 1, kStart);
  m.set_fault_rates(0, 0);
  Json before = m.counters();
  Json supplies_before = m.supplies();
  m.print(500);
  Json after = m.counters();
  EXPECT_EQ(after["total"].get<std::int64_t>() - before["total"].get<std::int64_t>(), 500);
  EXPECT_EQ(after["print"].get<std::int64_t>() - before["print"].get<std::int64_t>(), 500);
  EXPECT_EQ(after["paper"]["A4"].get<std::int64_t>() - before["paper"]["A4"].get<std::int64_t>(),
            500);
  EXPECT_EQ(after["drum_count"].get<std::int64_t>() - before["drum_count"].get<std::int64_t>(),
            500);
  EXPECT_LT(m.supplies()["supplies"][0]["level_pct"].get<int>(),
            supplies_before["supplies"][0]["level_pct"].get<int>());
  EXPECT_EQ(m.supplies()["supplies"][0]["name"], "toner-black");
}

TEST(Mfp, TonerRunsLowThenEmptyWithOneEventEach) {
  Mfp m("SIM-0001", "MX-4070", 1, kStart);
  m.set_fault_rates(0, 0);
  int low = 0, empty = 0;
  for (int i = 0; i < 300; ++i) {
    for (const auto& e : m.print(100)) {
      if (e.code == "toner-black" && e.kind == MfpEvent::Kind::kSupplyLow) ++low;
      if (e.code == "toner-black-empty") ++empty;
    }
  }
  EXPECT_EQ(low, 1);
  EXPECT_EQ(empty, 1);
  EXPECT_EQ(m.supplies()["supplies"][0]["state"], "empty");
}

TEST(Mfp, SettingsAreValidatedAgainstTheSchema) {
  Mfp m("SIM-0001", "MX-4070", 1, kStart);
  auto bad_range = m.validate_settings({{"sleep_min", 500}});
  ASSERT_FALSE(bad_range.ok());
  EXPECT_NE(bad_range.error().message.find("sleep_min"), std::string::npos);
  EXPECT_FALSE(m.validate_settings({{"sleep_min", 0}}).ok());
  EXPECT_FALSE(m.validate_settings({{"sleep_min", "10"}}).ok());
  EXPECT_FALSE(m.validate_settings({{"tray1_paper", "B5"}}).ok());
  EXPECT_FALSE(m.validate_settings({{"color_mode", "sepia"}}).ok());
  EXPECT_FALSE(m.validate_settings({{"default_duplex", 1}}).ok());
  auto unknown = m.validate_settings({{"turbo", true}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().message, "unknown setting 'turbo'");
  // One bad name refuses the whole set: nothing is applied.
  EXPECT_FALSE(m.apply_settings({{"sleep_min", 30}, {"turbo", true}}).ok());
  EXPECT_EQ(m.settings()["sleep_min"], 15);

  m.set_fault_rates(0, 0);
  Json good = {{"sleep_min", 240},
               {"default_duplex", false},
               {"tray1_paper", "Letter"},
               {"color_mode", "mono"},
               {"energy_saver", false}};
  ASSERT_TRUE(m.apply_settings(good).ok());
  EXPECT_EQ(m.settings(), good);
  // Mono mode: new pages are mono; tray1 paper is Letter.
  Json before = m.counters();
  m.print(10);
  EXPECT_EQ(m.counters()["paper"]["Letter"].get<std::int64_t>() -
                before["paper"]["Letter"].get<std::int64_t>(),
            10);
}

TEST(Mfp, ServiceCallTypesStopTheMachineOrNot) {
  Mfp m("SIM-0001", "MX-4070", 1, kStart);
  EXPECT_EQ(m.state(), "idle");
  auto d = m.service_call("SC995", "D");
  EXPECT_EQ(d.sc_type, "D");
  EXPECT_EQ(m.state(), "idle");  // D: logged only

  m.service_call("SC672", "B");
  EXPECT_EQ(m.state(), "error");
  Json before = m.counters();
  m.print(10);
  EXPECT_EQ(m.counters()["total"], before["total"]);  // stopped
  m.reboot();                                         // B: a power cycle clears it
  EXPECT_EQ(m.state(), "idle");

  m.service_call("SC542", "A");
  m.reboot();
  EXPECT_EQ(m.state(), "error");  // A: needs the technician
  auto calls = *m.data_set("calls");
  EXPECT_EQ(calls["service_calls"].size(), 3u);
  EXPECT_EQ(calls["service_calls"][2]["code"], "SC542");
  EXPECT_TRUE(calls["service_calls"][2]["cleared_at"].is_null());
}

TEST(Mfp, JamsAreCountedByLocation) {
  Mfp m("SIM-0001", "MX-4070", 1, kStart);
  Json before = *m.data_set("jams");
  auto e = m.jam("tray2");
  EXPECT_EQ(e.kind, MfpEvent::Kind::kJam);
  EXPECT_EQ(e.code, "J-TRAY2");
  m.jam("tray2");
  auto jams = *m.data_set("jams");
  EXPECT_EQ(jams["by_location"]["tray2"].get<int>() - before["by_location"].value("tray2", 0), 2);
  EXPECT_EQ(m.counters()["jams"].get<int>() - before["total"].get<int>(), 2);
}

TEST(Mfp, DataSetsOfFig3) {
  Mfp m("SIM-0001", "MX-4070", 1, kStart);
  for (const char* name : {"counters", "supplies", "identification", "structure", "calls", "jams",
                           "adjustment", "settings"}) {
    auto d = m.data_set(name);
    ASSERT_TRUE(d.ok()) << name;
    EXPECT_TRUE(d->is_object()) << name;
  }
  EXPECT_FALSE(m.data_set("comm-history").ok());  // the agent keeps that one
  auto structure = *m.data_set("structure");
  ASSERT_GE(structure["units"].size(), 3u);
  for (const auto& u : structure["units"]) {
    EXPECT_TRUE(u.contains("id") && u.contains("serial") && u.contains("software_version") &&
                u.contains("vendor_id"));
  }
  EXPECT_EQ((*m.data_set("identification"))["serial"], "SIM-0001");
}

}  // namespace
}  // namespace printrelay::sim
