#include "core/notification_routing.h"

#include <algorithm>
#include <cctype>
#include <set>

#include "core/json_fields.h"
#include "core/rule_text.h"

namespace printrelay {

namespace {

constexpr std::size_t kMaxRuleNameLength = 64;
constexpr std::size_t kMaxMatchValueLength = 128;
constexpr std::size_t kMaxEmailLength = 254;
constexpr std::size_t kMaxWebhookLength = 2048;

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 253) return false;
  while (true) {
    auto dot = d.find('.');
    std::string_view label = d.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    bool ok = std::all_of(label.begin(), label.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-';
    });
    if (!ok) return false;
    if (dot == std::string_view::npos) return true;
    d.remove_prefix(dot + 1);
  }
}

// The address with its domain lower-cased, or nothing when it is not a plain local@domain.
std::optional<std::string> normalized_email(std::string_view a) {
  if (a.size() < 3 || a.size() > kMaxEmailLength || !printable_ascii(a)) return std::nullopt;
  auto at = a.find('@');
  if (at == std::string_view::npos || at != a.rfind('@')) return std::nullopt;
  std::string_view local = a.substr(0, at), domain = a.substr(at + 1);
  if (local.empty() || local.size() > 64 || local.front() == '.' || local.back() == '.' ||
      local.find("..") != std::string_view::npos) {
    return std::nullopt;
  }
  if (local.find_first_of("\"(),:;<>[\\]") != std::string_view::npos) return std::nullopt;
  if (!valid_domain(domain)) return std::nullopt;
  return std::string(local) + "@" + lower(domain);
}

bool valid_webhook(std::string_view u) {
  if (u.size() > kMaxWebhookLength || !printable_ascii(u)) return false;
  std::string l = lower(u.substr(0, 8));
  std::size_t scheme = l.rfind("https://", 0) == 0 ? 8 : l.rfind("http://", 0) == 0 ? 7 : 0;
  if (scheme == 0) return false;
  std::string_view rest = u.substr(scheme);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  auto at = authority.rfind('@');
  std::string_view host = at == std::string_view::npos ? authority : authority.substr(at + 1);
  if (!host.empty() && host.front() == '[') return host.find(']') != std::string_view::npos;
  host = host.substr(0, host.find(':'));
  return !host.empty();
}

bool known_event_type(const std::string& type) {
  const auto& known = notification_event_types();
  return std::find(known.begin(), known.end(), type) != known.end();
}

// "emails" (normalised) or "webhooks": each valid, none twice (addresses compared without case).
Result<std::vector<std::string>> parse_targets(const std::string& key, const Json& v,
                                               const std::string& field) {
  auto list = read_text_list(v, field, kMaxTargetsPerRule, kMaxWebhookLength);
  if (!list) return list.error();
  const bool emails = key == "emails";
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const auto& t : *list) {
    std::string target = t;
    if (emails) {
      auto e = normalized_email(t);
      if (!e) return bad_input(field + ": '" + t + "' is not an e-mail address");
      target = *e;
    } else if (!valid_webhook(t)) {
      return bad_input(field + ": '" + t +
                       "' is not an http:// or https:// URL with a host (printable "
                       "ASCII, at most 2048 characters)");
    }
    if (!seen.insert(emails ? lower(target) : target).second) {
      return bad_input(field + " lists '" + t + "' twice");
    }
    out.push_back(std::move(target));
  }
  return out;
}

// "types" (each a known event type), "customers", "models" or "serials".
Result<std::vector<std::string>> parse_match_list(const std::string& key, const Json& v,
                                                  const std::string& field) {
  auto list = read_text_list(v, field, kMaxMatchValues, kMaxMatchValueLength);
  if (!list) return list.error();
  if (key == "types") {
    for (const auto& t : *list) {
      if (!known_event_type(t)) {
        return bad_input(field + ": unknown event type '" + t +
                         "' (known: " + join(notification_event_types(), ", ") + ")");
      }
    }
  }
  return list;
}

// The fields of one rule but its name, which the caller has read. `what` names the rule.
Status parse_rule_fields(const Json& o, const std::string& what, NotificationRule& r) {
  for (const auto& item : o.items()) {
    const std::string& key = item.key();
    const Json& v = item.value();
    const std::string field = what + ": " + key;
    if (key == "name") continue;
    if (key == "enabled" || key == "contact") {
      auto b = read_bool(v, field);
      if (!b) return b.error();
      (key == "enabled" ? r.enabled : r.contact) = *b;
    } else if (key == "min_urgency") {
      auto u = read_urgency(v, field);
      if (!u) return u.error();
      r.min_urgency = *u;
    } else if (key == "emails" || key == "webhooks") {
      auto targets = parse_targets(key, v, field);
      if (!targets) return targets.error();
      auto& into = key == "emails" ? r.emails : r.webhooks;
      into.insert(into.end(), targets->begin(), targets->end());
    } else {  // types, customers, models, serials
      auto list = parse_match_list(key, v, field);
      if (!list) return list.error();
      std::vector<std::string>& into = key == "types"       ? r.types
                                       : key == "customers" ? r.customers
                                       : key == "models"    ? r.models
                                                            : r.serials;
      into = std::move(*list);
    }
  }
  return ok_status();
}

