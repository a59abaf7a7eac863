// Static IPv4 routes and prefix sets, on DPDK's rte_fib (DIR-24-8).
//
// A route's next hop is one 32-bit word: which interface, and either the
// gateway's slot in that interface's neighbour table or "connected" (the
// destination itself is the neighbour). Lookups are done a burst at a time
// with rte_fib_lookup_bulk. Tables are built by control at start; workers only
// read them.
//
// PrefixSet is the same structure with two-byte values: membership of an
// address in a set of prefixes (client prefixes for anti-spoofing), at a cost
// that does not grow with the number of prefixes.
#pragma once

#include <cstdint>
#include <string>

struct rte_fib;

namespace sluice {

namespace next_hop {
inline constexpr uint32_t kNone = 0;
inline constexpr uint32_t kValid = 1u << 30;  // rte_fib keeps bit 31 for itself
inline constexpr uint32_t kConnected = 1u << 29;

inline constexpr uint32_t via(uint8_t iface, uint16_t host) noexcept {
  return kValid | (uint32_t{iface} << 16) | host;
}
inline constexpr uint32_t connected(uint8_t iface) noexcept {
  return kValid | kConnected | (uint32_t{iface} << 16);
}
inline constexpr uint8_t iface(uint32_t nh) noexcept {
  return (nh >> 16) & 0xff;
}
inline constexpr uint16_t host(uint32_t nh) noexcept {
  return nh & 0xffff;
}
inline constexpr bool is_connected(uint32_t nh) noexcept {
  return nh & kConnected;
}
}  // namespace next_hop

class Fib {
 public:
  // value_bytes: 2 or 4. Check ok() after construction: DPDK may refuse
  // (no memory, duplicate name); error() says why.
  Fib(const std::string& name, uint32_t max_routes, int value_bytes);
  ~Fib();
  bool ok() const noexcept { return fib_ != nullptr; }
  const std::string& error() const noexcept { return error_; }
  Fib(const Fib&) = delete;
  Fib& operator=(const Fib&) = delete;

  // Returns false (and sets *error) when the table refuses the prefix.
  bool add(uint32_t prefix, uint8_t len, uint32_t value, std::string* error);
  // ips and values are host order; n may be any size.
  void lookup(const uint32_t* ips, uint64_t* values, unsigned n) const noexcept;
  uint64_t lookup(uint32_t ip) const noexcept;

 private:
  rte_fib* fib_ = nullptr;
  std::string error_;
};

class RouteTable : public Fib {
 public:
  explicit RouteTable(uint32_t max_routes = 1024) : Fib("sluice_routes", max_routes, 4) {}
};

class PrefixSet : public Fib {
 public:
  explicit PrefixSet(const std::string& name, uint32_t max_prefixes = 1024)
      : Fib(name, max_prefixes, 2) {}
  bool insert(uint32_t prefix, uint8_t len, std::string* error) {
    return add(prefix, len, 1, error);
  }
  bool contains(uint32_t ip) const noexcept { return lookup(ip) != 0; }
};

}  // namespace sluice
