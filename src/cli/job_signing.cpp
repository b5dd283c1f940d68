#include "cli/job_signing.h"

#include <algorithm>

#include "core/time.h"
#include "net/signing.h"
#include "net/tls.h"

namespace printrelay::cli {

Result<JobSigner> JobSigner::from_private_pem(std::string private_pem) {
  auto public_pem = public_pem_of(private_pem);
  if (!public_pem) return public_pem.error();
  auto id = printrelay::key_id(*public_pem);
  if (!id) return id.error();
  return JobSigner(std::move(private_pem), std::move(*id));
}

Result<SignedEnvelope> JobSigner::sign(const std::string& serial, JobKind kind, const Json& params,
                                       std::optional<TimeMs> expires_at, TimeMs now,
                                       std::string id) const {
  JobEnvelope e;
  e.id = id.empty() ? random_hex(16) : std::move(id);
  e.serial = serial;
  e.kind = kind;
  e.params = params;
  e.expires_at = expires_at;
  e.key_id = key_id_;
  e.signed_at = now;
  if (auto st = check_envelope_expiry(e, now); !st) {
    return bad_input("a device would refuse this signed job: " + st.error().message);
  }
  auto text = envelope_text(e);
  if (!text) return text.error();
  auto signature = sign_text(*text, private_pem_);
  if (!signature) return signature.error();
  return SignedEnvelope{std::move(*text), std::move(*signature)};
}

Json envelope_json(const SignedEnvelope& e) {
  return Json{{"text", e.text}, {"signature", e.signature}};
}

Status sign_job_call(ApiCall& call, const JobSigner& signer, TimeMs now) {
  if (!call.body || !call.body->is_object()) return bad_input("not a job request");
  Json& body = *call.body;
  const auto kind = job_kind_from(body.value("kind", ""));
  if (!kind) return bad_input("not a job request: unknown kind");
  std::optional<TimeMs> expires_at;
  if (body.contains("expires_at") && !body["expires_at"].is_null()) {
    auto t =
        parse_time(body["expires_at"].is_string() ? body["expires_at"].get<std::string>() : "");
    if (!t) return bad_input("expires_at: " + t.error().message);
    expires_at = *t;
  } else {
    TimeMs latest = now;
    for (const char* key : {"not_before", "execute_at"}) {
      if (!body.contains(key) || !body[key].is_string()) continue;
      if (auto t = parse_time(body[key].get<std::string>()); t) latest = std::max(latest, *t);
    }
    expires_at = latest + kDefaultSignedJobExpiryMs;
    body["expires_at"] = format_time(*expires_at);
  }
  auto env = signer.sign(body.value("serial", ""), *kind, body.value("params", Json::object()),
                         expires_at, now);
  if (!env) return env.error();
  body["envelope"] = envelope_json(*env);
  return ok_status();
}

}  // namespace printrelay::cli