// Rule `index` (from 0) of the list; `names` holds the names of the rules before it.
Result<NotificationRule> parse_rule(const Json& o, std::size_t index,
                                    std::set<std::string>& names) {
  std::string what = "notification rule " + std::to_string(index + 1);
  if (!o.is_object()) return bad_input(what + " must be an object");
  if (auto n = o.find("name"); n != o.end() && n->is_string()) {
    what += " ('" + n->get<std::string>() + "')";
  }
  if (auto st = check_fields(o, what,
                             {"name", "enabled", "types", "min_urgency", "customers", "models",
                              "serials", "emails", "webhooks", "contact"});
      !st) {
    return st.error();
  }
  NotificationRule r;
  auto name = o.find("name");
  if (name == o.end()) return bad_input(what + " needs a 'name'");
  auto n = read_text(*name, what + ": name", kMaxRuleNameLength);
  if (!n) return n.error();
  r.name = *n;
  if (!names.insert(r.name).second) {
    return bad_input("notification rules have two rules named '" + r.name + "'");
  }
  if (auto st = parse_rule_fields(o, what, r); !st) return st.error();
  if (r.emails.size() + r.webhooks.size() > kMaxTargetsPerRule) {
    return bad_input(what + " has more than " + std::to_string(kMaxTargetsPerRule) + " targets");
  }
  if (r.emails.empty() && r.webhooks.empty() && !r.contact) {
    return bad_input(what + " has no target: give emails, webhooks or \"contact\": true");
  }
  return r;
}

bool urgency_at_least(Urgency u, Urgency min) { return int(u) >= int(min); }

// An empty condition list matches anything.
bool in(const std::vector<std::string>& list, const std::string& v) {
  return list.empty() || std::find(list.begin(), list.end(), v) != list.end();
}

bool matches(const NotificationRule& r, const NotificationEvent& event) {
  if (!r.enabled || !in(r.types, event.type) || !in(r.customers, event.customer) ||
      !in(r.models, event.model) || !in(r.serials, event.serial)) {
    return false;
  }
  return !r.min_urgency || urgency_at_least(event.urgency, *r.min_urgency);
}

}  // namespace

Result<std::vector<NotificationRule>> parse_notification_rules(const Json& j) {
  if (j.is_null()) return std::vector<NotificationRule>{};
  if (!j.is_array()) return bad_input("notification rules must be an array of rule objects");
  if (j.size() > kMaxNotificationRules) {
    return bad_input("at most " + std::to_string(kMaxNotificationRules) + " notification rules");
  }
  std::vector<NotificationRule> rules;
  std::set<std::string> names;
  for (std::size_t i = 0; i < j.size(); ++i) {
    auto r = parse_rule(j[i], i, names);
    if (!r) return r.error();
    rules.push_back(std::move(*r));
  }
  return rules;
}

Json to_json(const std::vector<NotificationRule>& rules) {
  Json a = Json::array();
  for (const auto& r : rules) {
    Json o = {{"name", r.name}, {"enabled", r.enabled}};
    if (!r.types.empty()) o["types"] = r.types;
    if (r.min_urgency) o["min_urgency"] = to_string(*r.min_urgency);
    if (!r.customers.empty()) o["customers"] = r.customers;
    if (!r.models.empty()) o["models"] = r.models;
    if (!r.serials.empty()) o["serials"] = r.serials;
    if (!r.emails.empty()) o["emails"] = r.emails;
    if (!r.webhooks.empty()) o["webhooks"] = r.webhooks;
    if (r.contact) o["contact"] = true;
    a.push_back(std::move(o));
  }
  return a;
}

const char* to_string(Channel c) { return c == Channel::kWebhook ? "webhook" : "email"; }

Result<std::vector<RouteTarget>> route(const std::vector<NotificationRule>& rules,
                                       const NotificationEvent& event) {
  if (!known_event_type(event.type)) {
    return bad_input("unknown notification event type '" + event.type + "'");
  }
  std::vector<RouteTarget> out;
  std::set<std::pair<Channel, std::string>> seen;
  auto add = [&](Channel ch, const std::string& target, const std::string& rule) {
    std::string key = ch == Channel::kEmail ? lower(target) : target;
    if (seen.insert({ch, key}).second) out.push_back({ch, target, rule});
  };
  for (const auto& r : rules) {
    if (!matches(r, event)) continue;
    for (const auto& e : r.emails) add(Channel::kEmail, e, r.name);
    if (r.contact) {
      if (auto e = normalized_email(event.contact)) add(Channel::kEmail, *e, r.name);
    }
    for (const auto& w : r.webhooks) add(Channel::kWebhook, w, r.name);
  }
  return out;
}

Json to_json(const RouteTarget& t) {
  return {{"channel", to_string(t.channel)}, {"target", t.target}, {"rule", t.rule}};
}

}  // namespace printrelay
