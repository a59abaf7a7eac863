// Packet-level helpers shared by every stage: the per-packet metadata kept in
// the mbuf's private area, the burst type, byte-order and checksum helpers.
#pragma once

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstdint>

namespace sluice {

inline constexpr uint16_t kBurst = 32;

// Why a frame goes to the control thread.
enum class Punt : uint8_t {
  none = 0,
  arp,             // ARP request or reply on a data port
  icmp_echo,       // ICMP echo request to one of our own addresses
  resolve,         // IPv4 packet whose next hop has no MAC yet (L2 already stripped)
  slow_protocols,  // LACPDU or marker (EtherType 0x8809), for the aggregate's LACP
};

// PacketMeta::flags
inline constexpr uint8_t kMetaFragTail = 1;    // non-first fragment; l4_src/l4_dst hold its ports
inline constexpr uint8_t kMetaTranslated = 2;  // NAT rewrote it; orig_* hold the header as received
inline constexpr uint8_t kMetaLocal = 4;       // sluice made it (an ICMP error): no TTL decrement

// Lives in the mbuf private area (pool created with priv_size >= this).
struct PacketMeta {
  uint8_t iface;      // interface the packet arrived on
  Punt punt;          // reason, when handed to control
  uint16_t rx_port;   // DPDK port id it arrived on
  uint32_t next_hop;  // encoded next hop (route.h) once routed
  uint8_t flags;      // kMeta* above
  // Transport ports (ICMP query: the id in both) of a non-first fragment,
  // learnt from its first fragment (frag_track.h). Host order.
  uint16_t l4_src;
  uint16_t l4_dst;
  // The addresses and ports as received, before NAT rewrote them, so an ICMP
  // error sluice sends about the packet quotes what the sender sent.
  uint32_t orig_src;
  uint32_t orig_dst;
  uint16_t orig_sport;
  uint16_t orig_dport;
};

inline PacketMeta& meta(rte_mbuf* m) noexcept {
  return *static_cast<PacketMeta*>(rte_mbuf_to_priv(m));
}
inline const PacketMeta& meta(const rte_mbuf* m) noexcept {
  return *reinterpret_cast<const PacketMeta*>(reinterpret_cast<const uint8_t*>(m) +
                                              sizeof(rte_mbuf));
}

inline constexpr uint16_t kMbufPrivSize = RTE_ALIGN(sizeof(PacketMeta), RTE_MBUF_PRIV_ALIGN);

// Network-order helpers; all addresses inside sluice are host order.
inline uint32_t ip_src(const rte_ipv4_hdr* ip) noexcept {
  return rte_be_to_cpu_32(ip->src_addr);
}
inline uint32_t ip_dst(const rte_ipv4_hdr* ip) noexcept {
  return rte_be_to_cpu_32(ip->dst_addr);
}

// 0/8, 127/8, and everything from 224/4 up (multicast, class E, broadcast):
// never a valid source, never a destination sluice forwards to.
constexpr bool is_martian(uint32_t ip) noexcept {
  const uint32_t first = ip >> 24;
  return first == 0 || first == 127 || first >= 224;
}

// Length of the Ethernet header (with its 802.1Q tag, if any) of a frame.
inline uint16_t l2_len_of(const rte_mbuf* m) noexcept {
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  return eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN)
             ? sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr)
             : sizeof(rte_ether_hdr);
}

// RFC 1624 incremental update of a 16-bit one's complement checksum when a
// 16-bit word of the covered data changes from old_word to new_word (both in
// network order, as stored in the packet).
inline uint16_t csum_update16(uint16_t csum, uint16_t old_word, uint16_t new_word) noexcept {
  uint32_t sum = static_cast<uint16_t>(~csum) + static_cast<uint16_t>(~old_word) + new_word;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

// Decrements TTL and patches the header checksum in place.
inline void ttl_decrement(rte_ipv4_hdr* ip) noexcept {
  const uint16_t old_word = *reinterpret_cast<const uint16_t*>(&ip->time_to_live);
  ip->time_to_live--;
  const uint16_t new_word = *reinterpret_cast<const uint16_t*>(&ip->time_to_live);
  ip->hdr_checksum = csum_update16(ip->hdr_checksum, old_word, new_word);
}

}  // namespace sluice
