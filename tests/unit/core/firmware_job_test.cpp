#include "core/firmware_job.h"

#include <gtest/gtest.h>

#include "core/codec.h"
#include "core/job_flow.h"
#include "core/json_text.h"

namespace printrelay {
namespace {

const std::string kSha(64, 'a');

JobEnvelope sample() {
  JobEnvelope e;
  e.id = "0123456789abcdef0123";
  e.serial = "SIM-0001";
  e.kind = JobKind::kFirmware;
  e.params = {{"components", {{{"component", "main"}, {"version", "2.0"}, {"artifact", kSha}}}}};
  e.expires_at = 1'800'000'000'000;
  e.key_id = "0011223344556677";
  e.signed_at = 1'790'000'000'000;
  return e;
}

TEST(Envelope, TextRoundTripsAndIsCanonical) {
  auto text = envelope_text(sample());
  ASSERT_TRUE(text) << text.error().message;
  auto back = parse_envelope_text(*text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->serial, "SIM-0001");
  EXPECT_EQ(back->kind, JobKind::kFirmware);
  EXPECT_EQ(back->params, sample().params);
  EXPECT_EQ(back->expires_at, sample().expires_at);
  // The same content with a space is not canonical: a signature over one text is over one meaning.
  std::string spaced = *text;
  spaced.insert(1, " ");
  EXPECT_FALSE(parse_envelope_text(spaced));
}

TEST(Envelope, RefusesUnknownFieldsShortIdsAndNestedEnvelopes) {
  auto e = sample();
  e.id = "short";
  EXPECT_FALSE(envelope_text(e));
  e = sample();
  e.params["envelope"] = {{"text", "x"}};
  EXPECT_FALSE(envelope_text(e));
  auto text = *envelope_text(sample());
  Json j = Json::parse(text);
  j["extra"] = 1;
  EXPECT_FALSE(parse_envelope_text(j.dump()));
}

TEST(Envelope, DeviceChecksSerialAndKind) {
  auto e = sample();
  EXPECT_TRUE(check_envelope_for(e, "SIM-0001", JobKind::kFirmware));
  auto other = check_envelope_for(e, "SIM-0002", JobKind::kFirmware);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("not SIM-0002"), std::string::npos);
  EXPECT_FALSE(check_envelope_for(e, "SIM-0001", JobKind::kReboot));
}

TEST(Envelope, StandingAuthorisationServesAnyDeviceOnlyForExpiringFirmware) {
  auto e = sample();
  e.serial = kAnyDevice;
  auto text = envelope_text(e);
  ASSERT_TRUE(text) << text.error().message;
  auto back = parse_envelope_text(*text);
  ASSERT_TRUE(back);
  EXPECT_TRUE(check_envelope_for(*back, "SIM-0001", JobKind::kFirmware));
  EXPECT_TRUE(check_envelope_for(*back, "SIM-0777", JobKind::kFirmware));
  EXPECT_FALSE(check_envelope_for(*back, "SIM-0001", JobKind::kConfigure));
  // A job request for any one device may carry it.
  Json req = {{"serial", "SIM-0042"},
              {"kind", "firmware"},
              {"envelope", {{"text", *text}, {"signature", std::string(128, 'f')}}}};
  auto job = parse_job_request(req, 1'790'000'000'000);
  ASSERT_TRUE(job) << job.error().message;
  EXPECT_EQ(job->serial, "SIM-0042");
  // Without an expiry, or for another kind, it is refused when signed and when read.
  auto forever = e;
  forever.expires_at.reset();
  EXPECT_FALSE(envelope_text(forever));
  auto configure = e;
  configure.kind = JobKind::kConfigure;
  configure.params = {{"settings", {{"a", 1}}}};
  EXPECT_FALSE(envelope_text(configure));
  Json j = Json::parse(*text);
  j["expires_at"] = nullptr;
  auto parsed = parse_envelope_text(j.dump());
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("standing authorisation"), std::string::npos);
}

