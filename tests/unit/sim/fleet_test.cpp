#include "sim/fleet.h"

#include <gtest/gtest.h>

#include <fstream>

#include "../agent/temp_dir.h"
#include "core/codec.h"

namespace printrelay::sim {
namespace {

using printrelay::testing::TempDir;

void write_control(const std::filesystem::path& dir, const std::string& name, const Json& j) {
  auto tmp = dir / "control" / (name + ".tmp");
  std::ofstream(tmp) << j.dump();
  std::filesystem::rename(tmp, dir / "control" / (name + ".json"));
}

std::size_t outbox_entries(const std::filesystem::path& device_dir) {
  std::size_t n = 0;
  for (const auto& f : std::filesystem::directory_iterator(device_dir / "outbox")) {
    n += f.path().extension() == ".json";
  }
  return n;
}

FleetOptions offline_fleet(const std::filesystem::path& dir, int devices) {
  FleetOptions o;
  o.devices = devices;
  o.state_dir = dir;
  o.device.relay_urls = {"http://127.0.0.1:9"};  // nothing listens: reports stay queued
  o.device.enrollment_code = "k3y";
  o.device.seed = 5;
  return o;
}

TEST(Fleet, SerialsArePrefixedAndNumbered) {
  EXPECT_EQ(fleet_serial("SIM-", 1), "SIM-0001");
  EXPECT_EQ(fleet_serial("SIM-", 200), "SIM-0200");
  EXPECT_EQ(fleet_serial("X", 12345), "X12345");
}

TEST(Fleet, ControlFilesAreActedOnAndDeleted) {
  TempDir dir;
  auto fleet = Fleet::create(offline_fleet(dir.path(), 2));
  ASSERT_TRUE(fleet.ok());
  ASSERT_TRUE((*fleet)->start().ok());
  const auto dev1 = dir.path() / "SIM-0001";
  const auto dev2 = dir.path() / "SIM-0002";
  std::size_t queued1 = outbox_entries(dev1);  // boot, counters, supplies
  EXPECT_EQ(queued1, 3u);

  write_control(dir.path(), "SIM-0001-jam", {{"action", "jam"}, {"location", "tray2"}});
  write_control(dir.path(), "SIM-0002", {{"action", "message"}, {"text", "paper tray broken"}});
  write_control(dir.path(), "SIM-0001-order",
                {{"action", "order"}, {"item", "toner-black"}, {"quantity", 2}});
  EXPECT_EQ((*fleet)->scan_control(), 3u);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "control"));

  auto jams = *(*fleet)->find("SIM-0001")->mfp().data_set("jams");
  EXPECT_EQ(jams["recent"].back()["location"], "tray2");
  // The jam is logged, not queued as a report; the order is queued.
  EXPECT_EQ(outbox_entries(dev1), queued1 + 1);
  EXPECT_EQ(outbox_entries(dev2), 4u);

  write_control(dir.path(), "SIM-0002-f",
                {{"action", "fault"}, {"code", "SC542"}, {"sc_type", "A"}});
  write_control(dir.path(), "SIM-0002-b", {{"action", "burst"}, {"count", 5}});
  EXPECT_EQ((*fleet)->scan_control(), 2u);
  EXPECT_EQ(outbox_entries(dev2), 4u + 1 + 5);
  EXPECT_EQ((*fleet)->find("SIM-0002")->mfp().state(), "error");

  auto status = Json::parse(std::ifstream(dev2 / "status.json"));
  EXPECT_EQ(status["serial"], "SIM-0002");
  EXPECT_EQ(status["state"], "error");
  EXPECT_EQ(status["outbox_size"], 10);
  EXPECT_EQ(status["relay_url"], "http://127.0.0.1:9");
  EXPECT_EQ(status["open_service_call"]["code"], "SC542");
  EXPECT_TRUE(status["last_panel_reply"].is_null());
  (*fleet)->stop();
}

TEST(Fleet, BadControlFilesAreDroppedWithoutEffect) {
  TempDir dir;
  auto fleet = Fleet::create(offline_fleet(dir.path(), 1));
  ASSERT_TRUE(fleet.ok());
  ASSERT_TRUE((*fleet)->start().ok());
  write_control(dir.path(), "SIM-0001", {{"action", "explode"}});
  write_control(dir.path(), "SIM-0009", {{"action", "jam"}});
  Json before = (*fleet)->find("SIM-0001")->mfp().counters();
  EXPECT_EQ((*fleet)->scan_control(), 2u);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path() / "control"));
  EXPECT_EQ((*fleet)->find("SIM-0001")->mfp().counters(), before);
}

}  // namespace
}  // namespace printrelay::sim
