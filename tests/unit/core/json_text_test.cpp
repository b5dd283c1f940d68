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

TEST(JsonText, RefusesTextThatIsNotJson) {
  EXPECT_FALSE(parse_json("{").ok());
  EXPECT_FALSE(parse_json("").ok());
  EXPECT_FALSE(parse_json("[1,]").ok());
  EXPECT_TRUE(parse_json(R"(["ok"])").ok());
}

}  // namespace
}  // namespace printrelay
