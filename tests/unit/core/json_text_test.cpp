#include "core/json_text.h"

#include <gtest/gtest.h>

#include <string>

#include "core/codec.h"

namespace printrelay {
namespace {

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonText, CountsNestingOutsideStrings) {
  EXPECT_EQ(json_nesting_depth(R"({"a":[1,{"b":2}]})"), 3u);
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[[{{{{"})"), 1u);
  EXPECT_EQ(json_nesting_depth(R"({"a":"\"[[["})"), 1u);
  EXPECT_EQ(json_nesting_depth("42"), 0u);
}

TEST(JsonText, ParsesUpToTheLimit) {
  auto j = parse_json(nested(kMaxJsonDepth));
  ASSERT_TRUE(j.ok()) << j.error().message;
  EXPECT_TRUE(j->is_array());
}

TEST(JsonText, RefusesDeeperNestingWithoutRecursing) {
  // 150,000 levels overflowed the stack when nlohmann's value was copied or printed.
  for (std::size_t depth : {kMaxJsonDepth + 1, std::size_t(150000), std::size_t(2000000)}) {
    auto j = parse_json(nested(depth));
    ASSERT_FALSE(j.ok()) << depth;
    EXPECT_EQ(j.error().kind, ErrorKind::kBadInput);
    EXPECT_NE(j.error().message.find("deeper than 64"), std::string::npos) << j.error().message;
  }
  auto body = parse_body("{\"a\":" + nested(150000) + "}");
  ASSERT_FALSE(body.ok());
  EXPECT_NE(body.error().message.find("deeper than"), std::string::npos);
}

TEST(JsonText, ValidUtf8ReplacesOnlyBrokenBytes) {
  EXPECT_EQ(valid_utf8("caf\xC3\xA9 ok"), "caf\xC3\xA9 ok");
  EXPECT_EQ(valid_utf8("cut \xC3"), "cut ?");
  EXPECT_EQ(valid_utf8("\xFF\xFE"), "??");
  EXPECT_EQ(valid_utf8("\xC0\xAF"), "??");                        // overlong '/'
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), "???");                   // a surrogate
  EXPECT_EQ(valid_utf8("\xF0\x9F\x96\xA8"), "\xF0\x9F\x96\xA8");  // U+1F5A8 printer
  // Whatever comes in, the result is writable as a JSON string.
  EXPECT_NO_THROW((void)Json(valid_utf8("\x80\xBF\xF8\x88\x80\x80\x80")).dump());
}

TEST(JsonText, RefusesANulByte) {
  EXPECT_FALSE(parse_json(std::string("{\"a\":1}\0{{{junk", 15)).ok());
}

TEST(JsonText, RefusesTextThatIsNotJson) {
  EXPECT_FALSE(parse_json("{").ok());
  EXPECT_FALSE(parse_json("").ok());
  EXPECT_FALSE(parse_json("[1,]").ok());
  EXPECT_TRUE(parse_json(R"(["ok"])").ok());
}

}  // namespace
}  // namespace printrelay
