#include "core/rate_limit.h"

#include <gtest/gtest.h>

namespace printrelay {
namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;

TEST(TokenBuckets, AKeyStartsFullAndEmptiesAfterItsBurst) {
  TokenBuckets b(/*rate_per_s=*/1.0 / 60, /*burst=*/3);
  EXPECT_TRUE(b.take("MX-1", kT0));
  EXPECT_TRUE(b.take("MX-1", kT0));
  EXPECT_TRUE(b.take("MX-1", kT0));
  EXPECT_FALSE(b.take("MX-1", kT0));
  EXPECT_EQ(b.seconds_until_token("MX-1", kT0), 60);
  EXPECT_FALSE(b.has_token("MX-1", kT0 + 1000));
  EXPECT_EQ(b.seconds_until_token("MX-1", kT0 + 1000), 59);
}

TEST(TokenBuckets, KeysAreIndependent) {
  TokenBuckets b(0.1, 1);
  EXPECT_TRUE(b.take("10.0.0.1", kT0));
  EXPECT_FALSE(b.take("10.0.0.1", kT0));
  EXPECT_TRUE(b.take("10.0.0.2", kT0));
}

TEST(TokenBuckets, RefillsAtItsRateUpToTheBurst) {
  TokenBuckets b(0.5, 2);  // one token every 2 s
  EXPECT_TRUE(b.take("k", kT0));
  EXPECT_TRUE(b.take("k", kT0));
  EXPECT_FALSE(b.take("k", kT0 + 1999));
  EXPECT_TRUE(b.take("k", kT0 + 2000 + 1999));
  // An hour later the bucket holds its burst, not more.
  EXPECT_TRUE(b.take("k", kT0 + 3600'000));
  EXPECT_TRUE(b.take("k", kT0 + 3600'000));
  EXPECT_FALSE(b.take("k", kT0 + 3600'000));
}

TEST(TokenBuckets, AClockGoingBackRefillsNothing) {
  TokenBuckets b(1, 1);
  EXPECT_TRUE(b.take("k", kT0));
  EXPECT_FALSE(b.take("k", kT0 - 60'000));
  EXPECT_FALSE(b.take("k", kT0 + 500));
}

TEST(TokenBuckets, AFloodOfNewKeysForgetsOnlyRefilledOnes) {
  TokenBuckets b(1, 1, /*max_keys=*/4);
  EXPECT_TRUE(b.take("attacker", kT0));
  for (int i = 0; i < 100; ++i) b.take("k" + std::to_string(i), kT0 + 10'000 + i);
  EXPECT_LE(b.tracked_keys(), 5u);
  // Memory stays bounded when no bucket has refilled, and the emptied bucket (the key that
  // failed most) is not the one forgotten.
  TokenBuckets c(0.001, 3, /*max_keys=*/20);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(c.take("attacker", kT0));
  for (int i = 0; i < 1000; ++i) c.take("k" + std::to_string(i), kT0);
  EXPECT_LE(c.tracked_keys(), 20u);
  EXPECT_FALSE(c.take("attacker", kT0));
}

}  // namespace
}  // namespace printrelay
