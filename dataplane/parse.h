// Stage: parse and validate frames as they come off a port.
//
// For each frame of a burst received on one interface:
//  - on a member port that is not collecting (lag.h), everything but slow
//    protocols frames is dropped (not-collecting);
//  - Ethernet: long enough, addressed to us (our MAC, broadcast or multicast),
//    802.1Q tag present exactly when the interface has a VLAN, and for it;
//  - ARP and slow protocols frames (LACP, marker; untagged) are punted to
//    control; other EtherTypes (IPv6 included) are dropped;
//  - IPv4 (RFC 791, RFC 1812 5.2.2): version 4, IHL >= 5 and within the frame,
//    total length >= header and <= frame, header checksum, no options unless
//    allowed; martian sources and destinations (0/8, 127/8, 224/4, 240/4,
//    directed broadcasts of our subnets) are dropped;
//  - packets to our own addresses: ICMP echo requests are punted, the rest is
//    dropped as local-unsupported.
// What passes has its L2 header removed (data starts at the IPv4 header) and
// Ethernet padding trimmed, and its metadata (packet.h) records the interface
// and port it came in on, with no flags set. Order is kept; survivors are compacted to the
// front of pkts. Counters: the drop reasons named in counters.h.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "interface.h"
#include "sink.h"

namespace sluice {

struct ParseConfig {
  bool allow_ip_options = false;
};

uint16_t parse_stage(const Interfaces& ifaces, const ParseConfig& cfg, uint8_t in, uint16_t rx_port,
                     rte_mbuf** pkts, uint16_t n, PacketSink& sink) noexcept;

}  // namespace sluice
