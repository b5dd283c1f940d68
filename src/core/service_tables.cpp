#include "core/service_tables.h"

#include <initializer_list>
#include <set>
#include <string_view>

#include "core/json_fields.h"

namespace printrelay {

namespace {

bool code_ok(const std::string& s) {
  if (s.empty() || s.size() > kMaxCodeLength) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

bool valid_utf8(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = s[i];
    std::size_t n = 0;
    if (c >= 0x80) {
      if ((c >> 5) == 0x6) {
        n = 1;
      } else if ((c >> 4) == 0xe) {
        n = 2;
      } else if ((c >> 3) == 0x1e) {
        n = 3;
      } else {
        return false;
      }
    }
    if (i + n >= s.size() && n > 0) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return false;
    }
    i += n + 1;
  }
  return true;
}

// UTF-8 text without control characters (a table entry ends up in mail subjects and on panels).
bool text_ok(const std::string& s, std::size_t max) {
  if (s.size() > max) return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) return false;
  }
  return valid_utf8(s);
}

Result<std::string> string_at(const Json& e, const char* key, bool required,
                              const std::string& where) {
  auto it = e.find(key);
  if (it == e.end() || it->is_null()) {
    if (required) return bad_input(where + ": '" + key + "' is required");
    return std::string();
  }
  if (!it->is_string()) return bad_input(where + ": '" + key + "' must be a string");
  return it->get<std::string>();
}

template <typename Entry, typename Fill>
Result<std::map<std::string, Entry>> parse_code_table(const Json& j, const char* what,
                                                      std::initializer_list<std::string_view> keys,
                                                      Fill fill) {
  if (!j.is_array()) return bad_input(std::string(what) + " must be an array of entries");
  if (j.size() > kMaxCodeTableEntries)
    return bad_input(std::string(what) + ": at most " + std::to_string(kMaxCodeTableEntries) +
                     " entries");
  std::map<std::string, Entry> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string where = std::string(what) + "[" + std::to_string(i) + "]";
    const Json& e = j[i];
    if (!e.is_object()) return bad_input(where + " must be an object");
    if (auto st = check_fields(e, where, keys); !st) return st.error();
    auto code = string_at(e, "code", true, where);
    if (!code) return code.error();
    if (!code_ok(*code))
      return bad_input(where + ": code must be 1-32 printable characters without spaces");
    auto text = string_at(e, "text", true, where);
    if (!text) return text.error();
    if (text->empty() || !text_ok(*text, kMaxCodeTextLength))
      return bad_input(where + " (" + *code +
                       "): text must be 1-200 characters, no control "
                       "characters");
    Entry entry;
    entry.code = *code;
    entry.text = *text;
    if (auto st = fill(e, entry, where + " (" + *code + ")"); !st) return st.error();
    if (!out.emplace(*code, std::move(entry)).second)
      return bad_input(where + ": code " + *code + " is listed twice");
  }
  return out;
}

}  // namespace

Result<ErrorContentTable> parse_error_content_table(const Json& j) {
  return parse_code_table<ErrorContent>(
      j, "error_codes", {"code", "text", "action", "urgency"},
      [](const Json& e, ErrorContent& entry, const std::string& where) -> Status {
        auto action = string_at(e, "action", false, where);
        if (!action) return action.error();
        if (!text_ok(*action, kMaxCodeActionLength))
          return bad_input(where +
                           ": action must be at most 500 characters, no control "
                           "characters");
        entry.action = *action;
        auto urgency = string_at(e, "urgency", false, where);
        if (!urgency) return urgency.error();
        if (!urgency->empty()) {
          entry.urgency = urgency_from(*urgency);
          if (!entry.urgency)
            return bad_input(where + ": urgency must be low, normal, high or fatal");
        }
        return Ok{};
      });
}

Json to_json(const ErrorContentTable& t) {
  Json out = Json::array();
  for (const auto& [code, e] : t) {
    Json j = {{"code", e.code}, {"text", e.text}};
    if (!e.action.empty()) j["action"] = e.action;
    if (e.urgency) j["urgency"] = to_string(*e.urgency);
    out.push_back(std::move(j));
  }
  return out;
}

