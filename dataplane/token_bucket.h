// A token bucket on an injected clock (TSC cycles), for rate limits on slow
// paths: ICMP errors from workers, ICMP echo and ARP replies from control.
// One owner thread; no atomics.
#pragma once

#include <algorithm>
#include <cstdint>

namespace sluice {

class TokenBucket {
 public:
  TokenBucket() = default;
  // rate: tokens per second (0: never allow); burst: tokens; hz: clock rate.
  TokenBucket(uint64_t rate, uint64_t burst, uint64_t hz) noexcept
      : cost_(rate ? hz / rate : 0), cap_(cost_ * burst), level_(cap_) {}

  bool take(uint64_t now) noexcept {
    if (cost_ == 0) return false;
    level_ = std::min(cap_, level_ + (now - last_));
    last_ = now;
    if (level_ < cost_) return false;
    level_ -= cost_;
    return true;
  }

 private:
  uint64_t cost_ = 0;  // clock ticks per token
  uint64_t cap_ = 0;
  uint64_t level_ = 0;
  uint64_t last_ = 0;
};

}  // namespace sluice
