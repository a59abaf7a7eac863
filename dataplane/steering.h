// Which worker owns a client, and how the NIC is told the same.
//
// A client (inside address) belongs to worker client_owner(ip, W): the
// Toeplitz hash of the address under sluice's RSS key (kRssKey), its low six
// bits, mod W. On the inside ports sluice asks the driver for the same thing
// (port.h, PortSetup::steer_by_source): RSS on the IPv4 source address only
// (RTE_ETH_RSS_L3_SRC_ONLY) with kRssKey, and a redirection table whose entry
// i is queue (i & 63) mod queues. Queue q is polled by worker q mod W, so on
// a NIC that does both every client's packets arrive at its owner and none is
// handed over. Where a driver cannot, the handoff rings move them: steering
// only saves work, it never decides correctness.
//
// The hash is computed with four 256-entry tables (Toeplitz is linear over
// GF(2): the hash of an address is the XOR of the hashes of its bytes), four
// loads instead of a loop over 32 bits; tests check it against DPDK's
// rte_softrss.
//
// On the outside the owner of a packet is the owner of its destination
// port's block (port_blocks.h, PortOwner). port_block_rules() expresses that
// as flow rules a NIC can apply (rte_flow: TCP or UDP destination port under
// a mask equal to a value -> the owner's queue; port.h installs them): W
// rules when the block size and W are powers of two and the first port is a
// multiple of W blocks (the default layout: 128-port blocks from 1024), else
// one rule per aligned run of ports of one owner, up to a limit.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "port_blocks.h"

namespace sluice {

inline constexpr unsigned kRssKeyLen = 40;
extern const uint8_t kRssKey[kRssKeyLen];

// The Toeplitz hash of a host-order IPv4 address under kRssKey, as a NIC
// computes it for RSS on the source address only.
uint32_t rss_hash_ipv4(uint32_t ip) noexcept;

// Redirection table entry i of a port with `queues` RX queues.
inline uint16_t rss_reta_entry(uint32_t i, uint16_t queues) noexcept {
  return static_cast<uint16_t>((i & 63) % queues);
}

inline unsigned client_owner(uint32_t ip, unsigned workers) noexcept {
  return workers == 1 ? 0 : (rss_hash_ipv4(ip) & 63) % workers;
}

// Destination port & mask == value: the packet belongs to `worker`.
struct PortRule {
  uint16_t value;
  uint16_t mask;
  unsigned worker;
};

// Rules that send every owned port to its owner (ports nobody owns may
// match any rule, or none), disjoint; empty when more than max_rules would be
// needed or nothing is owned.
std::vector<PortRule> port_block_rules(const PortOwner& owner, size_t max_rules);

}  // namespace sluice