Result<OrderContentTable> parse_order_content_table(const Json& j) {
  return parse_code_table<OrderContent>(
      j, "order_codes", {"code", "text"},
      [](const Json&, OrderContent&, const std::string&) -> Status { return Ok{}; });
}

Json to_json(const OrderContentTable& t) {
  Json out = Json::array();
  for (const auto& [code, e] : t) out.push_back({{"code", e.code}, {"text", e.text}});
  return out;
}

std::string order_reply_text(const OrderContentTable& t, const std::string& item,
                             std::int64_t quantity) {
  auto it = t.find(item);
  const std::string what = it != t.end() ? it->second.text + " (" + item + ")" : item;
  return "Order accepted: " + std::to_string(quantity) + " x " + what +
         ". Delivery will be arranged.";
}

Result<std::vector<AutoUpdateAuthorisation>> parse_auto_update_authorisations(const Json& j) {
  if (!j.is_array()) return bad_input("auto_updates must be an array of {model, envelope}");
  if (j.size() > 1000) return bad_input("auto_updates: at most 1000 authorisations");
  std::vector<AutoUpdateAuthorisation> out;
  std::set<std::pair<std::string, std::map<std::string, std::string>>> seen;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string where = "auto_updates[" + std::to_string(i) + "]";
    const Json& e = j[i];
    if (!e.is_object()) return bad_input(where + " must be an object");
    if (auto st = check_fields(e, where, {"model", "envelope"}); !st) return st.error();
    auto model = string_at(e, "model", true, where);
    if (!model) return model.error();
    if (model->empty() || !is_valid_id(*model))
      return bad_input(where + ": model must be 1-64 characters of [A-Za-z0-9._:-]");
    auto env = envelope_of(Json{{"envelope", e.value("envelope", Json())}});
    if (!env) return bad_input(where + ": " + env.error().message);
    auto parsed = parse_envelope_text(env->text);
    if (!parsed) return bad_input(where + ": " + parsed.error().message);
    if (parsed->serial != kAnyDevice)
      return bad_input(where + ": the envelope names device " + parsed->serial +
                       "; a standing authorisation names serial *");
    auto spec = parse_firmware_params(parsed->params);
    if (!spec) return bad_input(where + ": " + spec.error().message);
    AutoUpdateAuthorisation a;
    a.model = *model;
    a.envelope = *env;
    a.parsed = *parsed;
    for (const auto& c : spec->components) a.versions[c.component] = c.version;
    if (!seen.emplace(a.model, a.versions).second)
      return bad_input(where + ": " + a.model + " already has an authorisation for these versions");
    out.push_back(std::move(a));
  }
  return out;
}

Json to_json(const std::vector<AutoUpdateAuthorisation>& list) {
  Json out = Json::array();
  for (const auto& a : list) {
    out.push_back({{"model", a.model},
                   {"envelope", {{"text", a.envelope.text}, {"signature", a.envelope.signature}}}});
  }
  return out;
}

const AutoUpdateAuthorisation* find_authorisation(const std::vector<AutoUpdateAuthorisation>& list,
                                                  const std::string& model,
                                                  const std::map<std::string, std::string>& updates,
                                                  TimeMs now) {
  const AutoUpdateAuthorisation* best = nullptr;
  for (const auto& a : list) {
    if (a.model != model || updates.empty()) continue;
    if (a.parsed.expires_at && *a.parsed.expires_at <= now) continue;
    bool covers = true;
    for (const auto& [unit, version] : updates) {
      auto it = a.versions.find(unit);
      if (it == a.versions.end() || it->second != version) covers = false;
    }
    if (!covers) continue;
    if (a.versions == updates) return &a;
    if (!best || a.versions.size() < best->versions.size()) best = &a;
  }
  return best;
}

}  // namespace printrelay
