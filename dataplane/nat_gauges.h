// Sessions in use now, by protocol and TCP sessions by state: gauges of one
// NAT table for live stats (sluicectl top, /sluice/nat_states). Written by
// the owning worker only when a session is made, changes TCP state or is
// deleted (never per packet); read by anyone with relaxed loads.
#pragma once

#include <netinet/in.h>

#include <array>
#include <atomic>
#include <cstdint>

#include "nat_tcp.h"

namespace sluice {

// A value with exactly one writer that goes up and down.
class Gauge {
 public:
  void inc() noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  void dec() noexcept {
    v_.store(v_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
  uint64_t read() const noexcept { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct alignas(64) NatGauges {
  Gauge tcp;
  Gauge udp;
  Gauge icmp;
  std::array<Gauge, kTcpStates> tcp_states;

  void added(uint8_t proto, TcpState state) noexcept {
    of(proto).inc();
    if (proto == IPPROTO_TCP) tcp_states[static_cast<unsigned>(state)].inc();
  }
  void removed(uint8_t proto, TcpState state) noexcept {
    of(proto).dec();
    if (proto == IPPROTO_TCP) tcp_states[static_cast<unsigned>(state)].dec();
  }
  void tcp_moved(TcpState from, TcpState to) noexcept {
    tcp_states[static_cast<unsigned>(from)].dec();
    tcp_states[static_cast<unsigned>(to)].inc();
  }

 private:
  Gauge& of(uint8_t proto) noexcept {
    return proto == IPPROTO_TCP ? tcp : proto == IPPROTO_UDP ? udp : icmp;
  }
};

}  // namespace sluice
