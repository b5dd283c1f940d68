// Incremental parser for Server-Sent Events (the WHATWG event-stream format) as
// GET /v1/events sends them. Chunks may split lines anywhere; an event is complete at the blank
// line that ends it. Comment lines (": keepalive") and unknown fields are ignored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace printrelay::cli {

struct SseEvent {
  std::string event = "message";  // the "event:" field, "message" when absent
  std::string data;               // "data:" lines joined by '\n'
  std::string id;
};

class SseParser {
 public:
  // Returns the events completed by this chunk, in order.
  std::vector<SseEvent> feed(std::string_view chunk);

 private:
  void line(std::string_view l, std::vector<SseEvent>& out);

  std::string pending_;  // an incomplete line carried to the next chunk
  SseEvent current_;
  bool has_data_ = false;
  bool last_was_cr_ = false;
};

}  // namespace printrelay::cli
