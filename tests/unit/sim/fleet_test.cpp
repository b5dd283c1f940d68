#include "sim/fleet.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

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

// The bodies of the queued reports of `kind`, oldest first.
std::vector<Json> queued_bodies(const std::filesystem::path& device_dir, const std::string& kind) {
  std::vector<std::filesystem::path> files;
  for (const auto& f : std::filesystem::directory_iterator(device_dir / "outbox")) {
    if (f.path().extension() == ".json") files.push_back(f.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Json> bodies;
  for (const auto& f : files) {
    Json entry = Json::parse(std::ifstream(f));
    if (entry.contains("report") && entry["report"]["kind"] == kind) {
      bodies.push_back(entry["report"]["body"]);
    }
  }
  return bodies;
}

std::filesystem::path write_image(const std::filesystem::path& dir, const std::string& content) {
  auto p = dir / "image.bin";
  std::ofstream(p, std::ios::binary) << content;
  return p;
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
  std::size_t queued1 = outbox_entries(dev1);  // boot, structure, counters, supplies
  EXPECT_EQ(queued1, 4u);

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
  EXPECT_EQ(outbox_entries(dev2), 5u);

  write_control(dir.path(), "SIM-0002-f",
                {{"action", "fault"}, {"code", "SC542"}, {"sc_type", "A"}});
  write_control(dir.path(), "SIM-0002-b", {{"action", "burst"}, {"count", 5}});
  EXPECT_EQ((*fleet)->scan_control(), 2u);
  EXPECT_EQ(outbox_entries(dev2), 5u + 1 + 5);
  EXPECT_EQ((*fleet)->find("SIM-0002")->mfp().state(), "error");

  auto status = Json::parse(std::ifstream(dev2 / "status.json"));
  EXPECT_EQ(status["serial"], "SIM-0002");
  EXPECT_EQ(status["state"], "error");
  EXPECT_EQ(status["outbox_size"], 11);
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

TEST(Fleet, StatusShowsFirmwareSlotsAndLastBoot) {
  TempDir dir;
  auto fleet = Fleet::create(offline_fleet(dir.path(), 1));
  ASSERT_TRUE(fleet.ok());
  ASSERT_TRUE((*fleet)->start().ok());
  SimDevice* d = (*fleet)->find("SIM-0001");
  d->write_status(true);
  auto status = Json::parse(std::ifstream(dir.path() / "SIM-0001" / "status.json"));
  EXPECT_EQ(status["firmware"], d->mfp().firmware());
  EXPECT_EQ(status["firmware"]["main"], "1.0.3");
  EXPECT_EQ(status["slots"]["components"]["main"]["active"], "A");
  EXPECT_EQ(status["last_boot"]["slots"]["main"], "A");
  EXPECT_TRUE(status["panel_screen"].is_null());
  EXPECT_EQ(status["panel_screens"], Json::array());
  EXPECT_FALSE(status["rebooting"].get<bool>());
  auto boots = queued_bodies(dir.path() / "SIM-0001", "boot");
  ASSERT_EQ(boots.size(), 1u);
  EXPECT_EQ(boots[0]["reason"], "power_on");
  EXPECT_EQ(boots[0]["firmware"], status["firmware"]);
  (*fleet)->stop();
}

TEST(Fleet, BusyAndPanelTouchMakeTheDeviceBusy) {
  TempDir dir;
  auto fleet = Fleet::create(offline_fleet(dir.path(), 1));
  ASSERT_TRUE(fleet.ok());
  ASSERT_TRUE((*fleet)->start().ok());
  SimDevice* d = (*fleet)->find("SIM-0001");
  d->mfp().set_fault_rates(0, 0);
  EXPECT_EQ(d->busy(), 0);
  ASSERT_TRUE(d->act({{"action", "busy"}, {"seconds", 30}}).ok());
  EXPECT_EQ(d->busy(), PR_BUSY_PRINTING);
  write_control(dir.path(), "SIM-0001", {{"action", "panel-touch"}, {"seconds", 0.3}});
  EXPECT_EQ((*fleet)->scan_control(), 1u);
  EXPECT_EQ(d->busy(), PR_BUSY_PRINTING | PR_BUSY_PANEL);
  auto status = Json::parse(std::ifstream(dir.path() / "SIM-0001" / "status.json"));
  EXPECT_EQ(status["busy"], (Json{{"printing", true}, {"panel", true}}));
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(d->busy(), PR_BUSY_PRINTING);  // the user walked away
  EXPECT_EQ(d->act({{"action", "busy"}}).error().kind, ErrorKind::kBadInput);
  EXPECT_EQ(d->act({{"action", "panel-touch"}, {"seconds", -1}}).error().kind,
            ErrorKind::kBadInput);
  (*fleet)->stop();
}

TEST(Fleet, FirmwarePanelActionsWithoutAFirmwareJobAreRefused) {
  TempDir dir;
  auto fleet = Fleet::create(offline_fleet(dir.path(), 1));
  ASSERT_TRUE(fleet.ok());
  ASSERT_TRUE((*fleet)->start().ok());
  SimDevice* d = (*fleet)->find("SIM-0001");
  auto defer = d->act({{"action", "firmware-defer"}});
  ASSERT_FALSE(defer.ok());
  EXPECT_EQ(defer.error().kind, ErrorKind::kConflict);
  EXPECT_NE(defer.error().message.find("defer"), std::string::npos);
  EXPECT_FALSE(d->act({{"action", "firmware-cancel"}}).ok());
  (*fleet)->stop();
}

TEST(Fleet, FirmwareActivationRebootsIntoTheNewSlotWithAFreshAgent) {
  TempDir dir;
  auto fleet = Fleet::create(offline_fleet(dir.path(), 1));
  ASSERT_TRUE(fleet.ok());
  ASSERT_TRUE((*fleet)->start().ok());
  SimDevice* d = (*fleet)->find("SIM-0001");
  EXPECT_NE(d->activate_firmware(), 0);  // nothing written
  ASSERT_TRUE(d->slots().write("main", "2.0.0", write_image(dir.path(), "main 2.0.0")).ok());
  ASSERT_EQ(d->activate_firmware(), 0);
  EXPECT_TRUE(d->rebooting());
  for (int i = 0; i < 200 && d->rebooting(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_FALSE(d->rebooting());
  EXPECT_EQ(d->mfp().firmware()["main"], "2.0.0");
  EXPECT_EQ((*d->mfp().data_set("identification"))["firmware"]["main"], "2.0.0");
  auto boots = queued_bodies(dir.path() / "SIM-0001", "boot");
  ASSERT_EQ(boots.size(), 2u);
  EXPECT_EQ(boots[1]["reason"], "firmware update");
  EXPECT_EQ(boots[1]["firmware"]["main"], "2.0.0");
  EXPECT_FALSE(boots[1]["fell_back"].get<bool>());
  EXPECT_EQ(boots[1]["boot_reason"], "booted main 2.0.0 from slot B");
  // The fresh agent works: a panel message is queued behind the boot report.
  EXPECT_TRUE(d->act({{"action", "message"}, {"text", "hello"}}).ok());
  (*fleet)->stop();
}

TEST(Fleet, PendingFirmwareIsBootedAtPowerOn) {
  TempDir dir;
  {
    // Killed after the activation, before the reboot ran.
    FirmwareSlots slots(dir.path() / "SIM-0001", "SIM-0001",
                        Mfp("SIM-0001", "MX-4070", 5, 0).firmware(), {0, 0, 5});
    ASSERT_TRUE(slots.load().ok());
    ASSERT_TRUE(slots
                    .write("controller", "3.0.0",
                           write_image(dir.path(), std::string("ctl ") + kBadBootMarker))
                    .ok());
    ASSERT_TRUE(slots.activate().ok());
  }
  auto fleet = Fleet::create(offline_fleet(dir.path(), 1));
  ASSERT_TRUE(fleet.ok());
  ASSERT_TRUE((*fleet)->start().ok());
  auto boots = queued_bodies(dir.path() / "SIM-0001", "boot");
  ASSERT_EQ(boots.size(), 1u);
  EXPECT_EQ(boots[0]["reason"], "power_on");
  EXPECT_TRUE(boots[0]["fell_back"].get<bool>());
  EXPECT_EQ(boots[0]["boot_reason"],
            "controller 3.0.0 did not boot (watchdog reset): fell back to slot A (2.1.0)");
  EXPECT_EQ(boots[0]["firmware"]["controller"], "2.1.0");
  EXPECT_FALSE((*fleet)->find("SIM-0001")->slots().has_pending());
  (*fleet)->stop();
}

}  // namespace
}  // namespace printrelay::sim
