// The campus traffic of sluice-pktgen: how a session is numbered and
// addressed, the frames it sends, and the latency histogram.
//
// A session set is `clients` clients from `first` on, `per_client` sessions
// each (CSIT's NAT44 scale steps use 63). Session id = client * per_client +
// j, with
//   client address  10.16.0.1 + first + client   (inside prefix 10.16.0.0/12)
//   client port     1024 + j
//   server address  198.18.0.1 + id / 64         (RFC 2544's 198.18.0.0/15)
//   server port     5000 + id % 64
// so a frame names its session from its headers alone, on either side of the
// NAT: the inside by destination address and port (the client), the outside
// by destination address and port (the server). No table, no hash.
//
// A soak reuses a session's slot for a new connection once the old one is
// closed: slot id's generation g (0 <= g < generations) moves its client port
// to 1024 + g * per_client + j, so the new connection is a new 5-tuple to the
// device while the server side stays the slot's.
//
// Stamp: every data frame carries a per-session sequence number (UDP: the
// first 4 payload bytes; TCP: the header's sequence number), the low 40 bits
// of the TSC when it was sent and the number of the phase (trial) that sent
// it (UDP: the next 6 bytes; TCP: the first 6 payload bytes), so a 64-byte
// TCP frame still has room for it. Latency is one-way through the device
// under test, measured by the one process that sends and receives with one
// TSC; a frame of an earlier phase that arrives late is counted apart.
#pragma once

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mbuf.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <cstring>

namespace sluice::pktgen {

inline constexpr uint32_t kClientBase = 0x0a100001;  // 10.16.0.1
inline constexpr uint32_t kClientSpan = (1u << 20) - 2;
inline constexpr uint32_t kServerBase = 0xc6120001;  // 198.18.0.1
inline constexpr uint32_t kServersPerAddress = 64;
inline constexpr uint32_t kMaxSessions = ((1u << 17) - 2) * kServersPerAddress;
inline constexpr uint16_t kClientPortBase = 1024;
inline constexpr uint16_t kServerPortBase = 5000;
inline constexpr uint16_t kMaxPerClient = 65535 - kClientPortBase;
inline constexpr uint64_t kStampMask = (uint64_t{1} << 40) - 1;

struct SessionSet {
  uint32_t first = 0;  // client index of the first client
  uint32_t clients = 0;
  uint32_t per_client = 0;
  uint32_t generations = 1;  // client ports per slot (soak: reused slots)
  uint8_t proto = IPPROTO_UDP;

  uint32_t size() const noexcept { return clients * per_client; }
  uint32_t client_ip(uint32_t id) const noexcept { return kClientBase + first + id / per_client; }
  uint16_t client_port(uint32_t id, uint32_t gen = 0) const noexcept {
    return static_cast<uint16_t>(kClientPortBase + gen * per_client + id % per_client);
  }
  static uint32_t server_ip(uint32_t id) noexcept { return kServerBase + id / kServersPerAddress; }
  static uint16_t server_port(uint32_t id) noexcept {
    return static_cast<uint16_t>(kServerPortBase + id % kServersPerAddress);
  }
  // The session of a frame to a client (inside) or to a server (outside);
  // false when it is none of this set's. Addresses and ports host order; the
  // client side also gives the generation the port names.
  bool from_client_side(uint32_t dst, uint16_t dport, uint32_t* id, uint32_t* gen) const noexcept {
    const uint32_t c = dst - kClientBase - first;
    const uint32_t j = static_cast<uint16_t>(dport - kClientPortBase);
    if (c >= clients || j >= per_client * generations) return false;
    *id = c * per_client + j % per_client;
    *gen = j / per_client;
    return true;
  }
  bool from_server_side(uint32_t dst, uint16_t dport, uint32_t* id) const noexcept {
    const uint32_t s = static_cast<uint16_t>(dport - kServerPortBase);
    if (s >= kServersPerAddress) return false;
    *id = (dst - kServerBase) * kServersPerAddress + s;
    return *id < size();
  }
};

// Frame sizes on the wire, FCS included: 64, 1518, or the simple IMIX of
// 7 x 64, 4 x 594, 1 x 1518 (average 353.8 bytes), interleaved.
inline constexpr std::array<uint16_t, 12> kImix = {64,   594, 64,  64, 594, 64,
                                                   1518, 64,  594, 64, 594, 64};

struct Addressing {
  rte_ether_addr src_mac;
  rte_ether_addr dst_mac;
};

// Frame header pointers of a received or built IPv4 TCP/UDP frame.
struct Headers {
  rte_ether_hdr* eth;
  rte_ipv4_hdr* ip;
  uint8_t* l4;
  uint8_t* payload;
  uint16_t payload_len;
};

// The headers of an untagged IPv4 TCP or UDP frame without options; false
// for anything else.
inline bool parse(rte_mbuf* m, Headers* h) noexcept {
  if (m->data_len < sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr)) {
    return false;
  }
  h->eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  if (h->eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4)) return false;
  h->ip = reinterpret_cast<rte_ipv4_hdr*>(h->eth + 1);
  if (h->ip->version_ihl != RTE_IPV4_VHL_DEF) return false;
  const uint16_t ip_len = rte_be_to_cpu_16(h->ip->total_length);
  if (ip_len + sizeof(rte_ether_hdr) > m->data_len) return false;
  h->l4 = reinterpret_cast<uint8_t*>(h->ip + 1);
  size_t l4_len;
  if (h->ip->next_proto_id == IPPROTO_UDP) {
    l4_len = sizeof(rte_udp_hdr);
  } else if (h->ip->next_proto_id == IPPROTO_TCP) {
    if (ip_len < sizeof(rte_ipv4_hdr) + sizeof(rte_tcp_hdr)) return false;
    l4_len = (reinterpret_cast<rte_tcp_hdr*>(h->l4)->data_off >> 4) * 4u;
  } else {
    return false;
  }
  if (ip_len < sizeof(rte_ipv4_hdr) + l4_len) return false;
  h->payload = h->l4 + l4_len;
  h->payload_len = static_cast<uint16_t>(ip_len - sizeof(rte_ipv4_hdr) - l4_len);
  return true;
}

