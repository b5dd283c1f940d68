#include "core/byte_range.h"

#include <gtest/gtest.h>

namespace printrelay {
namespace {

constexpr std::int64_t kSize = 1000;

// "first-last" of the bytes `header` selects from a file of `size`; "416" when unsatisfiable,
// "400" when malformed.
std::string answer(std::string_view header, std::int64_t size = kSize) {
  auto spec = parse_range_header(header);
  if (!spec) {
    EXPECT_EQ(spec.error().kind, ErrorKind::kBadInput);
    return "400";
  }
  auto range = resolve_range(*spec, size);
  if (!range) return "416";
  EXPECT_EQ(range->length(), range->last - range->first + 1);
  return std::to_string(range->first) + "-" + std::to_string(range->last);
}

TEST(ByteRange, OneRangeInEachOfTheThreeForms) {
  EXPECT_EQ(answer("bytes=0-499"), "0-499");
  EXPECT_EQ(answer("bytes=500-"), "500-999");
  EXPECT_EQ(answer("bytes=-10"), "990-999");
  EXPECT_EQ(answer("bytes=999-999"), "999-999");
  EXPECT_EQ(answer("bytes=0-0"), "0-0");
  EXPECT_EQ(answer("Bytes=0-1"), "0-1");      // the unit is case-insensitive
  EXPECT_EQ(answer("bytes=007-008"), "7-8");  // leading zeros are digits too
}

TEST(ByteRange, EndsPastTheFileAreCutAtTheEnd) {
  EXPECT_EQ(answer("bytes=10-5000"), "10-999");
  EXPECT_EQ(answer("bytes=0-9223372036854775807"), "0-999");
  EXPECT_EQ(answer("bytes=-5000"), "0-999");  // a suffix longer than the file: all of it
  EXPECT_EQ(answer("bytes=-9223372036854775807"), "0-999");
}

TEST(ByteRange, NoByteOfTheFileIsUnsatisfiable) {
  EXPECT_EQ(answer("bytes=1000-"), "416");
  EXPECT_EQ(answer("bytes=1000-2000"), "416");
  EXPECT_EQ(answer("bytes=9223372036854775807-"), "416");
  EXPECT_EQ(answer("bytes=-0"), "416");
  EXPECT_EQ(answer("bytes=0-", 0), "416");  // an empty file has no byte to send
  EXPECT_EQ(answer("bytes=-1", 0), "416");
}

TEST(ByteRange, SignsSpacesAndOtherSyntaxAreMalformed) {
  for (const char* header :
       {"bytes=0--5", "bytes=--5",  "bytes=+1-2",  "bytes=1-+2",  "bytes= 1-2",  "bytes=1 -2",
        "bytes=1- 2", "bytes=1-2 ", " bytes=1-2",  "bytes =1-2",  "bytes=",      "bytes=-",
        "bytes=1",    "bytes=a-b",  "bytes=0x10-", "bytes=1.5-2", "bytes=1-2-3", "items=1-2",
        "bytes",      "",           "=1-2",        "bytes=\t1-2", "bytes==1-2",  "bytes=1-2\r\n"}) {
    EXPECT_EQ(answer(header), "400") << header;
  }
}

TEST(ByteRange, NumbersTooLargeForInt64AreMalformed) {
  EXPECT_EQ(answer("bytes=99999999999999999999-"), "400");
  EXPECT_EQ(answer("bytes=9223372036854775808-"), "400");  // INT64_MAX + 1
  EXPECT_EQ(answer("bytes=0-9223372036854775808"), "400");
  EXPECT_EQ(answer("bytes=-9223372036854775808"), "400");
  EXPECT_EQ(answer("bytes=00000000000000000001-"), "400");  // 20 digits, even if small
}

TEST(ByteRange, AnEndBeforeTheStartIsMalformed) {
  EXPECT_EQ(answer("bytes=5-2"), "400");
  EXPECT_EQ(answer("bytes=5000-2"), "400");
}

TEST(ByteRange, SeveralRangesAreRefused) {
  EXPECT_EQ(answer("bytes=1-2,4-5"), "400");
  EXPECT_EQ(answer("bytes=1-2,"), "400");
  EXPECT_EQ(answer("bytes=,1-2"), "400");
  auto spec = parse_range_header("bytes=1-2,4-5");
  ASSERT_FALSE(spec);
  EXPECT_NE(spec.error().message.find("several ranges"), std::string::npos);
}

TEST(ByteRange, ErrorsQuoteTheHeaderBoundedAndPrintable) {
  auto spec = parse_range_header("bytes=\x01" + std::string(500, '9'));
  ASSERT_FALSE(spec);
  EXPECT_EQ(spec.error().message.find('\x01'), std::string::npos);
  EXPECT_LT(spec.error().message.size(), 200u);
}

}  // namespace
}  // namespace printrelay
