// The two logical interfaces, inside and outside, as the dataplane sees them.
//
// An interface has one IPv4 address on a connected subnet, a MAC address that
// is the source of every frame it sends, an optional 802.1Q VLAN, an MTU and
// one or more member ports, of which those in the distribution set (lag.h)
// carry traffic. Its neighbour table covers every host of the
// connected subnet (see neighbour.h). Interfaces are built by control before
// the workers start and are not resized afterwards.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include <array>
#include <cstdint>
#include <vector>

#include "lag.h"
#include "neighbour.h"

namespace sluice {

enum class Side : uint8_t { inside = 0, outside = 1 };
inline constexpr size_t kInterfaces = 2;

inline constexpr const char* side_name(Side s) noexcept {
  return s == Side::inside ? "inside" : "outside";
}

struct Interface {
  Side side = Side::inside;
  uint32_t address = 0;  // host order
  uint8_t prefix_len = 0;
  uint32_t network = 0;  // address & mask
  uint32_t mask = 0;
  rte_ether_addr mac{};
  uint16_t vlan = 0;  // 0: untagged
  uint16_t mtu = 1500;
  std::vector<uint16_t> members;  // DPDK port ids, as configured
  Lag lag;                        // the members carrying traffic now, the transmit hash
  NeighbourTable neighbours;

  // Its side and address/prefix (16 to 31), with the derived network, mask
  // and an empty neighbour table for every host of the subnet.
  void assign(Side s, uint32_t addr, uint8_t len) {
    side = s;
    address = addr;
    prefix_len = len;
    mask = ~uint32_t{0} << (32 - len);
    network = addr & mask;
    neighbours = NeighbourTable(~mask + 1);
  }
  uint32_t broadcast() const noexcept { return network | ~mask; }
  bool on_link(uint32_t ip) const noexcept { return (ip & mask) == network; }
  uint16_t l2_len() const noexcept {
    return sizeof(rte_ether_hdr) + (vlan ? sizeof(rte_vlan_hdr) : 0);
  }
};

using Interfaces = std::array<Interface, kInterfaces>;

// Prepends the interface's L2 header (with its VLAN tag, if any) to m, from
// the interface MAC to dst. Returns false when m has no headroom left.
inline bool push_l2(rte_mbuf* m, const Interface& ifc, const rte_ether_addr& dst,
                    uint16_t ether_type) noexcept {
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_prepend(m, ifc.l2_len()));
  if (eth == nullptr) return false;
  rte_ether_addr_copy(&dst, &eth->dst_addr);
  rte_ether_addr_copy(&ifc.mac, &eth->src_addr);
  if (ifc.vlan == 0) {
    eth->ether_type = rte_cpu_to_be_16(ether_type);
  } else {
    eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN);
    auto* vh = reinterpret_cast<rte_vlan_hdr*>(eth + 1);
    vh->vlan_tci = rte_cpu_to_be_16(ifc.vlan);
    vh->eth_proto = rte_cpu_to_be_16(ether_type);
  }
  return true;
}

}  // namespace sluice
