// Link monitoring of one member port, like Linux bonding's miimon with
// downdelay and updelay: the driver's link status is sampled (every
// link-poll-ms), and a change counts only once it has lasted the delay. A
// link that comes back before down-delay has passed never went down; one
// that drops again within up-delay never came up. The first sample is taken
// as it is, without a delay.
#pragma once

#include <cstdint>

namespace sluice {

class LinkMonitor {
 public:
  LinkMonitor(uint64_t down_delay_ms, uint64_t up_delay_ms) noexcept
      : down_delay_(down_delay_ms), up_delay_(up_delay_ms) {}

  // One sample of the driver's link status; true when up() changed.
  bool sample(bool raw_up, uint64_t now_ms) noexcept {
    if (!sampled_) {
      sampled_ = true;
      up_ = raw_up;
      return raw_up;
    }
    if (raw_up == up_) {
      changing_ = false;
      return false;
    }
    if (!changing_) {
      changing_ = true;
      since_ = now_ms;
    }
    if (now_ms - since_ < (raw_up ? up_delay_ : down_delay_)) return false;
    changing_ = false;
    up_ = raw_up;
    return true;
  }

  bool up() const noexcept { return up_; }
  // The driver says otherwise and the delay is running.
  bool changing() const noexcept { return changing_; }

 private:
  uint64_t down_delay_;
  uint64_t up_delay_;
  bool sampled_ = false;
  bool up_ = false;
  bool changing_ = false;
  uint64_t since_ = 0;
};

}  // namespace sluice
