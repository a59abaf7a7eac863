// TokenBucket (dataplane/token_bucket.h) on an injected clock.
#include <catch2/catch.hpp>

#include "token_bucket.h"

namespace sluice::test {
namespace {

constexpr uint64_t kHz = 1000;  // the clock counts milliseconds

int takes(TokenBucket& b, uint64_t now, int tries) {
  int ok = 0;
  for (int i = 0; i < tries; i++)
    ok += b.take(now) ? 1 : 0;
  return ok;
}

TEST_CASE("TokenBucket: starts full, allows its burst, then refuses", "[token_bucket]") {
  TokenBucket b(10, 5, kHz);  // 10 per second: one token every 100 ticks
  CHECK(takes(b, 1000, 5) == 5);
  CHECK_FALSE(b.take(1000));
}

TEST_CASE("TokenBucket: refills at the rate", "[token_bucket]") {
  TokenBucket b(10, 5, kHz);
  REQUIRE(takes(b, 1000, 5) == 5);
  CHECK_FALSE(b.take(1099));
  CHECK(b.take(1100));  // 100 ticks: one token
  CHECK_FALSE(b.take(1100));
  CHECK(takes(b, 1350, 5) == 2);  // 250 ticks since the last token: 2 (and half a token kept)
  CHECK(b.take(1400));            // the half plus 50 ticks
}

TEST_CASE("TokenBucket: never holds more than its burst", "[token_bucket]") {
  TokenBucket b(10, 5, kHz);
  REQUIRE(takes(b, 1000, 5) == 5);
  CHECK(takes(b, 1'000'000, 100) == 5);
}

TEST_CASE("TokenBucket: steady rate over ten seconds", "[token_bucket]") {
  TokenBucket b(50, 10, kHz);
  int ok = 0;
  for (uint64_t t = 0; t < 10'000; t++)
    ok += takes(b, t, 3);
  CHECK(ok == 10 + 50 * 10 - 1);  // the burst, then one every 20 ms (the last not yet due)
}

TEST_CASE("TokenBucket: rate 0 never allows", "[token_bucket]") {
  TokenBucket b(0, 100, kHz);
  CHECK_FALSE(b.take(0));
  CHECK_FALSE(b.take(1'000'000'000));
  TokenBucket unset;
  CHECK_FALSE(unset.take(12345));
}

TEST_CASE("TokenBucket: works from a large TSC-like clock", "[token_bucket]") {
  constexpr uint64_t hz = 2'500'000'000;
  TokenBucket b(100, 11, hz);
  const uint64_t t0 = 1'234'567'890'123'456;
  CHECK(takes(b, t0, 20) == 11);
  CHECK(takes(b, t0 + hz, 200) == 11);  // a second later: full again, no more
}

}  // namespace
}  // namespace sluice::test