TEST(Envelope, ExpiryIsRequiredAndBounded) {
  auto e = sample();
  const TimeMs now = *e.expires_at - 3'600'000;
  EXPECT_TRUE(check_envelope_expiry(e, now));
  EXPECT_FALSE(check_envelope_expiry(e, *e.expires_at));
  auto forever = e;
  forever.expires_at.reset();
  auto refused = check_envelope_expiry(forever, now);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().kind, ErrorKind::kForbidden);
  EXPECT_NE(refused.error().message.find("no expiry"), std::string::npos);
  EXPECT_TRUE(check_envelope_expiry(e, *e.expires_at - kMaxEnvelopeLifetimeMs));
  EXPECT_FALSE(check_envelope_expiry(e, *e.expires_at - kMaxEnvelopeLifetimeMs - 1));
}

TEST(Envelope, TextNestedDeeperThanTheLimitIsRefused) {
  auto e = sample();
  e.kind = JobKind::kConfigure;
  Json deep = 1;
  for (std::size_t i = 0; i < kMaxJsonDepth + 5; ++i) deep = Json{{"a", deep}};
  e.params = {{"settings", deep}};
  Json j = Json::parse(*envelope_text(sample()));
  j["kind"] = "configure";
  j["params"] = e.params;
  auto parsed = parse_envelope_text(j.dump());
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("deeper"), std::string::npos);
}

TEST(Envelope, StandingAuthorisationNeverAllowsADowngrade) {
  auto e = sample();
  e.serial = kAnyDevice;
  e.params["allow_downgrade"] = true;
  auto text = envelope_text(e);
  ASSERT_FALSE(text);
  EXPECT_NE(text.error().message.find("downgrade"), std::string::npos);
}

TEST(FirmwareParams, AnOlderTargetIsRefusedUnlessDowngradeIsAllowed) {
  auto spec = parse_firmware_params(
      {{"components", {{{"component", "main"}, {"version", "1.9.0"}, {"artifact", kSha}}}}});
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_FALSE(spec->allow_downgrade);
  auto refused = check_not_downgrade(*spec, {{"main", "1.10.0"}});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("downgrade main from 1.10.0 to 1.9.0"), std::string::npos);
  EXPECT_TRUE(check_not_downgrade(*spec, {{"main", "1.9"}}));    // the same version
  EXPECT_TRUE(check_not_downgrade(*spec, {{"main", "1.2.0"}}));  // an upgrade
  EXPECT_TRUE(check_not_downgrade(*spec, {{"feeder", "9.0"}}));  // not installed
  EXPECT_FALSE(to_json(*spec).contains("allow_downgrade"));      // old texts unchanged

  auto allowed = parse_firmware_params(
      {{"components", {{{"component", "main"}, {"version", "1.9.0"}, {"artifact", kSha}}}},
       {"allow_downgrade", true}});
  ASSERT_TRUE(allowed) << allowed.error().message;
  EXPECT_TRUE(check_not_downgrade(*allowed, {{"main", "1.10.0"}}));
  EXPECT_EQ(to_json(*allowed)["allow_downgrade"], true);
  EXPECT_FALSE(parse_firmware_params(
      {{"components", {{{"component", "main"}, {"version", "1"}, {"artifact", kSha}}}},
       {"allow_downgrade", "yes"}}));
}

TEST(Envelope, JobRequestTakesEverythingFromTheEnvelope) {
  auto text = *envelope_text(sample());
  Json req = {{"serial", "SIM-0001"},
              {"kind", "firmware"},
              {"envelope", {{"text", text}, {"signature", std::string(128, 'f')}}}};
  auto job = parse_job_request(req, 1'790'000'000'000);
  ASSERT_TRUE(job) << job.error().message;
  EXPECT_EQ(params_without_envelope(job->params), sample().params);
  EXPECT_EQ(job->expires_at, sample().expires_at);
  ASSERT_TRUE(envelope_of(job->params));
  // Another serial in the request than in the envelope: refused.
  req["serial"] = "SIM-0002";
  EXPECT_FALSE(parse_job_request(req, 1'790'000'000'000));
  // Params that differ from the signed ones: refused.
  req["serial"] = "SIM-0001";
  req["params"] = {{"components", Json::array()}};
  EXPECT_FALSE(parse_job_request(req, 1'790'000'000'000));
}

