#include "clock/wall_clock.h"

#include <chrono>

namespace printrelay {

TimeMs wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace printrelay
