// NAT header work: what a packet means to the NAT (its tuple) and rewriting
// its addresses and ports with incremental checksum updates (RFC 1624).
//
// nat_tuple() reads a validated IPv4 packet (data at the IP header) and says
// which kind of packet it is to the NAT:
//  - flow: TCP, UDP, or an ICMP query (echo, timestamp), with its ports (for
//    ICMP the identifier stands in both ports, RFC 5508 3.1);
//  - tail: a non-first fragment, ports learnt from its first fragment
//    (frag_track.h, PacketMeta::l4_src/l4_dst);
//  - icmp_error: destination unreachable, time exceeded or parameter problem;
//    the tuple is that of the datagram it quotes (RFC 5508 4.1);
//  - unsupported (other protocols and ICMP types) or truncated.
//
// rewrite_source()/rewrite_destination() change one endpoint of a flow or
// tail and patch the IP header checksum and, when the transport header is in
// this packet, the TCP/UDP checksum (the pseudo header and the port) or the
// ICMP checksum (the identifier). A UDP checksum of zero (none) stays zero.
//
// translate_icmp_error() rewrites an ICMP error for the inside or the
// outside: the outer address, the quoted IP header and its checksum, the
// quoted port (or ICMP id) and the quoted transport checksum when it is in the
// quote, and the ICMP checksum over all of it, all incrementally.
//
// restore_original() undoes a translation recorded in PacketMeta, so an ICMP
// error sluice itself sends about a translated packet (TTL, MTU) quotes the
// packet as its sender sent it.
#pragma once

#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstdint>

namespace sluice {

enum class NatKind : uint8_t { flow, tail, icmp_error, unsupported, truncated };

struct NatTuple {
  NatKind kind;
  uint8_t proto;      // IPPROTO_TCP, _UDP or _ICMP (of the quoted datagram for icmp_error)
  uint8_t tcp_flags;  // flow: the TCP flags byte
  uint8_t icmp_type;  // flow: the ICMP query type
  uint32_t src;       // host order; for icmp_error, the quoted datagram's
  uint32_t dst;
  uint16_t sport;  // host order; ICMP query: the identifier
  uint16_t dport;
};

// ICMP types NAT handles.
inline constexpr uint8_t kIcmpEchoReply = 0;
inline constexpr uint8_t kIcmpEchoRequest = 8;
inline constexpr uint8_t kIcmpTimestampRequest = 13;
inline constexpr uint8_t kIcmpTimestampReply = 14;
inline constexpr bool icmp_is_request(uint8_t type) noexcept {
  return type == kIcmpEchoRequest || type == kIcmpTimestampRequest;
}

NatTuple nat_tuple(const rte_mbuf* m) noexcept;

// RFC 5508 REQ-3: an ICMP error is translated only when its ICMP checksum and
// its quoted IP header's checksum verify. m: nat_tuple(m) is icmp_error.
bool icmp_error_checksums_ok(const rte_mbuf* m) noexcept;

// One's complement update of csum for a 32-bit field stored in network order.
uint16_t csum_update32(uint16_t csum, uint32_t old_be, uint32_t new_be) noexcept;

// ip: the packet's header; ip/port host order. Records the original fields in
// the packet's metadata the first time (kMetaTranslated).
// The variants with t take the packet's nat_tuple() already read.
void rewrite_source(rte_mbuf* m, const NatTuple& t, uint32_t ip, uint16_t port) noexcept;
void rewrite_destination(rte_mbuf* m, const NatTuple& t, uint32_t ip, uint16_t port) noexcept;
inline void rewrite_source(rte_mbuf* m, uint32_t ip, uint16_t port) noexcept {
  rewrite_source(m, nat_tuple(m), ip, port);
}
inline void rewrite_destination(rte_mbuf* m, uint32_t ip, uint16_t port) noexcept {
  rewrite_destination(m, nat_tuple(m), ip, port);
}

// outward: an error from the inside about a datagram from the outside: the
// outer source and the quoted destination become ip:port. Otherwise an error
// from the outside about a datagram we sent: the outer destination and the
// quoted source become ip:port. The tuple must be nat_tuple(m).
void translate_icmp_error(rte_mbuf* m, bool outward, uint32_t ip, uint16_t port) noexcept;

void restore_original(rte_mbuf* m) noexcept;

}  // namespace sluice
