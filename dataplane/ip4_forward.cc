#include "ip4_forward.h"

#include <algorithm>
#include <cstring>

#include "icmp.h"
#include "nat_headers.h"
#include "packet.h"

namespace sluice {

namespace {

void finish_header(rte_ipv4_hdr* ip, uint32_t length, uint16_t fragment) noexcept {
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(length));
  ip->fragment_offset = rte_cpu_to_be_16(fragment);
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
}

}  // namespace

bool fragment(rte_mbuf* m, uint16_t mtu, rte_mbuf** more, unsigned* n) noexcept {
  auto* ip = rte_pktmbuf_mtod(m, rte_ipv4_hdr*);
  const uint32_t ihl = rte_ipv4_hdr_len(ip);
  const uint32_t total = rte_be_to_cpu_16(ip->total_length);
  if (ihl != sizeof(rte_ipv4_hdr) || m->nb_segs != 1 || total > rte_pktmbuf_data_len(m) ||
      total <= mtu || mtu < ihl + 8) {
    return false;
  }
  const uint32_t payload = total - ihl;
  const uint32_t chunk = (mtu - ihl) & ~7u;  // offsets count 8-byte units
  const uint32_t pieces = (payload + chunk - 1) / chunk;
  if (pieces - 1 > kMaxFragments) return false;
  const uint16_t field = rte_be_to_cpu_16(ip->fragment_offset);
  const uint16_t offset = field & RTE_IPV4_HDR_OFFSET_MASK;
  // A fragment split again: its last piece is "more" if it was.
  const bool more_after = field & RTE_IPV4_HDR_MF_FLAG;
  if (rte_pktmbuf_alloc_bulk(m->pool, more, pieces - 1) != 0) return false;
  const auto* data = reinterpret_cast<const uint8_t*>(ip) + ihl;
  for (uint32_t k = 1; k < pieces; k++) {
    rte_mbuf* f = more[k - 1];
    const uint32_t start = k * chunk;
    const uint32_t len = std::min(chunk, payload - start);
    auto* h =
        reinterpret_cast<rte_ipv4_hdr*>(rte_pktmbuf_append(f, static_cast<uint16_t>(ihl + len)));
    std::memcpy(h, ip, ihl);
    std::memcpy(reinterpret_cast<uint8_t*>(h) + ihl, data + start, len);
    const bool last = k + 1 == pieces;
    finish_header(h, ihl + len,
                  static_cast<uint16_t>(offset + start / 8) |
                      (!last || more_after ? RTE_IPV4_HDR_MF_FLAG : 0));
    std::memcpy(rte_mbuf_to_priv(f), rte_mbuf_to_priv(m), kMbufPrivSize);
    f->port = m->port;
  }
  rte_pktmbuf_trim(m, static_cast<uint16_t>(rte_pktmbuf_data_len(m) - (ihl + chunk)));
  finish_header(ip, ihl + chunk, offset | RTE_IPV4_HDR_MF_FLAG);
  *n = pieces - 1;
  return true;
}

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
      // RFC 791 / RFC 4787 REQ-13: fragmented, the pieces in order.
      rte_mbuf* more[kMaxFragments];
      unsigned n = 0;
      if (!fragment(m, out.mtu, more, &n)) {
        sink_.drop(m, Drop::too_big);
        return;
      }
      sink_.counters.fragments_made.add(n);
      deliver(m, nh, out, in, rx_port);
      for (unsigned k = 0; k < n; k++)
        deliver(more[k], nh, out, in, rx_port);
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
  deliver(m, nh, out, in, rx_port);
}

void Ip4Forward::deliver(rte_mbuf* m, uint32_t nh, const Interface& out, uint8_t in,
                         uint16_t rx_port) noexcept {
  // After the MTU check, so an ICMP error quotes the header as it arrived;
  // before the neighbour, so a packet held for ARP leaves with TTL - 1 too.
  auto* ip = rte_pktmbuf_mtod(m, rte_ipv4_hdr*);
  if (!(meta(m).flags & kMetaLocal)) ttl_decrement(ip);
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
