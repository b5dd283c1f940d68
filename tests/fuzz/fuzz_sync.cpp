// Fuzz target: the body a child relay sends to POST /v1/relay/sync (parse_sync_request in
// relay/child_relays.h), read as the relay reads it: parse_body, then parse_sync_request. The
// input is the body. A request that parses holds only what the parser's checks promise, and
// ChildRelays::sync can read each item and sighting the way it does without throwing.
#include <cstdint>
#include <string>
#include <string_view>

#include "core/codec.h"
#include "fuzz_check.h"
#include "relay/child_relays.h"

namespace printrelay {
namespace {

void check_ids(const Json& body, const char* key, std::size_t count) {
  FUZZ_CHECK(count <= kMaxSyncSerials);
  if (!body.contains(key)) FUZZ_CHECK(count == 0);
}

void check_request(const Json& body, const SyncRequest& req) {
  FUZZ_CHECK(req.version.size() <= 64);
  FUZZ_CHECK(req.wait_s >= 0 && req.wait_s <= kMaxSyncWaitS);
  // The wait taken is the wait asked for, not a wrapped copy of it.
  if (body.contains("wait_s")) FUZZ_CHECK(body["wait_s"] == Json(req.wait_s));

  check_ids(body, "serials", req.serials.size());
  for (const auto& serial : req.serials) FUZZ_CHECK(is_valid_id(serial));
  check_ids(body, "held_jobs", req.held_jobs.size());
  for (const auto& id : req.held_jobs) FUZZ_CHECK(is_valid_id(id));

  FUZZ_CHECK(req.sightings.is_array() && req.sightings.size() <= kMaxSyncSerials);
  for (const auto& s : req.sightings) {
    FUZZ_CHECK(is_valid_id(s["serial"].get<std::string>()));
    static_cast<void>(s["last_seen"].get<TimeMs>());
    static_cast<void>(text_field(s, "state"));
  }

  FUZZ_CHECK(req.items.is_array() && req.items.size() <= kMaxSyncItems);
  std::int64_t last = 0;
  for (const auto& item : req.items) {
    const auto seq = item["seq"].get<std::int64_t>();
    FUZZ_CHECK(seq > last);
    last = seq;
    const auto kind = item["kind"].get<std::string>();
    FUZZ_CHECK(kind == "device" || kind == "reports" || kind == "event");
    FUZZ_CHECK(is_valid_id(item["serial"].get<std::string>()));
    FUZZ_CHECK(item["body"].is_object());
  }
}

}  // namespace
}  // namespace printrelay

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace printrelay;
  const auto body = parse_body(fuzz::text_of(data, size));
  if (!body) return 0;  // fuzz_body covers parse_body itself
  const auto req = parse_sync_request(*body);
  if (!req) {
    FUZZ_CHECK(req.error().kind == ErrorKind::kBadInput ||
               req.error().kind == ErrorKind::kTooLarge);
    fuzz::check_refusal(req.error());
    return 0;
  }
  check_request(*body, *req);
  return 0;
}
