#include "sim/mfp.h"

#include <algorithm>
#include <cmath>

#include "core/sha256.h"

namespace printrelay::sim {
namespace {

constexpr TimeMs kHour = 3600 * 1000;
constexpr double kJamPerPage = 1.0 / 2500;
constexpr double kServiceCallPerPage = 1.0 / 40000;
constexpr double kJobsPerSecond = 1.0 / 120;  // an office MFP: a job every two minutes
constexpr int kLowPct = 10;

struct ScCode {
  const char* code;
  const char* type;
  const char* message;
  PrintFunction disables;  // for type C
};
const ScCode kScCodes[] = {
    {"SC542", "A", "fusing temperature abnormal", PrintFunction::kPrint},
    {"SC391", "A", "development bias leak", PrintFunction::kPrint},
    {"SC672", "B", "controller start-up error", PrintFunction::kPrint},
    {"SC819", "B", "kernel error", PrintFunction::kPrint},
    {"SC620", "C", "ADF communication error: scanning disabled", PrintFunction::kScan},
    {"SC760", "C", "fax unit error: fax disabled", PrintFunction::kFax},
    {"SC995", "D", "CPU exception logged", PrintFunction::kPrint},
    {"SC870", "D", "address book data error", PrintFunction::kPrint},
};
const char* kJamLocations[] = {"tray1", "tray2", "fuser", "duplex", "adf", "exit"};

std::uint64_t mix_seed(std::uint64_t seed, const std::string& serial) {
  auto h = sha256(serial);
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | h[std::size_t(i)];
  return v ^ (seed * 0x9E3779B97F4A7C15ULL);
}

std::string format_sim_time(TimeMs t) { return format_time(t); }

}  // namespace

const std::vector<SettingSpec>& setting_schema() {
  static const std::vector<SettingSpec> k = {
      {"sleep_min", SettingSpec::Type::kInt, 1, 240, {}},
      {"default_duplex", SettingSpec::Type::kBool, 0, 0, {}},
      {"tray1_paper", SettingSpec::Type::kChoice, 0, 0, {"A4", "A3", "Letter"}},
      {"color_mode", SettingSpec::Type::kChoice, 0, 0, {"auto", "mono"}},
      {"energy_saver", SettingSpec::Type::kBool, 0, 0, {}},
  };
  return k;
}

Mfp::Mfp(std::string serial, std::string model, std::uint64_t seed, TimeMs start_ms)
    : serial_(std::move(serial)),
      model_(std::move(model)),
      rng_(mix_seed(seed, serial_)),
      clock_ms_(start_ms),
      jam_per_page_(kJamPerPage),
      service_call_per_page_(kServiceCallPerPage) {
  supplies_ = {{"toner-black", 20000, 20000},
               {"toner-cyan", 15000, 15000},
               {"toner-magenta", 15000, 15000},
               {"toner-yellow", 15000, 15000}};
  // Devices in a fleet are not all new: start each supply and part somewhere in its life.
  for (auto& s : supplies_) s.remaining = std::floor(s.capacity * (0.3 + 0.7 * uniform()));
  parts_ = {{"drum", std::int64_t(60000 * 0.6 * uniform()), 60000},
            {"fuser", std::int64_t(150000 * 0.6 * uniform()), 150000}};
  print_ = std::int64_t(uniform() * 40000);
  copy_ = std::int64_t(uniform() * 20000);
  fax_ = std::int64_t(uniform() * 3000);
  scan_ = std::int64_t(uniform() * 10000);
  std::int64_t printed = print_ + copy_ + fax_;
  color_ = std::int64_t(double(printed - fax_) * 0.3);
  mono_ = printed - color_;
  duplex_ = printed / 3;
  adf_sheets_ = scan_ + copy_ / 2;
  paper_ = {{"A4", printed * 8 / 10}, {"A3", printed / 10}, {"Letter", printed - printed * 9 / 10}};
  settings_ = {{"sleep_min", 15},
               {"default_duplex", true},
               {"tray1_paper", "A4"},
               {"color_mode", "auto"},
               {"energy_saver", true}};
  firmware_ = {{"main", "1.0.3"}, {"controller", "2.1.0"}, {"adf", "0.9.4"}};
  adjustment_ = {{"registration_lead_mm", std::round((uniform() - 0.5) * 20) / 10},
                 {"registration_side_mm", std::round((uniform() - 0.5) * 20) / 10},
                 {"fuser_temp_c", 170 + int(uniform() * 10)},
                 {"toner_density_target", 50 + int(uniform() * 10)},
                 {"scanner_gain", 100 + int(uniform() * 8)}};
}

double Mfp::uniform() { return double(rng_() >> 11) * (1.0 / 9007199254740992.0); }

std::vector<MfpEvent> Mfp::advance(double seconds) {
  std::lock_guard lock(mu_);
  std::vector<MfpEvent> events;
  while (seconds > 0) {
    double step = std::min(seconds, 60.0);
    seconds -= step;
    clock_ms_ += TimeMs(step * 1000);
    printing_ = false;  // "printing" shows for the step in which a job ran
    maintain_locked();
    if (uniform() >= step * kJobsPerSecond) continue;
    double pick = uniform();
    PrintFunction f = pick < 0.5    ? PrintFunction::kPrint
                      : pick < 0.8  ? PrintFunction::kCopy
                      : pick < 0.92 ? PrintFunction::kScan
                                    : PrintFunction::kFax;
    int pages = 1 + int(std::floor(-std::log(1.0 - uniform()) * 5));  // mostly short jobs
    bool color = settings_.value("color_mode", "auto") == "auto" && uniform() < 0.35;
    bool duplex = settings_.value("default_duplex", true) ? uniform() < 0.7 : uniform() < 0.1;
    double p = uniform();
    std::string paper = p < 0.8 ? settings_.value("tray1_paper", "A4") : p < 0.9 ? "A3" : "Letter";
    auto more = run_job_locked(f, std::min(pages, 200), color, duplex, paper);
    events.insert(events.end(), more.begin(), more.end());
  }
  return events;
}

std::vector<MfpEvent> Mfp::print(int pages) {
  std::lock_guard lock(mu_);
  bool duplex = settings_.value("default_duplex", true);
  return run_job_locked(PrintFunction::kPrint, pages, false, duplex,
                        settings_.value("tray1_paper", "A4"));
}

std::vector<MfpEvent> Mfp::run_job_locked(PrintFunction f, int pages, bool color, bool duplex,
                                          const std::string& paper) {
  std::vector<MfpEvent> events;
  if (const CallRecord* open = open_call_locked()) {
    if (open->sc_type == "A" || open->sc_type == "B") return events;  // the machine is stopped
    for (const auto& sc : kScCodes) {
      if (open->code == sc.code && sc.disables == f) return events;  // that function is off
    }
  }
  if (f == PrintFunction::kScan) {
    scan_ += pages;
    adf_sheets_ += pages;
    return events;
  }
  if (f == PrintFunction::kFax) color = false;
  printing_ = true;
  for (int i = 0; i < pages; ++i) {
    bool page_color = color && supplies_[1].remaining > 0 && supplies_[2].remaining > 0 &&
                      supplies_[3].remaining > 0;
    if (supplies_[0].remaining <= 0) break;  // no black toner: nothing prints
    switch (f) {
      case PrintFunction::kCopy:
        ++copy_;
        ++adf_sheets_;
        break;
      case PrintFunction::kPrint:
        ++print_;
        break;
      case PrintFunction::kFax:
        ++fax_;
        break;
      case PrintFunction::kScan:
        break;
    }
    (page_color ? color_ : mono_) += 1;
    if (duplex) ++duplex_;
    ++paper_[paper];
    supplies_[0].remaining = std::max(0.0, supplies_[0].remaining - (page_color ? 0.5 : 1.0));
    if (page_color) {
      for (int s = 1; s < 4; ++s) supplies_[std::size_t(s)].remaining -= 1;
    }
    for (auto& part : parts_) ++part.count;
    for (auto& s : supplies_) {
      s.remaining = std::max(0.0, s.remaining);
      int pct = int(std::lround(s.remaining / s.capacity * 100));
      if (s.remaining <= 0 && s.empty_since == 0) {
        s.empty_since = clock_ms_;
        events.push_back(
            {MfpEvent::Kind::kSupplyEmpty, s.name + "-empty", "", "", s.name + " is empty"});
      } else if (pct <= kLowPct && !s.low_reported) {
        s.low_reported = true;
        events.push_back({MfpEvent::Kind::kSupplyLow, s.name, "", "", s.name + " is low"});
      }
    }
    for (auto& part : parts_) {
      if (part.count >= part.life && !part.eol_reported) {
        part.eol_reported = true;
        part.eol_since = clock_ms_;
        events.push_back({MfpEvent::Kind::kPartEndOfLife, part.name + "-eol", "", "",
                          part.name + " reached its end of life"});
      }
    }
    if (uniform() < jam_per_page_) {
      const char* loc = kJamLocations[rng_() % std::size(kJamLocations)];
      events.push_back(jam_locked(loc));
    }
    if (uniform() < service_call_per_page_) {
      const auto& sc = kScCodes[rng_() % std::size(kScCodes)];
      events.push_back(service_call_locked(sc.code, sc.type));
      if (std::string(sc.type) == "A" || std::string(sc.type) == "B") break;
    }
  }
  return events;
}

MfpEvent Mfp::jam(const std::string& location) {
  std::lock_guard lock(mu_);
  return jam_locked(location);
}

MfpEvent Mfp::jam_locked(const std::string& location) {
  ++jams_by_location_[location];
  std::string code = "J-" + location;
  std::transform(code.begin(), code.end(), code.begin(), ::toupper);
  recent_jams_.push_back(
      {{"at", format_sim_time(clock_ms_)}, {"location", location}, {"code", code}});
  if (recent_jams_.size() > 50) recent_jams_.erase(recent_jams_.begin());
  return {MfpEvent::Kind::kJam, code, "", location, "paper jam at " + location + ", cleared"};
}

MfpEvent Mfp::service_call(const std::string& code, const std::string& sc_type) {
  std::lock_guard lock(mu_);
  return service_call_locked(code, sc_type);
}

MfpEvent Mfp::service_call_locked(const std::string& code, const std::string& sc_type) {
  std::string message = "service call " + code;
  for (const auto& sc : kScCodes) {
    if (code == sc.code) message = sc.message;
  }
  calls_.push_back({code, sc_type, message, clock_ms_, sc_type == "D" ? clock_ms_ : 0});
  if (calls_.size() > 100) calls_.erase(calls_.begin());
  return {MfpEvent::Kind::kServiceCall, code, sc_type, "", message};
}

void Mfp::reboot() {
  std::lock_guard lock(mu_);
  for (auto& c : calls_) {
    if (c.cleared_at == 0 && c.sc_type == "B") c.cleared_at = clock_ms_;
  }
  printing_ = false;
}

void Mfp::set_fault_rates(double jam_per_page, double service_call_per_page) {
  std::lock_guard lock(mu_);
  jam_per_page_ = jam_per_page;
  service_call_per_page_ = service_call_per_page;
}

void Mfp::maintain_locked() {
  for (auto& s : supplies_) {
    if (s.empty_since && clock_ms_ - s.empty_since >= 2 * kHour) {
      s.remaining = s.capacity;
      s.empty_since = 0;
      s.low_reported = false;
    }
  }
  for (auto& p : parts_) {
    if (p.eol_since && clock_ms_ - p.eol_since >= 24 * kHour) {
      p.count = 0;
      p.eol_since = 0;
      p.eol_reported = false;
    }
  }
  for (auto& c : calls_) {
    if (c.cleared_at) continue;
    TimeMs open_for = clock_ms_ - c.at;
    if ((c.sc_type == "A" && open_for >= 4 * kHour) ||   // technician visit
        (c.sc_type == "B" && open_for >= kHour / 4) ||   // the user power-cycles it
        (c.sc_type == "C" && open_for >= 24 * kHour)) {  // part replaced next day
      c.cleared_at = clock_ms_;
    }
  }
}

const Mfp::CallRecord* Mfp::open_call_locked() const {
  const CallRecord* worst = nullptr;
  for (const auto& c : calls_) {
    if (c.cleared_at) continue;
    if (!worst || c.sc_type < worst->sc_type) worst = &c;
  }
  return worst;
}

Status Mfp::validate_settings(const Json& settings) const {
  if (!settings.is_object() || settings.empty()) return bad_input("settings must be an object");
  for (const auto& [name, value] : settings.items()) {
    const auto& schema = setting_schema();
    const std::string& key = name;  // a lambda may not capture a structured binding in clang 14
    auto spec = std::find_if(schema.begin(), schema.end(),
                             [&key](const SettingSpec& s) { return s.name == key; });
    if (spec == schema.end()) return bad_input("unknown setting '" + name + "'");
    switch (spec->type) {
      case SettingSpec::Type::kInt:
        if (!value.is_number_integer() || value.get<std::int64_t>() < spec->min ||
            value.get<std::int64_t>() > spec->max) {
          return bad_input(name + " must be an integer " + std::to_string(spec->min) + "-" +
                           std::to_string(spec->max) + " (got " + value.dump() + ")");
        }
        break;
      case SettingSpec::Type::kBool:
        if (!value.is_boolean()) return bad_input(name + " must be true or false");
        break;
      case SettingSpec::Type::kChoice: {
        bool ok = value.is_string() && std::find(spec->choices.begin(), spec->choices.end(),
                                                 value.get<std::string>()) != spec->choices.end();
        if (!ok) {
          std::string list;
          for (const auto& c : spec->choices) list += (list.empty() ? "" : "|") + c;
          return bad_input(name + " must be one of " + list + " (got " + value.dump() + ")");
        }
        break;
      }
    }
  }
  return ok_status();
}

Status Mfp::apply_settings(const Json& settings) {
  if (auto st = validate_settings(settings); !st) return st;
  std::lock_guard lock(mu_);
  for (const auto& [name, value] : settings.items()) settings_[name] = value;
  return ok_status();
}

Json Mfp::counters_locked() const {
  return {{"total", copy_ + print_ + fax_},
          {"copy", copy_},
          {"print", print_},
          {"fax", fax_},
          {"scan", scan_},
          {"color", color_},
          {"mono", mono_},
          {"duplex", duplex_},
          {"paper", paper_},
          {"adf_sheets", adf_sheets_},
          {"drum_count", parts_[0].count},
          {"fuser_count", parts_[1].count},
          {"jams",
           [&] {
             std::int64_t n = 0;
             for (const auto& [loc, c] : jams_by_location_) n += c;
             return n;
           }()},
          {"service_calls", std::int64_t(calls_.size())}};
}

Json Mfp::counters() const {
  std::lock_guard lock(mu_);
  return counters_locked();
}

Json Mfp::supplies_locked() const {
  Json list = Json::array();
  for (const auto& s : supplies_) {
    int pct = int(std::lround(s.remaining / s.capacity * 100));
    const char* state = s.remaining <= 0 ? "empty" : pct <= kLowPct ? "low" : "ok";
    list.push_back({{"name", s.name},
                    {"level_pct", pct},
                    {"state", state},
                    {"capacity_pages", std::int64_t(s.capacity)}});
  }
  Json parts = Json::array();
  for (const auto& p : parts_) {
    int wear = int(std::min<std::int64_t>(100, p.count * 100 / p.life));
    const char* state = p.count >= p.life ? "end_of_life" : wear >= 90 ? "near_end" : "ok";
    parts.push_back({{"name", p.name},
                     {"count", p.count},
                     {"life", p.life},
                     {"wear_pct", wear},
                     {"state", state}});
  }
  return {{"supplies", list}, {"parts", parts}};
}

Json Mfp::supplies() const {
  std::lock_guard lock(mu_);
  return supplies_locked();
}

Json Mfp::settings() const {
  std::lock_guard lock(mu_);
  return settings_;
}

Json Mfp::firmware() const {
  std::lock_guard lock(mu_);
  return firmware_;
}

void Mfp::set_firmware(const Json& versions) {
  std::lock_guard lock(mu_);
  firmware_ = versions;
}

std::string Mfp::state() const {
  std::lock_guard lock(mu_);
  const CallRecord* open = open_call_locked();
  if (open && (open->sc_type == "A" || open->sc_type == "B")) return "error";
  return printing_ ? "printing" : "idle";
}

Result<Json> Mfp::data_set(const std::string& name) const {
  std::lock_guard lock(mu_);
  if (name == "counters") return counters_locked();
  if (name == "supplies") return supplies_locked();
  if (name == "settings") return settings_;
  if (name == "adjustment") return adjustment_;
  if (name == "identification") {
    return Json{{"serial", serial_},
                {"model", model_},
                {"vendor", "printrelay simulated"},
                {"mac", "02:00:" + serial_.substr(serial_.size() >= 4 ? serial_.size() - 4 : 0)},
                {"firmware", firmware_}};
  }
  if (name == "structure") {
    Json units = Json::array();
    // Units with firmware of their own show the version their slot booted.
    const char* ids[][4] = {{"main", "main controller", "1.0.3", "0x1A2B"},
                            {"controller", "controller board", "2.1.0", "0x1A2B"},
                            {"engine", "print engine", "4.2.0", "0x1A2B"},
                            {"adf", "document feeder", "0.9.4", "0x3C10"},
                            {"finisher", "finisher", "1.1.0", "0x3C22"},
                            {"fax", "fax unit", "2.0.1", "0x4D01"}};
    for (const auto& u : ids) {
      units.push_back({{"id", u[0]},
                       {"name", u[1]},
                       {"serial", serial_ + "-" + u[0]},
                       {"software_version", firmware_.value(u[0], u[2])},
                       {"vendor_id", u[3]}});
    }
    return Json{{"model", model_}, {"units", units}};
  }
  if (name == "jams") {
    return Json{{"total", counters_locked()["jams"]},
                {"by_location", jams_by_location_},
                {"recent", recent_jams_}};
  }
  if (name == "calls") {
    Json list = Json::array();
    for (const auto& c : calls_) {
      Json e = {{"code", c.code},
                {"sc_type", c.sc_type},
                {"message", c.message},
                {"at", format_sim_time(c.at)}};
      e["cleared_at"] = c.cleared_at ? Json(format_sim_time(c.cleared_at)) : Json();
      list.push_back(e);
    }
    return Json{{"service_calls", list}};
  }
  return not_found("data set '" + name + "' not kept by the simulator");
}

Json Mfp::summary() const {
  std::lock_guard lock(mu_);
  Json c = counters_locked();
  Json s = {{"counters",
             {{"total", c["total"]},
              {"copy", c["copy"]},
              {"print", c["print"]},
              {"fax", c["fax"]},
              {"scan", c["scan"]},
              {"color", c["color"]},
              {"mono", c["mono"]},
              {"duplex", c["duplex"]},
              {"jams", c["jams"]},
              {"service_calls", c["service_calls"]}}},
            {"supplies", supplies_locked()["supplies"]},
            {"parts", supplies_locked()["parts"]},
            {"settings", settings_}};
  const CallRecord* open = open_call_locked();
  s["open_service_call"] =
      open ? Json{{"code", open->code}, {"sc_type", open->sc_type}, {"message", open->message}}
           : Json();
  return s;
}

}  // namespace printrelay::sim