TEST(Envelope, UnsignedFirmwareJobIsRefused) {
  Json req = {{"serial", "SIM-0001"}, {"kind", "firmware"}, {"params", sample().params}};
  auto job = parse_job_request(req, 1'790'000'000'000);
  ASSERT_FALSE(job);
  EXPECT_NE(job.error().message.find("signed"), std::string::npos);
}

TEST(FirmwareParams, ParsesAndRoundTrips) {
  Json p = {{"components",
             {{{"component", "main"}, {"version", "2.0"}, {"artifact", kSha}, {"size", 10}}}},
            {"update_at", "2026-11-23T10:00:00.000Z"},
            {"forbidden_windows", {"09:00-17:00"}},
            {"deferral", {{"max_count", 2}}},
            {"max_attempts", 4}};
  auto spec = parse_firmware_params(p);
  ASSERT_TRUE(spec) << spec.error().message;
  EXPECT_EQ(spec->max_attempts, 4);
  EXPECT_EQ(spec->deferral.max_count, 2);
  auto again = parse_firmware_params(to_json(*spec));
  ASSERT_TRUE(again);
  EXPECT_EQ(to_json(*again), to_json(*spec));
  // The planned time moves out of the window, with a reason.
  auto plan = planned_update_time(*spec, 0);
  ASSERT_TRUE(plan);
  EXPECT_TRUE(plan->moved());
  EXPECT_EQ(format_time(plan->at), "2026-11-23T17:00:00.000Z");
}

TEST(FirmwareParams, RefusesBadInput) {
  EXPECT_FALSE(parse_firmware_params(Json::object()));
  EXPECT_FALSE(parse_firmware_params({{"components", Json::array()}}));
  Json dup = {{"components",
               {{{"component", "main"}, {"version", "1"}, {"artifact", kSha}},
                {{"component", "main"}, {"version", "2"}, {"artifact", kSha}}}}};
  EXPECT_FALSE(parse_firmware_params(dup));
  Json bad_sha = {{"components", {{{"component", "main"}, {"version", "1"}, {"artifact", "xyz"}}}}};
  EXPECT_FALSE(parse_firmware_params(bad_sha));
  Json unknown = {{"components", {{{"component", "main"}, {"version", "1"}, {"artifact", kSha}}}},
                  {"max_atempts", 3}};
  auto r = parse_firmware_params(unknown);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("max_atempts"), std::string::npos);
  Json attempts = {{"components", {{{"component", "main"}, {"version", "1"}, {"artifact", kSha}}}},
                   {"max_attempts", 0}};
  EXPECT_FALSE(parse_firmware_params(attempts));
  // Past 32 bits: not read as 1 (2^32 + 1 truncated), refused (found by fuzz_envelope).
  attempts["max_attempts"] = 4294967297LL;
  EXPECT_FALSE(parse_firmware_params(attempts));
  attempts["max_attempts"] = 3;
  attempts["write_estimate_s"] = 4294967297LL;
  EXPECT_FALSE(parse_firmware_params(attempts));
}

TEST(Versions, CompareNumericSegments) {
  EXPECT_GT(compare_versions("1.10", "1.9"), 0);
  EXPECT_EQ(compare_versions("2.0", "2.0.0"), 0);
  EXPECT_LT(compare_versions("1.0.3", "2.0.0"), 0);
  EXPECT_GT(compare_versions("1.0.b", "1.0.a"), 0);
}

TEST(JobFlow, DeviceCancelEndsTheJobCancelled) {
  Job job;
  job.id = "j-1";
  job.state = JobState::kAcquired;
  JobEvent e;
  e.job_id = "j-1";
  e.type = JobEventType::kCancelled;
  e.reason = "cancelled at the device panel";
  auto t = apply_event(job, e, 5);
  ASSERT_TRUE(t);
  ASSERT_TRUE(*t);
  EXPECT_EQ(job.state, JobState::kCancelled);
  EXPECT_NE((*t)->cause.find("device panel"), std::string::npos);
}

}  // namespace
}  // namespace printrelay
