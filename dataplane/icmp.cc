#include "icmp.h"

#include <rte_icmp.h>

#include <algorithm>

#include "packet.h"

namespace sluice {

namespace {

constexpr uint32_t kMaxErrorLen = 576;  // RFC 1812 4.3.2.3
constexpr uint8_t kTosInternetControl = 0xc0;

bool is_icmp_error_type(uint8_t type) noexcept {
  switch (type) {
    case RTE_IP_ICMP_ECHO_REPLY:
    case RTE_IP_ICMP_ECHO_REQUEST:
    case 13:  // timestamp
    case 14:  // timestamp reply
    case 15:  // information request
    case 16:  // information reply
      return false;
    default:
      return true;
  }
}

uint16_t checksum(const rte_mbuf* m, uint32_t off, uint32_t len) noexcept {
  uint16_t sum = 0;
  rte_raw_cksum_mbuf(m, off, len, &sum);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

bool icmp_error_allowed(const rte_ipv4_hdr* ip) noexcept {
  if (is_martian(ip_src(ip))) return false;
  if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK)) return false;
  if (ip->next_proto_id == IPPROTO_ICMP) {
    const uint32_t ihl = rte_ipv4_hdr_len(ip);
    if (rte_be_to_cpu_16(ip->total_length) < ihl + 1) return false;
    const auto* type = reinterpret_cast<const uint8_t*>(ip) + ihl;
    if (is_icmp_error_type(*type)) return false;
  }
  return true;
}

bool make_icmp_error(rte_mbuf* m, uint8_t type, uint8_t code, uint32_t src,
                     uint16_t next_hop_mtu) noexcept {
  constexpr uint32_t kHeaders = sizeof(rte_ipv4_hdr) + sizeof(rte_icmp_hdr);
  const auto* orig = rte_pktmbuf_mtod(m, const rte_ipv4_hdr*);
  if (!icmp_error_allowed(orig)) return false;
  if (rte_pktmbuf_headroom(m) < kHeaders) return false;
  const uint32_t orig_src = orig->src_addr;  // network order, kept as is

  const uint32_t quoted = std::min<uint32_t>(rte_pktmbuf_pkt_len(m), kMaxErrorLen - kHeaders);
  if (rte_pktmbuf_pkt_len(m) > quoted) rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - quoted);
  if (rte_pktmbuf_pkt_len(m) != quoted) return false;  // could not trim a chained mbuf
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(rte_pktmbuf_prepend(m, kHeaders));

  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = kTosInternetControl;
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(kHeaders + quoted));
  ip->packet_id = 0;
  ip->fragment_offset = 0;
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_ICMP;
  ip->hdr_checksum = 0;
  ip->src_addr = rte_cpu_to_be_32(src);
  ip->dst_addr = orig_src;
  ip->hdr_checksum = rte_ipv4_cksum(ip);

  auto* icmp = reinterpret_cast<rte_icmp_hdr*>(ip + 1);
  icmp->icmp_type = type;
  icmp->icmp_code = code;
  icmp->icmp_cksum = 0;
  icmp->icmp_ident = 0;
  icmp->icmp_seq_nb = rte_cpu_to_be_16(next_hop_mtu);
  icmp->icmp_cksum = checksum(m, sizeof(rte_ipv4_hdr), sizeof(rte_icmp_hdr) + quoted);
  m->ol_flags &= ~RTE_MBUF_F_TX_OFFLOAD_MASK;
  return true;
}

void make_echo_reply(rte_mbuf* m) noexcept {
  auto* ip = rte_pktmbuf_mtod(m, rte_ipv4_hdr*);
  const uint32_t src = ip->src_addr;
  ip->src_addr = ip->dst_addr;
  ip->dst_addr = src;
  ip->time_to_live = 64;
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  const uint32_t ihl = rte_ipv4_hdr_len(ip);
  auto* icmp = rte_pktmbuf_mtod_offset(m, rte_icmp_hdr*, ihl);
  const uint16_t old_word = *reinterpret_cast<const uint16_t*>(&icmp->icmp_type);
  icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
  const uint16_t new_word = *reinterpret_cast<const uint16_t*>(&icmp->icmp_type);
  icmp->icmp_cksum = csum_update16(icmp->icmp_cksum, old_word, new_word);
}

}  // namespace sluice
