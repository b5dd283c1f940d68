// The Store conformance suite: written once, run against every implementation (DESIGN.md §10).
//
// To run it against an implementation, compile store_suite.cpp into a test binary together with
// a file that instantiates it:
//
//   INSTANTIATE_TEST_SUITE_P(Postgres, StoreSuite, ::testing::Values(StoreSuiteParam{
//       "postgres", [] { return std::make_unique<PostgresBackend>(); }}),
//       store_suite_name);
//
// where PostgresBackend derives from StoreBackend.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "store/store.h"

namespace printrelay::testing {

// Fresh, empty storage for one test: a new temporary file, a new database schema. The storage
// lives as long as the backend object; its destructor removes it.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // Opens a Store on this backend's storage. May be called again after the previous Store was
  // destroyed, to prove that data survives a close and reopen.
  virtual std::unique_ptr<Store> open() = 0;
  // Takes the store's tables away from under an open Store, as an operator's mistake or a lost
  // volume would: every later query of that Store fails.
  virtual void break_storage() = 0;
};

struct StoreSuiteParam {
  std::string name;
  std::function<std::unique_ptr<StoreBackend>()> make_backend;
};

// Lets gtest print a parameter by name instead of dumping its bytes.
inline void PrintTo(const StoreSuiteParam& p, std::ostream* os) { *os << p.name; }

// For INSTANTIATE_TEST_SUITE_P: names instances after the backend ("sqlite").
inline std::string store_suite_name(const ::testing::TestParamInfo<StoreSuiteParam>& info) {
  return info.param.name;
}

class StoreSuite : public ::testing::TestWithParam<StoreSuiteParam> {
 protected:
  void SetUp() override {
    backend_ = GetParam().make_backend();
    store_ = backend_->open();
  }
  void TearDown() override {
    store_.reset();
    backend_.reset();
  }

  // Closes the store and opens it again on the same storage.
  void reopen() {
    store_.reset();
    store_ = backend_->open();
  }

  Store& store() { return *store_; }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
};

}  // namespace printrelay::testing
