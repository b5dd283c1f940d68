// Signed jobs (docs/protocol.md "Signed job envelopes", core/firmware_job.h): relayctl signs what
// a job does with one of the service center's keys (signing_keys.h), and a device that trusts the
// key runs only what the signed text says, whatever a relay stores. The private key never leaves
// the operator's machine; only the envelope text and its signature are sent.
#pragma once

#include <optional>
#include <string>

#include "cli/requests.h"
#include "core/firmware_job.h"
#include "core/model.h"
#include "core/result.h"

namespace printrelay::cli {

// A private key ready to sign many envelopes (a campaign signs one per device): the key id is
// worked out once. Thread-compatible; every sign() is independent.
class JobSigner {
 public:
  // Bad input when `private_pem` is not an unencrypted Ed25519 private key.
  static Result<JobSigner> from_private_pem(std::string private_pem);

  const std::string& key_id() const { return key_id_; }

  // The envelope {v, id, serial, kind, params, expires_at, key_id, signed_at = now} as canonical
  // text, and its signature. `id` is the envelope's nonce: 32 random hex digits when empty (a
  // device runs one envelope at most once). Bad input when the envelope would not parse back
  // (bad serial, params holding an envelope, text over 64 KiB) or when a device would refuse its
  // expiry (check_envelope_expiry: none, past, or over 400 days ahead).
  Result<SignedEnvelope> sign(const std::string& serial, JobKind kind, const Json& params,
                              std::optional<TimeMs> expires_at, TimeMs now,
                              std::string id = {}) const;

 private:
  JobSigner(std::string private_pem, std::string key_id)
      : private_pem_(std::move(private_pem)), key_id_(std::move(key_id)) {}

  std::string private_pem_;
  std::string key_id_;
};

// {"text", "signature"}: what a job request or a campaign carries under "envelope(s)".
Json envelope_json(const SignedEnvelope& e);

// Expiry of a signed job whose request names none: 7 days after the latest of now, not_before and
// execute_at (devices refuse signed jobs without an expiry).
inline constexpr TimeMs kDefaultSignedJobExpiryMs = 7LL * 86'400'000;

// Signs a POST /v1/jobs call made by requests.h or firmware_requests.h: the envelope is built from
// the body's serial, kind, params and expires_at and added as "envelope" (the relay then takes
// those four from the signed text). Without expires_at the body gets the default above. Bad input
// for a call that is not a job request.
Status sign_job_call(ApiCall& call, const JobSigner& signer, TimeMs now);

}  // namespace printrelay::cli
