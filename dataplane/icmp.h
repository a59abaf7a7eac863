// ICMP messages sluice originates (RFC 792, RFC 1812 4.3).
//
// make_icmp_error() turns the IPv4 packet in m (data at the IP header) into an
// ICMP error about it, in place: a new IP header and ICMP header followed by
// as much of the original datagram as keeps the error within 576 bytes. It
// refuses (returns false, m untouched) where RFC 1812 4.3.2.7 forbids an
// error: about an ICMP error, about a non-first fragment, about a packet from
// a martian source. make_echo_reply() answers an echo request in place.
#pragma once

#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstdint>

namespace sluice {

inline constexpr uint8_t kIcmpDestUnreachable = 3;
inline constexpr uint8_t kIcmpTimeExceeded = 11;
inline constexpr uint8_t kIcmpCodeFragNeeded = 4;

bool icmp_error_allowed(const rte_ipv4_hdr* ip) noexcept;

bool make_icmp_error(rte_mbuf* m, uint8_t type, uint8_t code, uint32_t src,
                     uint16_t next_hop_mtu) noexcept;

// m's data starts at the IPv4 header of an echo request to one of our
// addresses; swaps the addresses and rewrites it as an echo reply.
void make_echo_reply(rte_mbuf* m) noexcept;

}  // namespace sluice
