#include "cli/requests.h"

#include <charconv>
#include <set>

#include "core/artifact.h"
#include "core/codec.h"
#include "core/sha256.h"
#include "core/time.h"
#include "net/signing.h"

namespace printrelay::cli {
namespace {

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::optional<std::int64_t> parse_integer(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::int64_t v = 0;
  const char* first = s.data();
  if (*first == '+') return std::nullopt;
  auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// Fills not_before/execute_at/expires_at from what the user typed; empty means "not given".
Status add_times(Json& body, const JobTimes& t, TimeMs now) {
  for (auto [key, flag, text] : {std::tuple{"not_before", "--not-before", &t.not_before},
                                 std::tuple{"execute_at", "--execute-at", &t.execute_at},
                                 std::tuple{"expires_at", "--expires-at", &t.expires_at}}) {
    if (text->empty()) continue;
    auto wire = parse_time_input(*text, now);
    if (!wire) return bad_input(std::string(flag) + ": " + wire.error().message);
    body[key] = *wire;
  }
  return ok_status();
}

Status check_serial(const std::string& serial) {
  if (serial.empty()) return bad_input("--serial is required");
  if (!is_valid_id(serial)) {
    return bad_input("--serial must be 1-64 characters of [A-Za-z0-9._:-]: '" + serial + "'");
  }
  return ok_status();
}

Result<ApiCall> job_call(const std::string& serial, const char* kind, Json params,
                         const JobTimes& times, TimeMs now) {
  if (auto s = check_serial(serial); !s) return s.error();
  Json body = {{"serial", serial}, {"kind", kind}, {"params", std::move(params)}};
  if (auto s = add_times(body, times, now); !s) return s.error();
  return ApiCall{"POST", "/v1/jobs", std::move(body)};
}

}  // namespace

Result<std::vector<std::string>> csv_record(std::string_view text, std::size_t& pos, int& lines) {
  std::vector<std::string> fields(1);
  bool quoted = false;
  bool was_quoted = false;
  ++lines;
  while (pos < text.size()) {
    char c = text[pos++];
    if (quoted) {
      if (c == '"') {
        if (pos < text.size() && text[pos] == '"') {
          fields.back() += '"';
          ++pos;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++lines;
        fields.back() += c;
      }
      continue;
    }
    if (c == '"' && fields.back().empty() && !was_quoted) {
      quoted = true;
      was_quoted = true;
    } else if (c == ',') {
      fields.emplace_back();
      was_quoted = false;
    } else if (c == '\n') {
      break;
    } else if (c == '\r') {
      // CRLF line ends: the '\n' that follows ends the record.
    } else {
      if (was_quoted) return bad_input("text after a closing quote");
      fields.back() += c;
    }
  }
  if (quoted) return bad_input("unterminated quoted field");
  return fields;
}

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += char(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string with_query(std::string path,
                       const std::vector<std::pair<std::string, std::string>>& query) {
  char sep = '?';
  for (const auto& [k, v] : query) {
    if (v.empty()) continue;
    path += sep;
    path += url_encode(k) + "=" + url_encode(v);
    sep = '&';
  }
  return path;
}

Result<std::string> parse_time_input(std::string_view s, TimeMs now) {
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    auto bad = [&] {
      return bad_input(
          "relative time must look like +30s, +10m, +2h or +1d (or -1d for the past): '" +
          std::string(s) + "'");
    };
    if (s.size() < 3) return bad();
    auto n = parse_integer(s.substr(1, s.size() - 2));
    TimeMs unit_ms = 0;
    switch (s.back()) {
      case 's':
        unit_ms = 1000;
        break;
      case 'm':
        unit_ms = 60'000;
        break;
      case 'h':
        unit_ms = 3'600'000;
        break;
      case 'd':
        unit_ms = 86'400'000;
        break;
      default:
        break;
    }
    if (!n || *n < 0 || unit_ms == 0 || *n > 3650LL * 86'400'000 / unit_ms) return bad();
    return format_time(s[0] == '+' ? now + *n * unit_ms : now - *n * unit_ms);
  }
  auto t = parse_time(s);
  if (!t) return t.error();
  return format_time(*t);
}

Json setting_value(std::string_view text) {
  if (text == "true") return true;
  if (text == "false") return false;
  if (auto n = parse_integer(text)) return *n;
  return std::string(text);
}

Result<std::pair<std::string, Json>> parse_setting(std::string_view key_value) {
  auto eq = key_value.find('=');
  if (eq == std::string_view::npos) {
    return bad_input("--set needs key=value: '" + std::string(key_value) + "'");
  }
  std::string key = trim(key_value.substr(0, eq));
  if (key.empty()) return bad_input("--set has an empty key: '" + std::string(key_value) + "'");
  return std::pair{key, setting_value(key_value.substr(eq + 1))};
}

Result<std::vector<std::string>> split_list(std::string_view s, const char* what) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (true) {
    auto comma = s.find(',', start);
    std::string item =
        trim(s.substr(start, comma == std::string_view::npos ? s.npos : comma - start));
    if (item.empty()) {
      return bad_input(std::string(what) +
                       " must be a comma-separated list without empty items: '" + std::string(s) +
                       "'");
    }
    items.push_back(std::move(item));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return items;
}

Result<Json> parse_counter_condition(std::string_view s) {
  auto op = s.find(">=");
  std::string counter = op == std::string_view::npos ? "" : trim(s.substr(0, op));
  auto value = op == std::string_view::npos ? std::nullopt : parse_integer(trim(s.substr(op + 2)));
  if (counter.empty() || !value || *value < 0) {
    return bad_input("--when-counter must look like total>=100000: '" + std::string(s) + "'");
  }
  return Json{{"kind", "counter_at_least"}, {"counter", counter}, {"value", *value}};
}

Result<ApiCall> collect_job_call(const CollectJobArgs& a, TimeMs now) {
  if (a.data_sets.empty()) return bad_input("--data-sets is required (e.g. counters,supplies)");
  auto sets = split_list(a.data_sets, "--data-sets");
  if (!sets) return sets.error();
  for (const auto& name : *sets) {
    if (!is_data_set(name)) {
      return bad_input("--data-sets: unknown data set '" + name +
                       "' (counters, supplies, identification, structure, calls, jams, "
                       "adjustment, settings, comm-history)");
    }
  }
  return job_call(a.serial, "collect", {{"data_sets", *sets}}, a.times, now);
}

Result<ApiCall> configure_job_call(const ConfigureJobArgs& a, TimeMs now) {
  if (a.settings.empty()) return bad_input("configure needs at least one --set key=value");
  Json settings = Json::object();
  for (const auto& kv : a.settings) {
    auto s = parse_setting(kv);
    if (!s) return s.error();
    if (settings.contains(s->first)) return bad_input("--set " + s->first + " is given twice");
    settings[s->first] = s->second;
  }
  return job_call(a.serial, "configure", {{"settings", settings}}, a.times, now);
}

Result<ApiCall> schedule_job_call(const ScheduleJobArgs& a, TimeMs now) {
  Json policy = Json::object();
  if (a.interval_s) {
    if (*a.interval_s < 5 || *a.interval_s > 604800) {
      return bad_input("--interval-s must be 5..604800");
    }
    policy["interval_s"] = *a.interval_s;
  }
  if (!a.times_of_day.empty()) {
    auto times = split_list(a.times_of_day, "--times");
    if (!times) return times.error();
    for (const auto& t : *times) {
      if (auto m = parse_time_of_day(t); !m) return bad_input("--times: " + m.error().message);
    }
    policy["times_of_day"] = *times;
  }
  if (!a.on_power_on.empty()) {
    if (a.on_power_on != "true" && a.on_power_on != "false") {
      return bad_input("--on-power-on must be true or false");
    }
    policy["on_power_on"] = a.on_power_on == "true";
  }
  Json conditions = Json::array();
  for (const auto& c : a.when_counter) {
    auto cond = parse_counter_condition(c);
    if (!cond) return cond.error();
    conditions.push_back(*cond);
  }
  for (const auto& code : a.when_error) {
    std::string trimmed = trim(code);
    if (trimmed.empty()) return bad_input("--when-error needs an error code such as SC542");
    conditions.push_back({{"kind", "error_code"}, {"code", trimmed}});
  }
  if (!conditions.empty()) policy["conditions"] = conditions;
  if (policy.empty()) {
    return bad_input(
        "schedule needs at least one of --interval-s, --times, --on-power-on, --when-counter, "
        "--when-error");
  }
  if (auto p = parse_poll_policy(policy); !p) return p.error();
  return job_call(a.serial, "schedule", {{"poll_policy", policy}}, a.times, now);
}

Result<ApiCall> reboot_job_call(const std::string& serial, const JobTimes& times, TimeMs now) {
  return job_call(serial, "reboot", Json::object(), times, now);
}

Result<ApiCall> relay_update_job_call(const std::string& relay_id, const std::string& artifact,
                                      const JobTimes& times, TimeMs now) {
  if (!is_sha256_hex(artifact)) {
    return bad_input("--artifact must be the build's sha256 (64 lower-case hex): '" + artifact +
                     "'");
  }
  return job_call(relay_id, "relay-update", Json{{"artifact", artifact}}, times, now);
}

Status validate_registration(const RegistrationArgs& r) {
  if (r.serial.empty()) return bad_input("serial is required");
  if (!is_valid_id(r.serial)) {
    return bad_input("serial must be 1-64 characters of [A-Za-z0-9._:-]: '" + r.serial + "'");
  }
  if (r.model.empty()) return bad_input("model is required");
  if (r.model.size() > 128) return bad_input("model is longer than 128 characters");
  for (auto [name, value] : {std::pair{"place", &r.place}, std::pair{"customer", &r.customer},
                             std::pair{"contact", &r.contact}}) {
    if (value->size() > 256) return bad_input(std::string(name) + " is longer than 256 characters");
  }
  if (r.enrollment_code.empty()) return bad_input("enrollment_code is required");
  if (r.enrollment_code.size() < 4 || r.enrollment_code.size() > 128) {
    return bad_input("enrollment_code must be 4-128 characters");
  }
  return ok_status();
}

ApiCall registration_call(const RegistrationArgs& r) {
  return ApiCall{"POST", "/v1/registrations",
                 Json{{"serial", r.serial},
                      {"model", r.model},
                      {"place", r.place},
                      {"customer", r.customer},
                      {"contact", r.contact},
                      {"enrollment_code", r.enrollment_code}}};
}

RegistrationImport parse_registrations_csv(std::string_view text) {
  RegistrationImport out;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // spreadsheet BOM
  static const std::vector<std::string> kColumns = {"serial",   "model",   "place",
                                                    "customer", "contact", "enrollment_code"};
  std::size_t pos = 0;
  int line = 0;
  auto header = csv_record(text, pos, line);
  if (!header) {
    out.problems.push_back("line 1: " + header.error().message);
    return out;
  }
  std::vector<int> index(kColumns.size(), -1);
  for (std::size_t i = 0; i < header->size(); ++i) {
    std::string name = trim((*header)[i]);
    bool known = false;
    for (std::size_t k = 0; k < kColumns.size(); ++k) {
      if (name != kColumns[k]) continue;
      known = true;
      if (index[k] != -1) out.problems.push_back("line 1: column '" + name + "' appears twice");
      index[k] = int(i);
    }
    if (!known) out.problems.push_back("line 1: unknown column '" + name + "'");
  }
  for (std::size_t k = 0; k < kColumns.size(); ++k) {
    if (index[k] == -1 && k != 2 && k != 3 && k != 4) {
      out.problems.push_back("line 1: missing column '" + kColumns[k] +
                             "' (header: serial,model,place,customer,contact,enrollment_code)");
    }
  }
  if (!out.problems.empty()) return out;

  std::set<std::string> serials;
  while (pos < text.size()) {
    int first_line = line + 1;
    auto fields = csv_record(text, pos, line);
    auto where = "line " + std::to_string(first_line) + ": ";
    if (!fields) {
      out.problems.push_back(where + fields.error().message);
      continue;
    }
    if (fields->size() == 1 && trim((*fields)[0]).empty()) continue;  // blank line
    if (fields->size() != header->size()) {
      out.problems.push_back(where + "expected " + std::to_string(header->size()) +
                             " fields, found " + std::to_string(fields->size()));
      continue;
    }
    auto field = [&](std::size_t k) {
      return index[k] == -1 ? std::string() : trim((*fields)[std::size_t(index[k])]);
    };
    RegistrationArgs r{field(0), field(1), field(2), field(3), field(4), field(5)};
    if (auto s = validate_registration(r); !s) {
      out.problems.push_back(where + s.error().message);
      continue;
    }
    if (!serials.insert(r.serial).second) {
      out.problems.push_back(where + "serial " + r.serial + " appears twice in the file");
      continue;
    }
    out.rows.emplace_back(first_line, std::move(r));
  }
  if (out.rows.empty() && out.problems.empty())
    out.problems.push_back("no registrations after the header");
  return out;
}

Result<ArtifactPush> artifact_push_call(std::string bytes, const ArtifactDescription& description,
                                        const std::string& private_pem, TimeMs now) {
  if (auto s = check_description(description); !s) return s.error();
  auto public_pem = public_pem_of(private_pem);
  if (!public_pem) return public_pem.error();
  auto id = key_id(*public_pem);
  if (!id) return id.error();
  const std::string sha = sha256_hex(bytes);
  const auto size = std::int64_t(bytes.size());
  auto manifest = make_manifest(description, sha, size, *id, now);
  if (!manifest) return manifest.error();
  const std::string text = manifest->dump();
  auto signature = sign_text(text, private_pem);
  if (!signature) return signature.error();
  ArtifactPush push{std::move(*manifest), *signature, {}};
  push.call.path = "/v1/artifacts/" + sha;
  push.call.body = std::move(bytes);
  push.call.headers = {{"X-Artifact-Manifest", text}, {"X-Artifact-Signature", *signature}};
  push.call.timeout_ms = upload_timeout_ms(size);
  return push;
}

long upload_timeout_ms(std::int64_t size_bytes) {
  return 60'000 + long(size_bytes / (256 * 1024)) * 1000;
}

}  // namespace printrelay::cli
