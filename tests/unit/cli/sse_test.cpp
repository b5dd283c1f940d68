#include "cli/sse.h"

#include <gtest/gtest.h>

namespace printrelay::cli {
namespace {

TEST(SseParser, EventsSplitAcrossChunksAreReassembled) {
  SseParser p;
  std::string stream =
      "event: alert\ndata: {\"serial\": \"SIM-0003\"}\n\n: keepalive\n\nevent: job\r\ndata: a\r\n"
      "data: b\r\nid: 7\r\n\r\n";
  std::vector<SseEvent> events;
  // Feed one byte at a time: every line and CRLF boundary is split.
  for (char c : stream) {
    for (auto& e : p.feed(std::string_view(&c, 1))) events.push_back(e);
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].event, "alert");
  EXPECT_EQ(events[0].data, "{\"serial\": \"SIM-0003\"}");
  EXPECT_EQ(events[1].event, "job");
  EXPECT_EQ(events[1].data, "a\nb");
  EXPECT_EQ(events[1].id, "7");
}

TEST(SseParser, CommentsAndEventsWithoutDataDispatchNothing) {
  SseParser p;
  EXPECT_TRUE(p.feed(": keepalive\n\nevent: job\n\n").empty());
  auto events = p.feed("data:x\n\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "message");  // the event name does not leak into the next event
  EXPECT_EQ(events[0].data, "x");
}

TEST(SseParser, IncompleteEventWaitsForBlankLine) {
  SseParser p;
  EXPECT_TRUE(p.feed("event: report\ndata: {}\n").empty());
  auto events = p.feed("\n");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].event, "report");
}

}  // namespace
}  // namespace printrelay::cli
