#include "sim/firmware_slots.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "../agent/temp_dir.h"
#include "core/sha256.h"

namespace printrelay::sim {
namespace {

using printrelay::testing::TempDir;

const Json kFactory = {{"main", "1.0.3"}, {"controller", "2.1.0"}, {"adf", "0.9.4"}};

FirmwareSlotOptions fast(double bad_boot_chance = 0) { return {0, bad_boot_chance, 7}; }

std::filesystem::path make_image(const std::filesystem::path& dir, const std::string& name,
                                 const std::string& content) {
  auto p = dir / name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

class FirmwareSlotsTest : public ::testing::Test {
 protected:
  std::filesystem::path device() const { return dir_.path() / "SIM-0001"; }
  std::filesystem::path image(const std::string& name, const std::string& content) {
    return make_image(dir_.path(), name, content);
  }
  TempDir dir_;
};

TEST_F(FirmwareSlotsTest, FreshDeviceRunsTheFactoryFirmwareFromSlotA) {
  FirmwareSlots slots(device(), "SIM-0001", kFactory, fast());
  ASSERT_TRUE(slots.load().ok());
  EXPECT_EQ(slots.versions(), kFactory);
  EXPECT_FALSE(slots.has_pending());
  Json state = Json::parse(std::ifstream(device() / "slots.json"));
  EXPECT_EQ(state, slots.state());
  const Json& main = state["components"]["main"];
  EXPECT_EQ(main["active"], "A");
  EXPECT_EQ(main["slots"]["A"]["sha256"], sha256_hex(read_text(slots.image_path("main", 'A'))));
  EXPECT_FALSE(main["slots"]["B"]["valid"].get<bool>());
  EXPECT_EQ(slots.last_boot()["slots"]["controller"], "A");
  EXPECT_FALSE(slots.last_boot()["fell_back"].get<bool>());
}

TEST_F(FirmwareSlotsTest, WriteActivateBootSwitchesToTheNewSlot) {
  FirmwareSlots slots(device(), "SIM-0001", kFactory, fast());
  ASSERT_TRUE(slots.load().ok());
  const std::string bytes = "main firmware 2.0.0 image bytes";
  ASSERT_TRUE(slots.write("main", "2.0.0", image("main.bin", bytes)).ok());
  // Written, not yet booted: the device still runs the old version.
  EXPECT_EQ(slots.versions()["main"], "1.0.3");
  Json b = slots.state()["components"]["main"]["slots"]["B"];
  EXPECT_EQ(b, (Json{{"version", "2.0.0"}, {"sha256", sha256_hex(bytes)}, {"valid", true}}));
  EXPECT_EQ(read_text(slots.image_path("main", 'B')), bytes);

  ASSERT_TRUE(slots.activate().ok());
  EXPECT_TRUE(slots.has_pending());
  EXPECT_EQ(slots.state()["pending"], Json::array({"main"}));
  auto booted = slots.boot();
  ASSERT_TRUE(booted.ok());
  EXPECT_FALSE((*booted)["fell_back"].get<bool>());
  EXPECT_EQ((*booted)["slots"], (Json{{"main", "B"}, {"controller", "A"}, {"adf", "A"}}));
  EXPECT_EQ((*booted)["reason"], "booted main 2.0.0 from slot B");
  EXPECT_EQ(slots.versions()["main"], "2.0.0");
  EXPECT_EQ(slots.versions()["controller"], "2.1.0");
  EXPECT_FALSE(slots.has_pending());
  EXPECT_EQ(slots.last_boot(), *booted);

  // The next update goes into the slot that is now inactive: A.
  ASSERT_TRUE(slots.write("main", "2.1.0", image("main2.bin", "main 2.1.0")).ok());
  ASSERT_TRUE(slots.activate().ok());
  ASSERT_TRUE(slots.boot().ok());
  EXPECT_EQ(slots.last_boot()["slots"]["main"], "A");
  EXPECT_EQ(slots.versions()["main"], "2.1.0");
}

TEST_F(FirmwareSlotsTest, ImageWithBadBootMarkerFallsBackWithReason) {
  FirmwareSlots slots(device(), "SIM-0001", kFactory, fast());
  ASSERT_TRUE(slots.load().ok());
  ASSERT_TRUE(
      slots.write("main", "2.0.0", image("bad.bin", std::string("xx") + kBadBootMarker + "yy"))
          .ok());
  ASSERT_TRUE(slots.activate().ok());
  auto booted = slots.boot();
  ASSERT_TRUE(booted.ok());
  EXPECT_TRUE((*booted)["fell_back"].get<bool>());
  EXPECT_EQ((*booted)["reason"],
            "main 2.0.0 did not boot (watchdog reset): fell back to slot A (1.0.3)");
  EXPECT_EQ((*booted)["slots"]["main"], "A");
  EXPECT_EQ(slots.versions(), kFactory);
  // The image that did not boot is never tried again without a rewrite.
  EXPECT_FALSE(slots.state()["components"]["main"]["slots"]["B"]["valid"].get<bool>());
  EXPECT_EQ(slots.activate().error().kind, ErrorKind::kConflict);
}

TEST_F(FirmwareSlotsTest, OneComponentThatDoesNotBootKeepsTheWholeSetOnTheOldSlots) {
  FirmwareSlots slots(device(), "SIM-0001", kFactory, fast());
  ASSERT_TRUE(slots.load().ok());
  ASSERT_TRUE(slots.write("main", "2.0.0", image("main.bin", "good main")).ok());
  ASSERT_TRUE(
      slots.write("controller", "3.0.0", image("ctl.bin", std::string(kBadBootMarker))).ok());
  ASSERT_TRUE(slots.activate().ok());
  auto booted = slots.boot();
  ASSERT_TRUE(booted.ok());
  EXPECT_TRUE((*booted)["fell_back"].get<bool>());
  EXPECT_EQ(slots.versions(), kFactory);
  const std::string reason = (*booted)["reason"];
  EXPECT_NE(reason.find("controller 3.0.0 did not boot"), std::string::npos) << reason;
  EXPECT_NE(reason.find("main 2.0.0 not kept: stayed on slot A (1.0.3)"), std::string::npos)
      << reason;
}

TEST_F(FirmwareSlotsTest, KillDuringWriteLeavesTheActiveSlotIntact) {
  const auto snapshot = dir_.path() / "snapshot";
  {
    FirmwareSlots slots(device(), "SIM-0001", kFactory, {1000, 0, 7});
    ASSERT_TRUE(slots.load().ok());
    const auto img = image("main.bin", std::string(4096, 'x'));
    const auto started = std::chrono::steady_clock::now();
    std::thread writer([&] { EXPECT_TRUE(slots.write("main", "2.0.0", img).ok()); });
    // The image file appears only after the slot was durably marked invalid: copying the
    // directory now is what a kill -9 mid-write leaves behind.
    while (!std::filesystem::exists(slots.image_path("main", 'B'))) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::filesystem::copy(device(), snapshot, std::filesystem::copy_options::recursive);
    writer.join();
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(1000));
  }
  EXPECT_LT(std::filesystem::file_size(snapshot / "slot-main-B.img"), 4096u);
  FirmwareSlots restarted(snapshot, "SIM-0001", kFactory, fast());
  ASSERT_TRUE(restarted.load().ok());
  EXPECT_EQ(restarted.versions(), kFactory);
  const Json main = restarted.state()["components"]["main"];
  EXPECT_EQ(main["active"], "A");
  EXPECT_TRUE(main["slots"]["A"]["valid"].get<bool>());
  EXPECT_FALSE(main["slots"]["B"]["valid"].get<bool>());
  // Nothing half-written can be activated or booted.
  EXPECT_EQ(restarted.activate().error().kind, ErrorKind::kConflict);
  auto booted = restarted.boot();
  ASSERT_TRUE(booted.ok());
  EXPECT_EQ((*booted)["slots"]["main"], "A");
  EXPECT_EQ(restarted.versions(), kFactory);
}

TEST_F(FirmwareSlotsTest, StatePersistsAcrossReload) {
  {
    FirmwareSlots slots(device(), "SIM-0001", kFactory, fast());
    ASSERT_TRUE(slots.load().ok());
    ASSERT_TRUE(slots.write("adf", "1.0.0", image("adf.bin", "adf 1.0.0")).ok());
    ASSERT_TRUE(slots.activate().ok());
  }
  // Killed after activate, before the reboot: the next power-on boots into the pending slot.
  FirmwareSlots after_kill(device(), "SIM-0001", kFactory, fast());
  ASSERT_TRUE(after_kill.load().ok());
  EXPECT_TRUE(after_kill.has_pending());
  auto booted = after_kill.boot();
  ASSERT_TRUE(booted.ok());
  EXPECT_EQ(after_kill.versions()["adf"], "1.0.0");

  FirmwareSlots later(device(), "SIM-0001", kFactory, fast());
  ASSERT_TRUE(later.load().ok());
  EXPECT_EQ(later.state(), after_kill.state());
  EXPECT_EQ(later.last_boot(), *booted);
  EXPECT_EQ(later.state()["boot_count"], 1);
}

TEST_F(FirmwareSlotsTest, UnknownComponentAndMissingImageAreRefused) {
  FirmwareSlots slots(device(), "SIM-0001", kFactory, fast());
  ASSERT_TRUE(slots.load().ok());
  const Json before = slots.state();
  auto unknown = slots.write("finisher", "1.0", image("f.bin", "f"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().kind, ErrorKind::kBadInput);
  EXPECT_NE(unknown.error().message.find("finisher"), std::string::npos);
  EXPECT_EQ(slots.write("main", "", image("m.bin", "m")).error().kind, ErrorKind::kBadInput);
  auto missing = slots.write("main", "2.0.0", dir_.path() / "no-such-image");
  EXPECT_EQ(missing.error().kind, ErrorKind::kUnavailable);
  EXPECT_EQ(slots.state(), before);
}

TEST_F(FirmwareSlotsTest, ActivateWithNothingWrittenIsAConflict) {
  FirmwareSlots slots(device(), "SIM-0001", kFactory, fast());
  ASSERT_TRUE(slots.load().ok());
  auto st = slots.activate();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::kConflict);
  // After a boot, what was written before it no longer counts.
  ASSERT_TRUE(slots.write("main", "2.0.0", image("main.bin", "m")).ok());
  ASSERT_TRUE(slots.activate().ok());
  ASSERT_TRUE(slots.boot().ok());
  EXPECT_EQ(slots.activate().error().kind, ErrorKind::kConflict);
}

TEST_F(FirmwareSlotsTest, BadBootChanceIsReproducible) {
  auto outcomes = [&](const std::string& sub, double chance) {
    FirmwareSlots slots(dir_.path() / sub, "SIM-0001", kFactory, fast(chance));
    EXPECT_TRUE(slots.load().ok());
    std::vector<bool> fell_back;
    for (int i = 0; i < 12; ++i) {
      EXPECT_TRUE(slots.write("main", "2." + std::to_string(i), image("m.bin", "m")).ok());
      EXPECT_TRUE(slots.activate().ok());
      fell_back.push_back((*slots.boot())["fell_back"].get<bool>());
    }
    return fell_back;
  };
  EXPECT_EQ(outcomes("a", 0.5), outcomes("b", 0.5));
  EXPECT_EQ(outcomes("c", 1.0), std::vector<bool>(12, true));
  EXPECT_EQ(outcomes("d", 0.0), std::vector<bool>(12, false));
  auto half = outcomes("e", 0.5);
  EXPECT_NE(std::count(half.begin(), half.end(), true), 0);
  EXPECT_NE(std::count(half.begin(), half.end(), false), 0);
}

}  // namespace
}  // namespace printrelay::sim
