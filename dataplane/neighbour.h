// Neighbour (ARP) table of one interface, as the workers read it.
//
// One slot per host of the connected subnet, indexed by (ip - network), so a
// next hop is found with an array index, never a hash or a search. A slot is a
// single 64-bit word: the MAC in the low 48 bits and two state bits. Only the
// control thread writes it (release); workers read it (acquire) and never see
// a torn MAC. Resolution state, retries and queued packets live on the
// control side (control/arp.h), not here.
#pragma once

#include <rte_ether.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

namespace sluice {

class NeighbourTable {
 public:
  static constexpr uint64_t kValid = 1ull << 63;   // MAC usable
  static constexpr uint64_t kFailed = 1ull << 62;  // resolution failed: drop, do not punt
  static constexpr uint8_t kMinPrefix = 16;        // at most 65,536 slots

  NeighbourTable() = default;
  explicit NeighbourTable(uint32_t slots)
      : slots_(std::make_unique<std::atomic<uint64_t>[]>(slots)), size_(slots) {}

  uint32_t size() const noexcept { return size_; }

  uint64_t load(uint32_t host) const noexcept {
    return slots_[host].load(std::memory_order_acquire);
  }
  void set_mac(uint32_t host, const rte_ether_addr& mac) noexcept {
    slots_[host].store(kValid | pack(mac), std::memory_order_release);
  }
  void set_failed(uint32_t host) noexcept {
    slots_[host].store(kFailed, std::memory_order_release);
  }
  void clear(uint32_t host) noexcept { slots_[host].store(0, std::memory_order_release); }

  static uint64_t pack(const rte_ether_addr& mac) noexcept {
    uint64_t w = 0;
    std::memcpy(&w, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
    return w;
  }
  static void unpack(uint64_t w, rte_ether_addr* mac) noexcept {
    std::memcpy(mac->addr_bytes, &w, RTE_ETHER_ADDR_LEN);
  }

 private:
  std::unique_ptr<std::atomic<uint64_t>[]> slots_;
  uint32_t size_ = 0;
};

}  // namespace sluice
