#include "nat_headers.h"

#include <rte_icmp.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <cstring>

#include "icmp.h"
#include "packet.h"

namespace sluice {

namespace {

constexpr uint8_t kIcmpParameterProblem = 12;

// Fields of quoted headers need not be aligned: read and write them bytewise.
uint16_t load16(const uint8_t* p) noexcept {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint32_t load32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Writes a 16-bit or 32-bit field (network order) and updates each checksum
// that covers it (null: none).
void patch16(uint8_t* field, uint16_t value, uint8_t* csum_a, uint8_t* csum_b = nullptr) noexcept {
  const uint16_t old = load16(field);
  std::memcpy(field, &value, sizeof value);
  for (uint8_t* c : {csum_a, csum_b}) {
    if (c == nullptr) continue;
    const uint16_t updated = csum_update16(load16(c), old, value);
    std::memcpy(c, &updated, sizeof updated);
  }
}
void patch32(uint8_t* field, uint32_t value, uint8_t* csum_a, uint8_t* csum_b = nullptr,
             uint8_t* csum_c = nullptr) noexcept {
  const uint32_t old = load32(field);
  std::memcpy(field, &value, sizeof value);
  for (uint8_t* c : {csum_a, csum_b, csum_c}) {
    if (c == nullptr) continue;
    const uint16_t updated = csum_update32(load16(c), old, value);
    std::memcpy(c, &updated, sizeof updated);
  }
}

uint32_t ihl_of(const uint8_t* ip) noexcept {
  return (ip[0] & RTE_IPV4_HDR_IHL_MASK) * RTE_IPV4_IHL_MULTIPLIER;
}

// Bytes of the transport header present after an IP header at `ip`, within
// the first segment and the datagram's own length.
uint32_t l4_room(const rte_mbuf* m, const uint8_t* ip, uint32_t ihl) noexcept {
  const auto* start = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t in_segment = rte_pktmbuf_data_len(m) - static_cast<uint32_t>(ip - start);
  const uint32_t total = rte_be_to_cpu_16(load16(ip + 2));
  const uint32_t end = std::min(in_segment, std::max(total, ihl));
  return end - ihl;
}

// Where a transport header keeps its checksum, or -1 when it is not within
// `room` bytes (a quote cut short) or a UDP checksum is zero (none).
int csum_offset(uint8_t proto, const uint8_t* l4, uint32_t room) noexcept {
  switch (proto) {
    case IPPROTO_TCP:
      return room >= 18 ? 16 : -1;
    case IPPROTO_UDP:
      return room >= 8 && load16(l4 + 6) != 0 ? 6 : -1;
    case IPPROTO_ICMP:
      return room >= 4 ? 2 : -1;
  }
  return -1;
}

// The port field for one side: TCP/UDP source or destination port; an ICMP
// query's identifier either way.
uint32_t port_offset(uint8_t proto, bool source) noexcept {
  if (proto == IPPROTO_ICMP) return 4;
  return source ? 0 : 2;
}

// Rewrites one endpoint of a flow or tail, no bookkeeping.
void set_endpoint(rte_mbuf* m, bool source, uint32_t ip, uint16_t port) noexcept {
  auto* h = rte_pktmbuf_mtod(m, uint8_t*);
  auto* hdr_csum = h + offsetof(rte_ipv4_hdr, hdr_checksum);
  auto* addr = h + (source ? offsetof(rte_ipv4_hdr, src_addr) : offsetof(rte_ipv4_hdr, dst_addr));
  const uint8_t proto = h[offsetof(rte_ipv4_hdr, next_proto_id)];
  const bool tail = meta(m).flags & kMetaFragTail;
  const uint32_t ihl = ihl_of(h);
  uint8_t* l4 = h + ihl;
  uint8_t* l4_csum = nullptr;
  if (!tail) {
    const int off = csum_offset(proto, l4, l4_room(m, h, ihl));
    if (off >= 0) l4_csum = l4 + off;
  }
  // ICMP has no pseudo header: its checksum does not cover the addresses.
  patch32(addr, rte_cpu_to_be_32(ip), hdr_csum, proto == IPPROTO_ICMP ? nullptr : l4_csum);
  if (tail) return;
  patch16(l4 + port_offset(proto, source), rte_cpu_to_be_16(port), l4_csum);
  // RFC 768: a computed UDP checksum of zero is sent as all ones.
  if (proto == IPPROTO_UDP && l4_csum != nullptr && load16(l4_csum) == 0) {
    std::memset(l4_csum, 0xff, 2);
  }
}

void record_original(rte_mbuf* m, const NatTuple& t) noexcept {
  PacketMeta& pm = meta(m);
  if (pm.flags & kMetaTranslated) return;
  pm.orig_src = t.src;
  pm.orig_dst = t.dst;
  pm.orig_sport = t.sport;
  pm.orig_dport = t.dport;
  pm.flags |= kMetaTranslated;
}

}  // namespace

uint16_t csum_update32(uint16_t csum, uint32_t old_be, uint32_t new_be) noexcept {
  csum = csum_update16(csum, static_cast<uint16_t>(old_be), static_cast<uint16_t>(new_be));
  return csum_update16(csum, static_cast<uint16_t>(old_be >> 16),
                       static_cast<uint16_t>(new_be >> 16));
}

NatTuple nat_tuple(const rte_mbuf* m) noexcept {
  const auto* h = rte_pktmbuf_mtod(m, const uint8_t*);
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(h);
  NatTuple t{};
  t.proto = ip->next_proto_id;
  t.src = ip_src(ip);
  t.dst = ip_dst(ip);
  if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK)) {
    const PacketMeta& pm = meta(m);
    if (!(pm.flags & kMetaFragTail)) {
      t.kind = NatKind::unsupported;
      return t;
    }
    t.kind = NatKind::tail;
    t.sport = pm.l4_src;
    t.dport = pm.l4_dst;
    return t;
  }
  const uint32_t ihl = ihl_of(h);
  const uint8_t* l4 = h + ihl;
  const uint32_t room = l4_room(m, h, ihl);
  t.kind = NatKind::truncated;
  switch (t.proto) {
    case IPPROTO_TCP:
      if (room < sizeof(rte_tcp_hdr)) return t;
      t.tcp_flags = l4[offsetof(rte_tcp_hdr, tcp_flags)];
      [[fallthrough]];
    case IPPROTO_UDP:
      if (room < sizeof(rte_udp_hdr)) return t;
      t.sport = rte_be_to_cpu_16(load16(l4));
      t.dport = rte_be_to_cpu_16(load16(l4 + 2));
      t.kind = NatKind::flow;
      return t;
    case IPPROTO_ICMP:
      break;
    default:
      t.kind = NatKind::unsupported;
      return t;
  }
  if (room < sizeof(rte_icmp_hdr)) return t;
  const uint8_t type = l4[0];
  if (type == kIcmpEchoRequest || type == kIcmpEchoReply || type == kIcmpTimestampRequest ||
      type == kIcmpTimestampReply) {
    t.icmp_type = type;
    t.sport = t.dport = rte_be_to_cpu_16(load16(l4 + 4));
    t.kind = NatKind::flow;
    return t;
  }
  if (type != kIcmpDestUnreachable && type != kIcmpTimeExceeded && type != kIcmpParameterProblem) {
    t.kind = NatKind::unsupported;
    return t;
  }
  // The quoted datagram: its IP header and the first 8 bytes of its payload.
  const uint8_t* q = l4 + sizeof(rte_icmp_hdr);
  const uint32_t qroom = room - sizeof(rte_icmp_hdr);
  if (qroom < sizeof(rte_ipv4_hdr) || (q[0] >> 4) != 4) return t;
  const uint32_t qihl = ihl_of(q);
  if (qihl < sizeof(rte_ipv4_hdr) || qroom < qihl + 8) return t;
  const auto* qip = reinterpret_cast<const rte_ipv4_hdr*>(q);
  t.kind = NatKind::unsupported;
  if (qip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK)) return t;
  t.proto = qip->next_proto_id;
  t.src = ip_src(qip);
  t.dst = ip_dst(qip);
  const uint8_t* ql4 = q + qihl;
  if (t.proto == IPPROTO_TCP || t.proto == IPPROTO_UDP) {
    t.sport = rte_be_to_cpu_16(load16(ql4));
    t.dport = rte_be_to_cpu_16(load16(ql4 + 2));
  } else if (t.proto == IPPROTO_ICMP &&
             (ql4[0] == kIcmpEchoRequest || ql4[0] == kIcmpEchoReply ||
              ql4[0] == kIcmpTimestampRequest || ql4[0] == kIcmpTimestampReply)) {
    t.icmp_type = ql4[0];
    t.sport = t.dport = rte_be_to_cpu_16(load16(ql4 + 4));
  } else {
    return t;
  }
  t.kind = NatKind::icmp_error;
  return t;
}

