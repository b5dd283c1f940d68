// What the tests of the monitoring rules (compatibility, troubles, supply forecasts, notification
// routing) share: times, the expectation of a bad_input naming its field, a stored report.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "core/model.h"
#include "core/result.h"
#include "core/time.h"

namespace printrelay::rule_test {

inline constexpr TimeMs kMin = 60 * 1000;
inline constexpr TimeMs kHour = 60 * kMin;
inline constexpr TimeMs kDay = 24 * kHour;

inline TimeMs at(const char* rfc3339) {
  auto t = parse_time(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.ok() ? *t : 0;
}

inline const TimeMs kNow = at("2026-11-23T12:00:00Z");

inline void expect_bad_input(const Error& e, const std::string& part) {
  EXPECT_EQ(e.kind, ErrorKind::kBadInput);
  EXPECT_NE(e.message.find(part), std::string::npos) << e.message;
}

template <typename T>
void expect_bad_input(const Result<T>& r, const std::string& part) {
  ASSERT_FALSE(r.ok()) << "expected an error containing: " << part;
  expect_bad_input(r.error(), part);
}

inline Report report(std::string id, std::string kind, TimeMs created_at, Json body) {
  Report r;
  r.id = std::move(id);
  r.kind = std::move(kind);
  r.created_at = created_at;
  r.body = std::move(body);
  return r;
}

}  // namespace printrelay::rule_test
