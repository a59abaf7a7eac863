// Stage: IPv4 forwarding, from a validated packet to a buffered transmit.
//
// For each packet of a burst (data at the IPv4 header):
// Packets carry their PacketMeta (packet.h): flags must be valid.
//
//  1. TTL (RFC 1812 5.3.1): a packet that would leave with TTL 0 is dropped
//     (ttl-expired) and, where RFC 1812 allows and the rate limit has a token,
//     replaced in place by an ICMP time exceeded to its source, which then
//     takes the same path as any other packet. An error about a packet NAT
//     translated quotes it as it arrived (restore_original). Forwarded packets get TTL - 1
//     with an incremental checksum update once they pass the MTU check (5.).
//  2. Route: one rte_fib bulk lookup for the burst (no-route on a miss).
//  3. MTU: a packet longer than the egress MTU with DF set is dropped
//     (too-big) and answered with ICMP fragmentation needed; without DF it
//     is fragmented (RFC 791, RFC 4787 REQ-13), the pieces sent in order and
//     the extra ones counted (fragments_made), or dropped (too-big) when it
//     cannot be (IP options, no buffer).
//  4. Neighbour: the next hop's MAC from the egress interface's table (one
//     array index). Unresolved: punted to control, which ARPs and sends it on
//     (resolve); resolution failed: neighbour-failed.
//  5. L2: the egress interface's Ethernet header (and VLAN tag), then the
//     TX buffer of the member the transmit hash picks (lag.h); no member
//     carrying traffic: no-member.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "icmp.h"
#include "interface.h"
#include "route.h"
#include "sink.h"
#include "token_bucket.h"
#include "tx.h"

namespace sluice {

// The most pieces beyond the first that fragment() makes (a 9000-byte
// packet on a 576-byte link takes 16).
inline constexpr unsigned kMaxFragments = 31;

// RFC 791 fragmentation of m (IPv4 at the data pointer, one segment, no
// options, DF clear, longer than mtu): m keeps the first piece, the others
// are new buffers from m's pool, with its metadata, in more[0 .. *n), in
// order. False, m untouched, when it cannot be: IP options, chained
// buffers, more than kMaxFragments pieces, or no buffer to be had.
bool fragment(rte_mbuf* m, uint16_t mtu, rte_mbuf** more, unsigned* n) noexcept;

class Ip4Forward {
 public:
  Ip4Forward(const Interfaces& ifaces, const RouteTable& routes, TxQueues& tx, PacketSink& sink,
             TokenBucket& icmp_limit) noexcept
      : ifaces_(ifaces), routes_(routes), tx_(tx), sink_(sink), icmp_limit_(icmp_limit) {}

  void process(uint8_t in, uint16_t rx_port, rte_mbuf** pkts, uint16_t n, uint64_t now) noexcept;

  // Step 1 alone, for a pipeline that must answer an expired TTL before it
  // changes or keeps state for the packet (NAT): true when m became an ICMP
  // time exceeded, ready for process(); false when it was dropped.
  bool time_exceeded(rte_mbuf* m, uint8_t in, uint64_t now) noexcept {
    return to_icmp_error(m, Drop::ttl_expired, kIcmpTimeExceeded, 0, in, 0, now);
  }

 private:
  // Sends one routed packet; may turn it into an ICMP error (routed again).
  // Packets sluice made itself (kMetaLocal) keep their TTL.
  void emit(rte_mbuf* m, uint32_t nh, uint8_t in, uint16_t rx_port, uint64_t now) noexcept;
  // The rest once it fits: TTL, neighbour, L2 header, member link, TX.
  void deliver(rte_mbuf* m, uint32_t nh, const Interface& out, uint8_t in,
               uint16_t rx_port) noexcept;
  // Replaces m by an ICMP error to its source, or drops it; true if replaced.
  bool to_icmp_error(rte_mbuf* m, Drop why, uint8_t type, uint8_t code, uint8_t in, uint16_t mtu,
                     uint64_t now) noexcept;

  const Interfaces& ifaces_;
  const RouteTable& routes_;
  TxQueues& tx_;
  PacketSink& sink_;
  TokenBucket& icmp_limit_;
};

}  // namespace sluice