bool icmp_error_checksums_ok(const rte_mbuf* m) noexcept {
  const auto* h = rte_pktmbuf_mtod(m, const uint8_t*);
  const uint32_t ihl = ihl_of(h);
  const uint8_t* icmp = h + ihl;
  const uint8_t* q = icmp + sizeof(rte_icmp_hdr);
  // The whole message must be in this segment to be summed; it always is
  // for an error (at most 576 bytes by RFC 1812, a few KB in practice).
  const uint32_t total = rte_be_to_cpu_16(load16(h + 2));
  if (total > rte_pktmbuf_data_len(m)) return false;
  return rte_raw_cksum(icmp, total - ihl) == 0xffff && rte_raw_cksum(q, ihl_of(q)) == 0xffff;
}

void rewrite_source(rte_mbuf* m, const NatTuple& t, uint32_t ip, uint16_t port) noexcept {
  record_original(m, t);
  set_endpoint(m, true, ip, port);
}

void rewrite_destination(rte_mbuf* m, const NatTuple& t, uint32_t ip, uint16_t port) noexcept {
  record_original(m, t);
  set_endpoint(m, false, ip, port);
}

void restore_original(rte_mbuf* m) noexcept {
  PacketMeta& pm = meta(m);
  if (!(pm.flags & kMetaTranslated)) return;
  set_endpoint(m, true, pm.orig_src, pm.orig_sport);
  set_endpoint(m, false, pm.orig_dst, pm.orig_dport);
  pm.flags &= ~kMetaTranslated;
}