inline uint16_t dport_of(const Headers& h) noexcept {
  return rte_be_to_cpu_16(reinterpret_cast<const rte_udp_hdr*>(h.l4)->dst_port);
}

// Writes a frame of `wire_size` bytes on the wire (FCS excluded from the
// mbuf) from src:sport to dst:dport into m (empty); TCP gets `flags` and a
// header without options, `seq` and `ack`. Data frames (payload room of 6 or
// more bytes, flags PSH) are stamped by stamp(). Checksums are complete (the
// kernel NAT baseline checks them).
inline void build(rte_mbuf* m, const Addressing& a, uint8_t proto, uint32_t src, uint16_t sport,
                  uint32_t dst, uint16_t dport, uint16_t wire_size, uint8_t flags, uint32_t seq,
                  uint32_t ack) noexcept {
  const uint16_t frame = static_cast<uint16_t>(wire_size - RTE_ETHER_CRC_LEN);
  auto* eth = reinterpret_cast<rte_ether_hdr*>(rte_pktmbuf_append(m, frame));
  eth->dst_addr = a.dst_mac;
  eth->src_addr = a.src_mac;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  const uint16_t l4_len = proto == IPPROTO_TCP ? sizeof(rte_tcp_hdr) : sizeof(rte_udp_hdr);
  // Handshake segments carry no payload: the frame is padded to 64 bytes.
  const bool data = proto == IPPROTO_UDP || (flags & RTE_TCP_PSH_FLAG);
  const uint16_t ip_len = data ? static_cast<uint16_t>(frame - sizeof(rte_ether_hdr))
                               : static_cast<uint16_t>(sizeof(rte_ipv4_hdr) + l4_len);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = 0;
  ip->total_length = rte_cpu_to_be_16(ip_len);
  ip->packet_id = 0;
  ip->fragment_offset = 0;
  ip->time_to_live = 64;
  ip->next_proto_id = proto;
  ip->src_addr = rte_cpu_to_be_32(src);
  ip->dst_addr = rte_cpu_to_be_32(dst);
  ip->hdr_checksum = 0;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  if (proto == IPPROTO_TCP) {
    auto* tcp = reinterpret_cast<rte_tcp_hdr*>(ip + 1);
    tcp->src_port = rte_cpu_to_be_16(sport);
    tcp->dst_port = rte_cpu_to_be_16(dport);
    tcp->sent_seq = rte_cpu_to_be_32(seq);
    tcp->recv_ack = rte_cpu_to_be_32(ack);
    tcp->data_off = (sizeof(rte_tcp_hdr) / 4) << 4;
    tcp->tcp_flags = flags;
    tcp->rx_win = rte_cpu_to_be_16(65535);
    tcp->cksum = 0;
    tcp->tcp_urp = 0;
  } else {
    auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
    udp->src_port = rte_cpu_to_be_16(sport);
    udp->dst_port = rte_cpu_to_be_16(dport);
    udp->dgram_len = rte_cpu_to_be_16(ip_len - sizeof(rte_ipv4_hdr));
    udp->dgram_cksum = 0;
  }
}

