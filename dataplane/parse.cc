#include "parse.h"

#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_prefetch.h>

namespace sluice {

namespace {

enum class Kind : uint8_t { forward, punt, drop };

struct Verdict {
  Kind kind;
  Drop drop;
  Punt punt;
  uint16_t l2_len;
};

constexpr Verdict forward(uint16_t l2) noexcept {
  return {Kind::forward, Drop::count, Punt::none, l2};
}
constexpr Verdict dropped(Drop why) noexcept {
  return {Kind::drop, why, Punt::none, 0};
}
constexpr Verdict punted(Punt why) noexcept {
  return {Kind::punt, Drop::count, why, 0};
}

Verdict classify_ipv4(const Interfaces& ifaces, const ParseConfig& cfg, const rte_mbuf* m,
                      uint16_t l2) noexcept {
  const uint32_t seg_len = rte_pktmbuf_data_len(m);
  if (seg_len < l2 + sizeof(rte_ipv4_hdr)) return dropped(Drop::ip_truncated);
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, l2);
  if ((ip->version_ihl >> 4) != 4) return dropped(Drop::ip_bad_version);
  const uint32_t ihl = (ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) * RTE_IPV4_IHL_MULTIPLIER;
  if (ihl < sizeof(rte_ipv4_hdr) || l2 + ihl > seg_len) return dropped(Drop::ip_bad_ihl);
  const uint32_t total = rte_be_to_cpu_16(ip->total_length);
  if (total < ihl || l2 + total > rte_pktmbuf_pkt_len(m)) return dropped(Drop::ip_bad_length);
  if (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_BAD) return dropped(Drop::ip_bad_checksum);
  if (!(m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_GOOD) && rte_raw_cksum(ip, ihl) != 0xffff) {
    return dropped(Drop::ip_bad_checksum);
  }
  if (ihl > sizeof(rte_ipv4_hdr) && !cfg.allow_ip_options) return dropped(Drop::ip_options);

  const uint32_t src = ip_src(ip);
  const uint32_t dst = ip_dst(ip);
  if (is_martian(src)) return dropped(Drop::martian_source);
  if (is_martian(dst)) return dropped(Drop::martian_destination);
  for (const Interface& i : ifaces) {
    if (src == i.address) return dropped(Drop::martian_source);
    if (dst == i.address) {
      const bool first_fragment =
          (ip->fragment_offset &
           rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK | RTE_IPV4_HDR_MF_FLAG)) == 0;
      if (ip->next_proto_id == IPPROTO_ICMP && first_fragment &&
          total >= ihl + sizeof(rte_icmp_hdr) && seg_len >= l2 + ihl + sizeof(rte_icmp_hdr)) {
        const auto* icmp =
            reinterpret_cast<const rte_icmp_hdr*>(reinterpret_cast<const uint8_t*>(ip) + ihl);
        if (icmp->icmp_type == RTE_IP_ICMP_ECHO_REQUEST && icmp->icmp_code == 0) {
          return punted(Punt::icmp_echo);
        }
      }
      return dropped(Drop::local_unsupported);
    }
    if (i.prefix_len < 31) {
      if (src == i.broadcast() || src == i.network) return dropped(Drop::martian_source);
      if (dst == i.broadcast() || dst == i.network) return dropped(Drop::martian_destination);
    }
  }
  return forward(l2);
}

Verdict classify(const Interfaces& ifaces, const ParseConfig& cfg, const Interface& in,
                 const rte_mbuf* m) noexcept {
  const uint32_t seg_len = rte_pktmbuf_data_len(m);
  if (seg_len < sizeof(rte_ether_hdr)) return dropped(Drop::eth_truncated);
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  if (rte_is_unicast_ether_addr(&eth->dst_addr) &&
      !rte_is_same_ether_addr(&eth->dst_addr, &in.mac)) {
    return dropped(Drop::not_for_us);
  }

  // Slow protocols (LACP, marker) are untagged and go to control whatever
  // the interface's VLAN.
  if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_SLOW)) {
    return punted(Punt::slow_protocols);
  }
  uint16_t ether_type = eth->ether_type;
  uint16_t l2 = sizeof(rte_ether_hdr);
  if (ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN)) {
    if (seg_len < sizeof(rte_ether_hdr) + sizeof(rte_vlan_hdr)) return dropped(Drop::eth_truncated);
    const auto* vh = reinterpret_cast<const rte_vlan_hdr*>(eth + 1);
    if (in.vlan == 0 || (rte_be_to_cpu_16(vh->vlan_tci) & 0xfff) != in.vlan) {
      return dropped(Drop::vlan_mismatch);
    }
    ether_type = vh->eth_proto;
    l2 += sizeof(rte_vlan_hdr);
  } else if (m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) {
    if (in.vlan == 0 || (m->vlan_tci & 0xfff) != in.vlan) return dropped(Drop::vlan_mismatch);
  } else if (in.vlan != 0) {
    return dropped(Drop::vlan_mismatch);
  }

  if (ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) {
    return classify_ipv4(ifaces, cfg, m, l2);
  }
  if (ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP)) {
    if (seg_len < l2 + sizeof(rte_arp_hdr)) return dropped(Drop::arp_invalid);
    const auto* arp = rte_pktmbuf_mtod_offset(m, const rte_arp_hdr*, l2);
    if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
        arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
        arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4) {
      return dropped(Drop::arp_invalid);
    }
    return punted(Punt::arp);
  }
  return dropped(Drop::not_ipv4);
}

}  // namespace

uint16_t parse_stage(const Interfaces& ifaces, const ParseConfig& cfg, uint8_t in, uint16_t rx_port,
                     rte_mbuf** pkts, uint16_t n, PacketSink& sink) noexcept {
  const Interface& ifc = ifaces[in];
  // A member that is not collecting takes only LACPDUs and markers (802.1AX
  // 6.2.11: its Collector discards the rest); read once per burst.
  const bool collecting = ifc.lag.collects(rx_port);
  for (uint16_t i = 0; i < n && i < 4; i++)
    rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (i + 4 < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 4], void*));
    rte_mbuf* m = pkts[i];
    Verdict v = classify(ifaces, cfg, ifc, m);
    if (!collecting && !(v.kind == Kind::punt && v.punt == Punt::slow_protocols)) {
      v = dropped(Drop::not_collecting);
    }
    switch (v.kind) {
      case Kind::drop:
        sink.drop(m, v.drop);
        break;
      case Kind::punt:
        // Control answers from the frame as received: put back a tag the NIC took off.
        if ((m->ol_flags & RTE_MBUF_F_RX_VLAN_STRIPPED) && rte_vlan_insert(&m) != 0) {
          sink.drop(m, Drop::no_headroom);
          break;
        }
        sink.punt(m, v.punt, in, rx_port);
        break;
      case Kind::forward: {
        rte_pktmbuf_adj(m, v.l2_len);
        const auto* ip = rte_pktmbuf_mtod(m, const rte_ipv4_hdr*);
        const uint32_t total = rte_be_to_cpu_16(ip->total_length);
        if (rte_pktmbuf_pkt_len(m) > total) rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - total);
        m->ol_flags &= ~(RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED);
        PacketMeta& pm = meta(m);
        pm.iface = in;
        pm.rx_port = rx_port;
        pm.flags = 0;
        pkts[kept++] = m;
        break;
      }
    }
  }
  return kept;
}

}  // namespace sluice
