// Fuzz target: signed job envelopes (core/firmware_job.h parse_envelope_text) and what a device
// reads from one: the firmware job's params, the update time they plan, the expiry check, and
// the signed job request that carries the envelope (parse_job_request). The input is the
// envelope's text. An envelope that parses is canonical text, holds what the parser promises,
// and is written back by envelope_text() as an envelope that reads back the same; firmware
// params that parse re-serialise to params that parse to the same spec, keeping the numbers as
// given. Nothing throws.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/artifact.h"
#include "core/codec.h"
#include "core/firmware_job.h"
#include "core/json_text.h"
#include "fuzz_check.h"

namespace printrelay {
namespace {

constexpr TimeMs kNow = 1'780'000'000'000;  // 2026-05-28
const std::string kSignature(128, 'a');     // the signature is checked elsewhere (net/signing.h)

void check_same(const JobEnvelope& a, const JobEnvelope& b) {
  FUZZ_CHECK(a.id == b.id && a.serial == b.serial && a.kind == b.kind);
  FUZZ_CHECK(a.params == b.params && a.expires_at == b.expires_at);
  FUZZ_CHECK(a.key_id == b.key_id && a.signed_at == b.signed_at);
}

void check_firmware_params(const Json& params, TimeMs signed_at) {
  auto spec = parse_firmware_params(params);
  fuzz::check_refusal(spec);
  if (!spec) return;
  FUZZ_CHECK(!spec->components.empty() && spec->components.size() <= 16);
  FUZZ_CHECK(spec->max_attempts >= 1 && spec->max_attempts <= 10);
  FUZZ_CHECK(spec->write_estimate_s >= 1 && spec->write_estimate_s <= 86400);
  for (const auto& c : spec->components) FUZZ_CHECK(is_sha256_hex(c.artifact) && c.size >= 0);

  const Json written = to_json(*spec);
  static_cast<void>(written.dump());
  // The numbers a device acts on are the ones signed, not a wrapped copy of them.
  for (const char* key : {"max_attempts", "write_estimate_s"}) {
    if (params.contains(key)) FUZZ_CHECK(params[key] == written[key]);
  }
  auto again = parse_firmware_params(written);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(to_json(*again) == written);

  auto planned = planned_update_time(*spec, signed_at);
  fuzz::check_refusal(planned);
  if (planned) FUZZ_CHECK(planned->at >= planned->wanted);
  fuzz::check_refusal(check_not_downgrade(*spec, Json{{"main", "2.0.0"}, {"controller", "1.9"}}));
}

// The envelope as a service center hands it to the relay: a job request that carries it.
void check_job_request(const JobEnvelope& e, std::string_view text) {
  Json request = {{"serial", e.serial == kAnyDevice ? std::string("MFP-0001") : e.serial},
                  {"kind", to_string(e.kind)},
                  {"envelope", {{"text", std::string(text)}, {"signature", kSignature}}}};
  auto job = parse_job_request(request, kNow);
  fuzz::check_refusal(job);
  if (!job) return;
  auto held = envelope_of(job->params);
  FUZZ_CHECK(held.ok() && held->text == text);
  FUZZ_CHECK(params_without_envelope(job->params) == e.params);
  FUZZ_CHECK(job->expires_at == e.expires_at);
}

}  // namespace
}  // namespace printrelay

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace printrelay;
  const std::string_view text = fuzz::text_of(data, size);
  const auto envelope = parse_envelope_text(text);
  if (!envelope) {
    FUZZ_CHECK(envelope.error().kind == ErrorKind::kBadInput);
    fuzz::check_refusal(envelope.error());
    return 0;
  }
  const JobEnvelope& e = *envelope;
  const auto parsed = parse_json(text);
  FUZZ_CHECK(parsed.ok() && parsed->dump() == text);
  FUZZ_CHECK(e.id.size() >= 16 && is_valid_id(e.id));
  FUZZ_CHECK(e.serial == kAnyDevice || is_valid_id(e.serial));
  FUZZ_CHECK(is_key_id(e.key_id));
  FUZZ_CHECK(e.params.is_object() && !e.params.contains("envelope"));
  if (e.serial == kAnyDevice) FUZZ_CHECK(e.kind == JobKind::kFirmware && e.expires_at);

  // What was signed can be signed again: envelope_text() writes it, and it reads back the same.
  const auto rewritten = envelope_text(e);
  FUZZ_CHECK(rewritten.ok());
  const auto reread = parse_envelope_text(*rewritten);
  FUZZ_CHECK(reread.ok());
  check_same(e, *reread);

  FUZZ_CHECK(check_envelope_for(e, e.serial, e.kind).ok());
  fuzz::check_refusal(check_envelope_expiry(e, kNow));
  if (e.kind == JobKind::kFirmware) check_firmware_params(e.params, e.signed_at);
  check_job_request(e, text);
  return 0;
}
