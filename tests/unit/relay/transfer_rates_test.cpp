#include "relay/transfer_rates.h"

#include <gtest/gtest.h>

#include "relay/artifact_fetcher.h"
#include "relay/child_relays.h"

namespace printrelay {
namespace {

constexpr TimeMs kNow = 1795400000000;

TEST(TransferRates, TakesTransfersLongEnoughToMeasureALink) {
  TransferRates rates;
  rates.note_wan(kMinMeasuredBytes - 1, 0.01, kNow);  // a manifest's worth: latency, not rate
  rates.note_lan("MX-0001", 4 << 20, 2.0, kNow);
  rates.note_lan("MX-0002", 1 << 20, 0.0, kNow);  // no time measured: nothing to divide by
  const Json j = rates.to_json();
  EXPECT_TRUE(j["wan"].is_null());
  ASSERT_EQ(j["devices"].size(), 1u);
  EXPECT_EQ(j["devices"][0]["serial"], "MX-0001");
  EXPECT_EQ(j["devices"][0]["bytes_per_s"], 2 << 20);
  EXPECT_EQ(j["devices"][0]["bytes"], 4 << 20);

  rates.note_wan(8 << 20, 4.0, kNow + 1000);
  rates.note_lan("MX-0001", 1 << 20, 1.0, kNow + 2000);  // the latest measure replaces the last
  const Json k = rates.to_json();
  EXPECT_EQ(k["wan"]["bytes_per_s"], 2 << 20);
  EXPECT_EQ(k["devices"][0]["bytes_per_s"], 1 << 20);
}

TEST(TransferRates, WhatAChildSendsIsWhatTheParentReads) {
  TransferRates rates;
  rates.note_wan(8 << 20, 2.0, kNow);
  rates.note_lan("MX-0001", 4 << 20, 1.0, kNow);
  auto parsed = parse_sync_rates(rates.to_json());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  EXPECT_EQ((*parsed)["wan"]["bytes_per_s"], 4 << 20);
  EXPECT_EQ((*parsed)["devices"][0]["serial"], "MX-0001");
}

TEST(TransferRates, TheParentRefusesMalformedRates) {
  const Json good_rate{{"bytes_per_s", 10}, {"bytes", 300000}, {"at", "2026-12-07T10:00:00Z"}};
  Json negative = good_rate;
  negative["bytes_per_s"] = -1;
  Json no_serial = good_rate;
  Json bad_time = good_rate;
  bad_time["at"] = "yesterday";
  for (const Json& bad :
       {Json::array(), Json{{"wan", negative}}, Json{{"devices", Json::array({no_serial})}},
        Json{{"wan", bad_time}}, Json{{"devices", "MX-0001"}}}) {
    auto parsed = parse_sync_rates(bad);
    EXPECT_FALSE(parsed.ok()) << bad.dump();
    if (!parsed.ok()) {
      EXPECT_EQ(parsed.error().kind, ErrorKind::kBadInput);
    }
  }
}

TEST(SignedManifest, RefusedWithoutATrustedKeyOrForAnotherArtifact) {
  const std::string sha(64, 'a');
  const Json manifest{{"component", "main"},
                      {"key_id", "0011223344556677"},
                      {"kind", "firmware"},
                      {"model", "MX-4070"},
                      {"sha256", sha},
                      {"signed_at", "2026-12-07T10:00:00Z"},
                      {"size", 1024},
                      {"version", "2.0.0"},
                      {"signature", std::string(128, '0')}};
  auto none = verify_signed_manifest(manifest, sha, {});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().kind, ErrorKind::kForbidden);
  EXPECT_NE(none.error().message.find("--trust-key"), std::string::npos);
  auto other = verify_signed_manifest(manifest, std::string(64, 'b'), {"unused"});
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().kind, ErrorKind::kBadInput);
}

}  // namespace
}  // namespace printrelay
