#include "ip4_forward.h"

#include "icmp.h"
#include "nat_headers.h"
#include "packet.h"

namespace sluice {

bool Ip4Forward::to_icmp_error(rte_mbuf* m, Drop why, uint8_t type, uint8_t code, uint8_t in,
                               uint16_t mtu, uint64_t now) noexcept {
  sink_.counters.drop(why);
  // About the packet as its sender sent it, not as NAT rewrote it.
  restore_original(m);
  if (!icmp_error_allowed(rte_pktmbuf_mtod(m, const rte_ipv4_hdr*))) {
    rte_pktmbuf_free(m);
    return false;
  }
  if (!icmp_limit_.take(now)) {
    sink_.counters.icmp_errors_suppressed.add();
    rte_pktmbuf_free(m);
    return false;
  }
  if (!make_icmp_error(m, type, code, ifaces_[in].address, mtu)) {
    rte_pktmbuf_free(m);
    return false;
  }
  sink_.counters.icmp_errors_sent.add();
  meta(m).flags = kMetaLocal;
  return true;
}

void Ip4Forward::process(uint8_t in, uint16_t rx_port, rte_mbuf** pkts, uint16_t n,
                         uint64_t now) noexcept {
  uint32_t dst[kBurst];
  uint64_t nh[kBurst];
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    auto* ip = rte_pktmbuf_mtod(m, rte_ipv4_hdr*);
    if (ip->time_to_live <= 1 && !(meta(m).flags & kMetaLocal)) {
      if (!time_exceeded(m, in, now)) continue;
      ip = rte_pktmbuf_mtod(m, rte_ipv4_hdr*);
    }
    dst[kept] = ip_dst(ip);
    pkts[kept++] = m;
  }
  routes_.lookup(dst, nh, kept);
  for (uint16_t i = 0; i < kept; i++) {
    emit(pkts[i], static_cast<uint32_t>(nh[i]), in, rx_port, now);
  }
}

void Ip4Forward::emit(rte_mbuf* m, uint32_t nh, uint8_t in, uint16_t rx_port,
                      uint64_t now) noexcept {
  if (nh == next_hop::kNone) {
    sink_.drop(m, Drop::no_route);
    return;
  }
  const Interface& out = ifaces_[next_hop::iface(nh)];
  const auto* ip = rte_pktmbuf_mtod(m, const rte_ipv4_hdr*);
  if (rte_pktmbuf_pkt_len(m) > out.mtu) {
    const bool df = ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
    if (!df) {
      sink_.drop(m, Drop::too_big);
      return;
    }
    if (to_icmp_error(m, Drop::too_big, kIcmpDestUnreachable, kIcmpCodeFragNeeded, in, out.mtu,
                      now)) {
      // An ICMP error is at most 576 bytes and MTUs are at least 576: it never
      // comes back here as too big.
      const uint32_t back = ip_dst(rte_pktmbuf_mtod(m, const rte_ipv4_hdr*));
      emit(m, static_cast<uint32_t>(routes_.lookup(back)), in, rx_port, now);
    }
    return;
  }
  // After the MTU check, so an ICMP error quotes the header as it arrived;
  // before the neighbour, so a packet held for ARP leaves with TTL - 1 too.
  if (!(meta(m).flags & kMetaLocal)) ttl_decrement(rte_pktmbuf_mtod(m, rte_ipv4_hdr*));
  const uint32_t host = next_hop::is_connected(nh) ? ip_dst(ip) - out.network : next_hop::host(nh);
  const uint64_t word = out.neighbours.load(host);
  if (!(word & NeighbourTable::kValid)) {
    if (word & NeighbourTable::kFailed) {
      sink_.drop(m, Drop::neighbour_failed);
      return;
    }
    meta(m).next_hop = next_hop::via(next_hop::iface(nh), static_cast<uint16_t>(host));
    sink_.punt(m, Punt::resolve, in, rx_port);
    return;
  }
  rte_ether_addr mac;
  NeighbourTable::unpack(word, &mac);
  if (!push_l2(m, out, mac, RTE_ETHER_TYPE_IPV4)) {
    sink_.drop(m, Drop::no_headroom);
    return;
  }
  const uint16_t port = out.lag.pick(m, out.l2_len());
  if (port == kNoMember) {
    sink_.drop(m, Drop::no_member);
    return;
  }
  tx_.send(port, m);
}

}  // namespace sluice
