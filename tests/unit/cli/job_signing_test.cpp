#include "cli/job_signing.h"

#include <gtest/gtest.h>

#include "core/codec.h"
#include "core/firmware_job.h"
#include "core/time.h"
#include "net/signing.h"

namespace printrelay::cli {
namespace {

constexpr TimeMs kNow = 1'795'428'000'789;  // 2026-11-23T10:00:00.789Z

class JobSigning : public ::testing::Test {
 protected:
  void SetUp() override {
    auto key = make_signing_key();
    ASSERT_TRUE(key);
    key_ = *key;
    auto signer = JobSigner::from_private_pem(key_.private_pem);
    ASSERT_TRUE(signer) << signer.error().message;
    signer_.emplace(std::move(*signer));
  }

  bool verifies(const SignedEnvelope& e) const {
    auto v = verify_text(e.text, e.signature, key_.public_pem);
    return v && *v;
  }

  SigningKey key_;
  std::optional<JobSigner> signer_;
};

TEST_F(JobSigning, EnvelopeVerifiesAndParsesBack) {
  EXPECT_EQ(signer_->key_id(), *key_id(key_.public_pem));
  const Json params = {{"data_sets", {"counters"}}};
  const TimeMs expires = kNow + 3'600'000;
  auto e = signer_->sign("SIM-0001", JobKind::kCollect, params, expires, kNow);
  ASSERT_TRUE(e) << e.error().message;
  EXPECT_TRUE(verifies(*e));

  auto back = parse_envelope_text(e->text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->serial, "SIM-0001");
  EXPECT_EQ(back->kind, JobKind::kCollect);
  EXPECT_EQ(back->params, params);
  EXPECT_EQ(back->expires_at, expires);
  EXPECT_EQ(back->key_id, signer_->key_id());
  EXPECT_EQ(back->signed_at, kNow);
  EXPECT_EQ(back->id.size(), 32u);  // 16 random bytes as hex
  auto again = envelope_text(*back);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, e->text);  // canonical: one envelope, one text

  // Each envelope gets its own nonce; a given id is kept.
  auto other = signer_->sign("SIM-0001", JobKind::kCollect, params, expires, kNow);
  ASSERT_TRUE(other);
  EXPECT_NE(parse_envelope_text(other->text)->id, back->id);
  auto fixed = signer_->sign("SIM-0001", JobKind::kReboot, Json::object(), expires, kNow,
                             "0123456789abcdef0123");
  ASSERT_TRUE(fixed);
  EXPECT_EQ(parse_envelope_text(fixed->text)->id, "0123456789abcdef0123");
}

// Devices refuse signed jobs that never expire or expire over 400 days ahead: relayctl does not
// sign them.
TEST_F(JobSigning, RefusesAnExpiryADeviceWouldRefuse) {
  auto forever = signer_->sign("SIM-0001", JobKind::kReboot, Json::object(), std::nullopt, kNow);
  ASSERT_FALSE(forever);
  EXPECT_NE(forever.error().message.find("no expiry"), std::string::npos);
  EXPECT_FALSE(signer_->sign("SIM-0001", JobKind::kReboot, Json::object(),
                             kNow + kMaxEnvelopeLifetimeMs + 1, kNow));
  EXPECT_FALSE(signer_->sign("SIM-0001", JobKind::kReboot, Json::object(), kNow - 1, kNow));
  EXPECT_TRUE(signer_->sign("SIM-0001", JobKind::kReboot, Json::object(),
                            kNow + kMaxEnvelopeLifetimeMs, kNow));
}

TEST_F(JobSigning, TamperedTextOrOtherKeyDoesNotVerify) {
  auto e = signer_->sign("SIM-0001", JobKind::kReboot, Json::object(), kNow + 3'600'000, kNow);
  ASSERT_TRUE(e);
  SignedEnvelope tampered = *e;
  tampered.text.replace(tampered.text.find("SIM-0001"), 8, "SIM-0002");
  EXPECT_FALSE(verifies(tampered));
  auto other = make_signing_key();
  ASSERT_TRUE(other);
  auto v = verify_text(e->text, e->signature, other->public_pem);
  ASSERT_TRUE(v);
  EXPECT_FALSE(*v);
}

TEST_F(JobSigning, RefusesWhatWouldNotParseBack) {
  const TimeMs expires = kNow + 3'600'000;
  EXPECT_FALSE(signer_->sign("bad serial", JobKind::kReboot, Json::object(), expires, kNow));
  EXPECT_FALSE(
      signer_->sign("S", JobKind::kReboot, {{"envelope", {{"text", "x"}}}}, expires, kNow));
  auto public_only = JobSigner::from_private_pem(key_.public_pem);
  ASSERT_FALSE(public_only);
  EXPECT_EQ(public_only.error().kind, ErrorKind::kBadInput);
}

// What relayctl sends is what the relay accepts: parse_job_request() takes serial, kind, params
// and expiry from the envelope and finds them equal to the request's own.
TEST_F(JobSigning, SignedCallIsAcceptedByTheRelaysParser) {
  ApiCall call = *collect_job_call({"SIM-0001", "counters,supplies", {"", "", "+1h"}}, kNow);
  ASSERT_TRUE(sign_job_call(call, *signer_, kNow));
  const Json& body = *call.body;
  auto signed_env = envelope_of(Json{{"envelope", body["envelope"]}});
  ASSERT_TRUE(signed_env) << signed_env.error().message;
  EXPECT_TRUE(verifies(*signed_env));
  auto env = parse_envelope_text(signed_env->text);
  ASSERT_TRUE(env);
  EXPECT_EQ(env->serial, "SIM-0001");
  EXPECT_EQ(env->kind, JobKind::kCollect);
  EXPECT_EQ(env->params, body["params"]);
  EXPECT_EQ(format_time(*env->expires_at), body["expires_at"]);

  auto job = parse_job_request(body, kNow);
  ASSERT_TRUE(job) << job.error().message;
  EXPECT_EQ(params_without_envelope(job->params), body["params"]);
  EXPECT_EQ(job->expires_at, env->expires_at);

  // No expiry given: 7 days, in the envelope and in the request (devices refuse signed jobs
  // without one), counted from the execution time when there is one.
  ApiCall reboot = *reboot_job_call("SIM-0001", {}, kNow);
  ASSERT_TRUE(sign_job_call(reboot, *signer_, kNow));
  auto reboot_env = parse_envelope_text((*reboot.body)["envelope"]["text"].get<std::string>());
  ASSERT_TRUE(reboot_env);
  EXPECT_EQ(reboot_env->expires_at, kNow + kDefaultSignedJobExpiryMs);
  EXPECT_EQ((*reboot.body)["expires_at"], format_time(kNow + kDefaultSignedJobExpiryMs));
  EXPECT_TRUE(parse_job_request(*reboot.body, kNow));
  ApiCall later = *reboot_job_call("SIM-0001", {"", "+10d", ""}, kNow);
  ASSERT_TRUE(sign_job_call(later, *signer_, kNow));
  auto later_job = parse_job_request(*later.body, kNow);
  ASSERT_TRUE(later_job) << later_job.error().message;
  EXPECT_EQ(later_job->expires_at, *later_job->execute_at + kDefaultSignedJobExpiryMs);

  ApiCall not_a_job{"GET", "/v1/jobs", std::nullopt};
  EXPECT_FALSE(sign_job_call(not_a_job, *signer_, kNow));
}

}  // namespace
}  // namespace printrelay::cli
