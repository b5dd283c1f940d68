#include "relay/transfer_rates.h"

namespace printrelay {

namespace {

bool measurable(std::int64_t bytes, double seconds) {
  return bytes >= kMinMeasuredBytes && seconds > 0;
}

}  // namespace

Json rate_json(const MeasuredRate& r) {
  return Json{
      {"bytes_per_s", std::int64_t(r.bytes_per_s)}, {"bytes", r.bytes}, {"at", format_time(r.at)}};
}

void TransferRates::note_wan(std::int64_t bytes, double seconds, TimeMs now) {
  if (!measurable(bytes, seconds)) return;
  std::lock_guard lock(mu_);
  wan_ = MeasuredRate{double(bytes) / seconds, bytes, now};
}

void TransferRates::note_lan(const std::string& serial, std::int64_t bytes, double seconds,
                             TimeMs now) {
  if (!measurable(bytes, seconds)) return;
  std::lock_guard lock(mu_);
  lan_[serial] = MeasuredRate{double(bytes) / seconds, bytes, now};
}

Json TransferRates::to_json() const {
  std::lock_guard lock(mu_);
  Json devices = Json::array();
  for (const auto& [serial, r] : lan_) {
    Json j = rate_json(r);
    j["serial"] = serial;
    devices.push_back(std::move(j));
  }
  return Json{{"wan", wan_.at > 0 ? rate_json(wan_) : Json()}, {"devices", std::move(devices)}};
}

}  // namespace printrelay
