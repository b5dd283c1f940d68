#include "core/json_fields.h"

#include <gtest/gtest.h>

#include <array>
#include <string>

#include "core/codec.h"

namespace printrelay {
namespace {

std::string refusal(const Status& st) { return st ? std::string() : st.error().message; }

TEST(CheckFields, KnownFieldsPassAndTheFirstUnknownOneIsNamedWithTheKnownList) {
  EXPECT_TRUE(check_fields(Json{{"a", 1}, {"b", 2}}, "rule", {"a", "b", "c"}));
  EXPECT_TRUE(check_fields(Json::object(), "rule", {"a"}));
  const Status st = check_fields(Json{{"a", 1}, {"zz", 2}, {"bb", 3}}, "rule 1", {"a", "b"});
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::kBadInput);
  // Keys in key order: "bb" comes before "zz".
  EXPECT_EQ(st.error().message, "rule 1 has an unknown field 'bb' (known: a, b)");
}

TEST(CheckFields, AValueThatIsNotAnObjectIsLeftToTheCaller) {
  EXPECT_TRUE(check_fields(Json::array({1, 2}), "rule", {"a"}));
  EXPECT_TRUE(check_fields(Json("text"), "rule", {"a"}));
}

TEST(CheckFields, TakesAFixedListOfKnownFields) {
  constexpr std::array<std::string_view, 2> kKnown = {"from", "to"};
  EXPECT_TRUE(check_fields(Json{{"from", 1}}, "window", kKnown));
  EXPECT_EQ(refusal(check_fields(Json{{"dayz", 1}}, "window", kKnown)),
            "window has an unknown field 'dayz' (known: from, to)");
}

TEST(CheckFields, QuotesAtMost64BytesOfTheKeyAsValidUtf8) {
  // A key cut inside a character: the message must still be writable as JSON.
  const std::string key = std::string(63, 'x') + "\xC3\xA9" + std::string(100, 'y');
  const std::string message = refusal(check_fields(Json{{key, 1}}, "manifest", {"a"}));
  EXPECT_NE(message.find("manifest has an unknown field '" + std::string(63, 'x') + "?'"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find('y'), std::string::npos);
  EXPECT_NO_THROW((void)error_json(Error{ErrorKind::kBadInput, message}).dump());
}

TEST(ReadFields, TypesAndRangesAreCheckedNamingTheField) {
  EXPECT_EQ(*read_bool(Json(true), "x"), true);
  EXPECT_EQ(read_bool(Json(1), "f.enabled").error().message, "f.enabled must be true or false");

  EXPECT_EQ(*read_integer(Json(5), "n", 1, 10), 5);
  EXPECT_EQ(read_integer(Json(11), "n", 1, 10).error().message, "n must be an integer 1..10");
  EXPECT_FALSE(read_integer(Json(2.5), "n", 1, 10));

  EXPECT_DOUBLE_EQ(*read_number(Json(2.5), "factor", 1, 100), 2.5);
  EXPECT_EQ(read_number(Json(0.5), "factor", 1, 100).error().message,
            "factor must be a number 1..100");
  EXPECT_FALSE(read_number(Json("2"), "factor", 1, 100));

  EXPECT_EQ(*read_urgency(Json("high"), "u"), Urgency::kHigh);
  EXPECT_EQ(read_urgency(Json("urgent"), "u").error().message,
            "u must be low, normal, high or fatal");
}

TEST(ReadFields, DurationsInUnitsRoundToMillisecondsAndReadBack) {
  constexpr TimeMs kHour = 3600 * 1000;
  EXPECT_EQ(*read_duration(Json(1.5), "w", kHour, 0, 10 * kHour, "0..10 hours"), 90 * 60 * 1000);
  EXPECT_EQ(read_duration(Json(11), "w", kHour, 0, 10 * kHour, "0..10 hours").error().message,
            "w must be 0..10 hours");
  EXPECT_EQ(read_duration(Json("1"), "w", kHour, 0, 10 * kHour, "0..10 hours").error().message,
            "w must be a number (0..10 hours)");
  EXPECT_EQ(duration_json(2 * kHour, kHour), Json(2));
  EXPECT_EQ(duration_json(90 * 60 * 1000, kHour), Json(1.5));
}

TEST(ReadFields, TextAndTextLists) {
  EXPECT_EQ(*read_text(Json("abc"), "name", 3), "abc");
  EXPECT_EQ(read_text(Json("abcd"), "name", 3).error().message, "name must be 1..3 characters");
  EXPECT_EQ(read_text(Json(""), "name", 3).error().message, "name must be 1..3 characters");
  EXPECT_EQ(read_text(Json("a\nb"), "name", 8).error().message,
            "name must not contain control characters");
  EXPECT_EQ(read_text(Json(1), "name", 8).error().message, "name must be a string");

  EXPECT_EQ(*read_text_list(Json("one"), "l", 2, 8), std::vector<std::string>{"one"});
  EXPECT_EQ(*read_text_list(Json::array({"a", "b"}), "l", 2, 8),
            (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(read_text_list(Json::array(), "l", 2, 8)->empty());
  EXPECT_EQ(read_text_list(Json::array({"a", "b", "c"}), "l", 2, 8).error().message,
            "l has more than 2 entries");
  EXPECT_EQ(read_text_list(Json::array({"a", 1}), "l", 2, 8).error().message,
            "l[1] must be a string");
  EXPECT_EQ(read_text_list(Json(1), "l", 2, 8).error().message,
            "l must be a string or an array of strings");
}

TEST(StringOrEmpty, IsLenient) {
  const Json e = {{"code", "J1"}, {"at", 5}};
  EXPECT_EQ(string_or_empty(e, "code"), "J1");
  EXPECT_EQ(string_or_empty(e, "at"), "");
  EXPECT_EQ(string_or_empty(e, "missing"), "");
  EXPECT_EQ(string_or_empty(Json::array(), "code"), "");
}

}  // namespace
}  // namespace printrelay
