#include "core/time.h"

#include <chrono>
#include <cstdio>
#include <cstring>

namespace printrelay {

std::string format_time(TimeMs t) {
  using namespace std::chrono;
  sys_time<milliseconds> tp{milliseconds{t}};
  auto day = floor<days>(tp);
  year_month_day ymd{day};
  hh_mm_ss hms{tp - day};
  // Digits by hand: every poll answer carries the server's time, and snprintf costs more than
  // the rest of this put together.
  char buf[32];
  char* p = buf;
  auto put = [&p](long long v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) p[i] = char('0' + v % 10);
    p += width;
  };
  const int year = int(ymd.year());
  if (year < 0 || year > 9999) {
    // Outside what four digits hold (never a real device's clock): the general formatting.
    std::snprintf(buf, sizeof buf, "%04d", year);
    p = buf + std::strlen(buf);
  } else {
    put(year, 4);
  }
  *p++ = '-';
  put(unsigned(ymd.month()), 2);
  *p++ = '-';
  put(unsigned(ymd.day()), 2);
  *p++ = 'T';
  put(hms.hours().count(), 2);
  *p++ = ':';
  put(hms.minutes().count(), 2);
  *p++ = ':';
  put(hms.seconds().count(), 2);
  *p++ = '.';
  put(hms.subseconds().count(), 3);
  *p++ = 'Z';
  return std::string(buf, p);
}

Result<TimeMs> parse_time(std::string_view s) {
  using namespace std::chrono;
  int y, mo, d, h, mi, sec, consumed = 0;
  std::string str(s);
  // Exactly YYYY-MM-DDTHH:MM:SS before sscanf, which alone would take spaces and signs in the
  // fields ("2026- 5-28T 9:00:00Z"): signed envelopes hold times, and one text is one time.
  bool shaped = s.size() >= 19;
  for (std::size_t i = 0; shaped && i < 19; ++i) {
    const char want = i == 4 || i == 7 ? '-' : i == 10 ? 'T' : i == 13 || i == 16 ? ':' : '0';
    shaped = want == '0' ? (s[i] >= '0' && s[i] <= '9') : s[i] == want;
  }
  if (!shaped) {
    return bad_input("time must be RFC 3339 UTC like 2026-11-23T09:15:00Z: '" + str + "'");
  }
  if (std::sscanf(str.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
                  &consumed) != 6 ||
      consumed != 19) {
    return bad_input("time must be RFC 3339 UTC like 2026-11-23T09:15:00Z: '" + str + "'");
  }
  std::string_view rest = s.substr(19);
  int millis = 0;
  if (!rest.empty() && rest[0] == '.') {
    std::size_t i = 1;
    int digits = 0;
    while (i < rest.size() && rest[i] >= '0' && rest[i] <= '9') {
      if (digits < 3) millis = millis * 10 + (rest[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return bad_input("time has an empty fraction: '" + str + "'");
    for (int k = digits; k < 3; ++k) millis *= 10;
    rest = rest.substr(i);
  }
  if (rest != "Z" && rest != "+00:00") {
    return bad_input("time must be in UTC (end in Z): '" + str + "'");
  }
  year_month_day ymd{year{y}, month{unsigned(mo)}, day{unsigned(d)}};
  if (!ymd.ok() || h > 23 || mi > 59 || sec > 60 || h < 0 || mi < 0 || sec < 0) {
    return bad_input("time is not a valid date and time: '" + str + "'");
  }
  auto tp = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + milliseconds{millis};
  return TimeMs{duration_cast<milliseconds>(tp.time_since_epoch()).count()};
}

Result<int> parse_time_of_day(std::string_view s) {
  if (s.size() != 5 || s[2] != ':')
    return bad_input("time of day must be HH:MM: '" + std::string(s) + "'");
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!digit(s[0]) || !digit(s[1]) || !digit(s[3]) || !digit(s[4])) {
    return bad_input("time of day must be HH:MM: '" + std::string(s) + "'");
  }
  int h = (s[0] - '0') * 10 + (s[1] - '0');
  int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (h > 23 || m > 59) return bad_input("time of day out of range: '" + std::string(s) + "'");
  return h * 60 + m;
}

}  // namespace printrelay
