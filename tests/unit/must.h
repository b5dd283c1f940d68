// must(): the value of a call that the test needs to succeed. A failure is reported with its
// message and ends the test (gtest catches the exception), so a read that failed is never taken
// for an empty list.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <utility>

#include "core/result.h"

namespace printrelay {

template <typename T>
T must(Result<T> r) {
  if (!r) {
    ADD_FAILURE() << "expected success, got " << error_code(r.error().kind) << ": "
                  << r.error().message;
    throw std::runtime_error(r.error().message);
  }
  return std::move(r).value();
}

}  // namespace printrelay