void translate_icmp_error(rte_mbuf* m, bool outward, uint32_t ip, uint16_t port) noexcept {
  auto* h = rte_pktmbuf_mtod(m, uint8_t*);
  uint8_t* icmp = h + ihl_of(h);
  uint8_t* icmp_csum = icmp + offsetof(rte_icmp_hdr, icmp_cksum);
  uint8_t* q = icmp + sizeof(rte_icmp_hdr);
  const uint32_t qihl = ihl_of(q);
  uint8_t* ql4 = q + qihl;
  const uint8_t qproto = q[offsetof(rte_ipv4_hdr, next_proto_id)];
  const uint32_t new_ip = rte_cpu_to_be_32(ip);

  // The outer header: the client's address (outward source, inward destination).
  patch32(h + (outward ? offsetof(rte_ipv4_hdr, src_addr) : offsetof(rte_ipv4_hdr, dst_addr)),
          new_ip, h + offsetof(rte_ipv4_hdr, hdr_checksum));

  // The quote: the same endpoint, seen from the datagram's side (its
  // destination when it travelled inward, its source when it went outward).
  // The quoted checksums change with it, and the ICMP checksum covers every
  // word that changes, the quoted checksums included.
  const bool quoted_source = !outward;
  uint8_t* q_csum = q + offsetof(rte_ipv4_hdr, hdr_checksum);
  const int l4_off = csum_offset(qproto, ql4, l4_room(m, q, qihl));
  uint8_t* ql4_csum = l4_off >= 0 ? ql4 + l4_off : nullptr;
  uint8_t* pseudo_csum = qproto == IPPROTO_ICMP ? nullptr : ql4_csum;

  const auto quoted = [icmp_csum](uint8_t* csum, auto&& change) {
    if (csum == nullptr) {
      change(nullptr);
      return;
    }
    const uint16_t before = load16(csum);
    change(csum);
    const uint16_t after = load16(csum);
    const uint16_t outer = csum_update16(load16(icmp_csum), before, after);
    std::memcpy(icmp_csum, &outer, sizeof outer);
  };
  uint8_t* q_addr =
      q + (quoted_source ? offsetof(rte_ipv4_hdr, src_addr) : offsetof(rte_ipv4_hdr, dst_addr));
  quoted(q_csum, [&](uint8_t* c) {
    quoted(pseudo_csum, [&](uint8_t* c2) { patch32(q_addr, new_ip, icmp_csum, c, c2); });
  });
  quoted(ql4_csum, [&](uint8_t* c) {
    patch16(ql4 + port_offset(qproto, quoted_source), rte_cpu_to_be_16(port), icmp_csum, c);
    if (qproto == IPPROTO_UDP && c != nullptr && load16(c) == 0) std::memset(c, 0xff, 2);
  });
}

}  // namespace sluice
