// The routing of monitoring events to e-mail addresses and webhooks (DESIGN.md §9: several
// addresses per event), by operator-written rules that match on event type, urgency, customer,
// model and serial.
//
// Pure: no I/O and no clock (times are passed in as TimeMs, UTC milliseconds); deterministic, so
// the relay, relayctl and the tests reach the same answer. Rule tables come from operators as JSON:
// their parsers refuse unknown keys and return a bad_input Error naming the field at fault (see
// json_fields.h); nothing here throws on bad input. Each parse_* has a to_json() that parse_* reads
// back to the same value.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "core/model.h"
#include "core/result.h"

namespace printrelay {

// The event types a rule may name; a rule naming another is refused (it would never match).
inline const std::vector<std::string>& notification_event_types() {
  static const std::vector<std::string> k = {
      "alert",   "supply_low", "supply_empty",    "part_eol",       "incompatible", "update_ready",
      "trouble", "job_failed", "campaign_paused", "device_offline", "message",      "order"};
  return k;
}

inline constexpr std::size_t kMaxNotificationRules = 256;
inline constexpr std::size_t kMaxTargetsPerRule = 32;
inline constexpr std::size_t kMaxMatchValues = 1000;

// A rule matches an event when every condition it sets holds; an empty list matches anything.
struct NotificationRule {
  std::string name;  // unique, 1..64 characters
  bool enabled = true;
  std::vector<std::string> types;  // event types
  std::optional<Urgency> min_urgency;
  std::vector<std::string> customers;  // exact registration customer names
  std::vector<std::string> models;
  std::vector<std::string> serials;
  std::vector<std::string> emails;    // addresses, domain lower-cased
  std::vector<std::string> webhooks;  // http(s) URLs
  bool contact = false;  // also mail the device's registered contact (seed 002: the installer)
};

// An array of {"name", "enabled", "types", "min_urgency", "customers", "models", "serials",
// "emails", "webhooks", "contact"}: list fields take an array of strings or one string; "name" and
// at least one target required; unknown keys refused. At most kMaxNotificationRules rules and
// kMaxTargetsPerRule targets per rule; names unique; a target listed twice in one rule refused.
// Addresses: local@domain, no spaces, quotes, angle brackets or control characters (they would let
// a rule inject mail headers), at most 254 characters. Webhooks: http:// or https:// with a host,
// printable ASCII, at most 2048 characters.
Result<std::vector<NotificationRule>> parse_notification_rules(const Json& j);
Json to_json(const std::vector<NotificationRule>& rules);

struct NotificationEvent {
  std::string type;  // one of notification_event_types()
  Urgency urgency = Urgency::kNormal;
  std::string serial;
  std::string model;
  std::string customer;
  std::string contact;  // the registration's contact; used when it is an e-mail address
};

enum class Channel { kEmail, kWebhook };
const char* to_string(Channel c);  // "email", "webhook"

struct RouteTarget {
  Channel channel = Channel::kEmail;
  std::string target;
  std::string rule;  // the first rule (in list order) that routed the event there
  bool operator==(const RouteTarget&) const = default;
};

// Who gets `event`: the targets of every enabled matching rule, in rule order and, within a rule,
// e-mails, then the contact, then webhooks. Each target once (e-mail addresses compared without
// case), credited to the first rule that named it. A contact that is not an e-mail address is
// skipped. Bad input for an event type that is not one of notification_event_types().
Result<std::vector<RouteTarget>> route(const std::vector<NotificationRule>& rules,
                                       const NotificationEvent& event);
Json to_json(const RouteTarget& t);  // {"channel", "target", "rule"}

}  // namespace printrelay
