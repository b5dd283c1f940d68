// Fuzz target: request bodies (core/json_text.h parse_json, core/codec.h parse_body) and the
// codecs that read what they parse (parse_report, parse_job_request, ...). The input is a body.
// - parse_json succeeds exactly when the text nests at most kMaxJsonDepth deep and nlohmann
//   accepts it, and the value parsed nests no deeper than the depth counted on the text;
// - a parsed value re-serialises, and its text parses back to the same text;
// - no codec throws (their contract: failures are values), a refusal's error body serialises,
//   and whatever a codec accepts it writes back as something it accepts again, unchanged.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/codec.h"
#include "core/json_text.h"
#include "fuzz_check.h"

namespace printrelay {
namespace {

constexpr TimeMs kNow = 1'780'000'000'000;  // 2026-05-28, the relay's clock for job requests

std::size_t depth_of(const Json& j) {
  if (!j.is_structured()) return 0;
  std::size_t deepest = 0;
  for (const auto& v : j) deepest = std::max(deepest, depth_of(v));
  return deepest + 1;
}

// parse(to_json(parse(body))) accepts what it wrote, and writes it again unchanged.
template <typename Parse>
void check_codec(const Json& body, Parse parse) {
  auto first = parse(body);
  fuzz::check_refusal(first);
  if (!first) return;
  const Json written = to_json(*first);
  static_cast<void>(written.dump());
  auto second = parse(written);
  FUZZ_CHECK(second.ok());
  FUZZ_CHECK(to_json(*second) == written);
}

void check_job_request(const Json& body) {
  auto job = parse_job_request(body, kNow);
  fuzz::check_refusal(job);
  if (!job) return;
  FUZZ_CHECK(is_valid_id(job->serial));
  FUZZ_CHECK(validate_job_params(job->kind, job->params).ok());
  FUZZ_CHECK(!job->expires_at || (*job->expires_at > kNow && *job->expires_at > job->not_before));
  static_cast<void>(to_json(*job).dump());
}

}  // namespace
}  // namespace printrelay

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace printrelay;
  const std::string_view text = fuzz::text_of(data, size);

  const std::size_t depth = json_nesting_depth(text);
  const auto any = parse_json(text);
  fuzz::check_refusal(any);
  // nlohmann stops at a NUL byte; parse_json refuses text with one.
  const bool nul = text.find('\0') != std::string_view::npos;
  FUZZ_CHECK(any.ok() == (!nul && depth <= kMaxJsonDepth && Json::accept(text)));
  if (any) {
    // The guard counted at least the depth parsed (more when a duplicate key's value was dropped).
    FUZZ_CHECK(depth_of(*any) <= depth);
    const std::string once = any->dump();
    const auto again = parse_json(once);
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->dump() == once);
  }

  const auto body = parse_body(text);
  fuzz::check_refusal(body);
  FUZZ_CHECK(body.ok() == (any.ok() && any->is_object()));
  if (!body) return 0;

  check_codec(*body, [](const Json& j) { return parse_report(j); });
  check_codec(*body, [](const Json& j) { return parse_receipt(j); });
  check_codec(*body, [](const Json& j) { return parse_poll_policy(j); });
  check_codec(*body, [](const Json& j) { return parse_job_event(j, "job-1"); });
  check_codec(*body, [](const Json& j) { return parse_registration(j); });
  check_codec(*body, [](const Json& j) { return parse_job(j); });
  check_job_request(*body);
  return 0;
}