struct Stamp {
  uint32_t seq;
  uint64_t tsc;  // low 40 bits
  uint8_t phase;
};

// Sets the sequence number and stamp of a data frame and completes its
// transport checksum (any frame: handshake segments too, with no stamp).
inline void stamp(const Headers& h, uint32_t seq, uint64_t tsc, uint8_t phase) noexcept {
  uint8_t* ts = h.payload;
  if (h.ip->next_proto_id == IPPROTO_UDP) {
    std::memcpy(h.payload, &seq, sizeof seq);
    ts += sizeof seq;
    reinterpret_cast<rte_udp_hdr*>(h.l4)->dgram_cksum = 0;
  } else {
    reinterpret_cast<rte_tcp_hdr*>(h.l4)->sent_seq = rte_cpu_to_be_32(seq);
  }
  const size_t room = h.payload_len - static_cast<size_t>(ts - h.payload);
  if (h.payload_len >= 6 && room >= 6) {
    std::memcpy(ts, &tsc, 5);
    ts[5] = phase;
  }
  if (h.ip->next_proto_id == IPPROTO_TCP) {
    auto* tcp = reinterpret_cast<rte_tcp_hdr*>(h.l4);
    tcp->cksum = 0;
    tcp->cksum = rte_ipv4_udptcp_cksum(h.ip, tcp);
  }
}

// The stamp of a received data frame; false when it has no room for one.
inline bool read_stamp(const Headers& h, Stamp* s) noexcept {
  const uint8_t* ts = h.payload;
  if (h.ip->next_proto_id == IPPROTO_UDP) {
    if (h.payload_len < 10) return false;
    std::memcpy(&s->seq, h.payload, sizeof s->seq);
    ts += sizeof s->seq;
  } else {
    if (h.payload_len < 6) return false;
    s->seq = rte_be_to_cpu_32(reinterpret_cast<const rte_tcp_hdr*>(h.l4)->sent_seq);
  }
  s->tsc = 0;
  std::memcpy(&s->tsc, ts, 5);
  s->phase = ts[5];
  return true;
}

// Turns a received frame around: addresses and ports swapped, TTL reset,
// Ethernet addresses from `a`; the caller sets flags and stamps it.
inline void reverse(const Headers& h, const Addressing& a) noexcept {
  h.eth->src_addr = a.src_mac;
  h.eth->dst_addr = a.dst_mac;
  const rte_be32_t src = h.ip->src_addr;
  h.ip->src_addr = h.ip->dst_addr;
  h.ip->dst_addr = src;
  h.ip->time_to_live = 64;
  h.ip->hdr_checksum = 0;
  h.ip->hdr_checksum = rte_ipv4_cksum(h.ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(h.l4);
  const rte_be16_t sport = udp->src_port;
  udp->src_port = udp->dst_port;
  udp->dst_port = sport;
}

// One-way latencies in TSC cycles: log-linear buckets (16 per power of two,
// 6 % wide), so percentiles are within 6 % of the truth; the maximum exact.
class LatencyHistogram {
 public:
  void add(uint64_t cycles) noexcept {
    buckets_[bucket(cycles)]++;
    count_++;
    max_ = std::max(max_, cycles);
  }
  uint64_t count() const noexcept { return count_; }
  uint64_t max() const noexcept { return max_; }
  // The upper bound of the bucket holding the q-quantile (0 < q <= 1).
  uint64_t quantile(double q) const noexcept {
    if (count_ == 0) return 0;
    const auto rank = static_cast<uint64_t>(q * static_cast<double>(count_) + 0.5);
    uint64_t seen = 0;
    for (size_t b = 0; b < kBuckets; b++) {
      seen += buckets_[b];
      if (seen >= std::max<uint64_t>(rank, 1)) return std::min(upper(b), max_);
    }
    return max_;
  }
  void clear() noexcept { *this = LatencyHistogram{}; }

 private:
  static constexpr unsigned kSub = 4;  // 16 buckets per power of two
  static constexpr size_t kBuckets = (64 - kSub + 1) << kSub;
  static size_t bucket(uint64_t v) noexcept {
    if (v < (1u << kSub)) return static_cast<size_t>(v);
    const unsigned top = 63 - static_cast<unsigned>(std::countl_zero(v));
    const unsigned shift = top - kSub;
    return ((shift + 1) << kSub) + ((v >> shift) & ((1u << kSub) - 1));
  }
  static uint64_t upper(size_t b) noexcept {
    if (b < (1u << kSub)) return b;
    const size_t shift = (b >> kSub) - 1;
    const uint64_t mantissa = (1u << kSub) + (b & ((1u << kSub) - 1));
    return ((mantissa + 1) << shift) - 1;
  }
  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace sluice::pktgen
