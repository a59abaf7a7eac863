// A packet builder for tests: Ethernet (optionally 802.1Q) carrying IPv4 with
// ICMP, UDP or TCP, or ARP, with correct checksums by default and one knob
// for every way a frame can be broken. Checksums are computed here with a
// plain RFC 1071 sum, independently of the DPDK helpers under test.
//
//   rte_mbuf* m = Frame().to(kInsideMac).src("10.16.1.10").dst("198.51.100.7")
//                     .udp().ttl(1).mbuf();
//
// Setters return *this, so a table of test cases can hold Frames by value.
#pragma once

#include <rte_arp.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_mbuf.h>

#include <netinet/in.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "packet.h"
#include "support.h"

namespace sluice::test {

// RFC 1071 one's complement sum (not complemented), over big-endian words.
inline uint32_t sum16(const uint8_t* p, size_t len, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < len; i += 2)
    sum += (uint32_t{p[i]} << 8) | p[i + 1];
  if (len & 1) sum += uint32_t{p[len - 1]} << 8;
  return sum;
}
inline uint16_t fold_complement(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}
// True when the bytes (checksum field included) verify.
inline bool checksum_ok(const void* p, size_t len) {
  return fold_complement(sum16(static_cast<const uint8_t*>(p), len)) == 0;
}

class Frame {
 public:
  enum class L4 : uint8_t { icmp, udp, tcp, raw };

  // --- Ethernet
  Frame& to(const rte_ether_addr& m) { return set(eth_dst_, m); }
  Frame& from_mac(const rte_ether_addr& m) { return set(eth_src_, m); }
  Frame& vlan(uint16_t tci) { return set(vlan_, tci); }  // 802.1Q tag (TCI)
  Frame& ether_type(uint16_t t) { return set(ether_type_, t); }
  Frame& pad(uint16_t bytes) { return set(pad_, bytes); }  // zeros after the datagram
  Frame& truncate(uint16_t frame_len) { return set(truncate_, frame_len); }

  // --- IPv4
  Frame& src(uint32_t a) { return set(src_, a); }
  Frame& src(const char* a) { return src(ip(a)); }
  Frame& dst(uint32_t a) { return set(dst_, a); }
  Frame& dst(const char* a) { return dst(ip(a)); }
  Frame& ttl(uint8_t t) { return set(ttl_, t); }
  Frame& tos(uint8_t t) { return set(tos_, t); }
  Frame& id(uint16_t i) { return set(id_, i); }
  Frame& df(bool on = true) { return set(df_, on); }
  Frame& mf(bool on = true) { return set(mf_, on); }
  Frame& frag_offset(uint16_t units) { return set(frag_offset_, units); }  // 8-byte units
  Frame& version(uint8_t v) { return set(version_, v); }
  Frame& ihl(uint8_t words) { return set(ihl_, words); }          // the field only; bytes unchanged
  Frame& options(uint8_t bytes) { return set(options_, bytes); }  // NOPs, a multiple of 4
  Frame& total_length(uint16_t v) { return set(total_length_, v); }
  Frame& bad_checksum() { return set(bad_checksum_, true); }

  // --- L4
  Frame& icmp(uint8_t type, uint8_t code = 0, uint16_t ident = 0x1234, uint16_t seq = 1) {
    l4_ = L4::icmp;
    proto_ = IPPROTO_ICMP;
    icmp_type_ = type;
    icmp_code_ = code;
    ident_ = ident;
    seq_ = seq;
    return *this;
  }
  Frame& echo_request(uint16_t ident = 0x1234, uint16_t seq = 1) {
    return icmp(RTE_IP_ICMP_ECHO_REQUEST, 0, ident, seq);
  }
  Frame& udp(uint16_t sport = 40000, uint16_t dport = 53) {
    l4_ = L4::udp;
    proto_ = IPPROTO_UDP;
    sport_ = sport;
    dport_ = dport;
    return *this;
  }
  Frame& tcp(uint16_t sport = 40000, uint16_t dport = 443) {
    l4_ = L4::tcp;
    proto_ = IPPROTO_TCP;
    sport_ = sport;
    dport_ = dport;
    return *this;
  }
  Frame& tcp_flags(uint8_t flags) { return set(tcp_flags_, flags); }  // RTE_TCP_*_FLAG; SYN
  Frame& no_udp_checksum() { return set(no_udp_checksum_, true); }    // UDP checksum 0 (none)
  // An ICMP error (type, code, unused word 0) quoting the first `bytes` of
  // another datagram as that frame would send it (all of it by default).
  Frame& icmp_error(uint8_t type, uint8_t code, const Frame& quoted, size_t bytes = SIZE_MAX) {
    std::vector<uint8_t> q = quoted.l3_bytes();
    if (bytes < q.size()) q.resize(bytes);
    icmp(type, code, 0, 0);
    return payload_bytes(std::move(q));
  }
  Frame& raw(uint8_t proto) {
    l4_ = L4::raw;
    return set(proto_, proto);
  }
  Frame& payload(uint16_t len, uint8_t seed = 0) {
    payload_ = len;
    seed_ = seed;
    return *this;
  }
  // Bytes placed verbatim after the L4 header (replaces the pattern payload).
  Frame& payload_bytes(std::vector<uint8_t> b) { return set(payload_bytes_, std::move(b)); }

  // --- ARP (replaces the IPv4 body; EtherType 0x0806)
  Frame& arp(uint16_t op, const rte_ether_addr& sha, uint32_t sip, const rte_ether_addr& tha,
             uint32_t tip) {
    arp_ = true;
    ether_type_ = RTE_ETHER_TYPE_ARP;
    arp_op_ = op;
    arp_sha_ = sha;
    arp_sip_ = sip;
    arp_tha_ = tha;
    arp_tip_ = tip;
    return *this;
  }
  Frame& arp_hardware(uint16_t h) { return set(arp_hw_, h); }

  uint16_t l2_len() const { return vlan_ ? 18 : 14; }

  // The IPv4 datagram alone (or the ARP body), before padding and truncation.
  std::vector<uint8_t> l3_bytes() const {
    if (arp_) return arp_body();
    std::vector<uint8_t> l4;
    std::vector<uint8_t> data = payload_bytes_;
    if (data.empty()) {
      for (uint16_t i = 0; i < payload_; i++)
        data.push_back(static_cast<uint8_t>(seed_ + i));
    }
    switch (l4_) {
      case L4::icmp:
        l4 = {icmp_type_, icmp_code_, 0, 0, hi(ident_), lo(ident_), hi(seq_), lo(seq_)};
        break;
      case L4::udp:
        l4 = {hi(sport_), lo(sport_), hi(dport_), lo(dport_), 0, 0, 0, 0};
        break;
      case L4::tcp:
        l4 = {hi(sport_), lo(sport_), hi(dport_), lo(dport_), 0,    0,    0, 1, 0, 0,
              0,          0,          0x50,       tcp_flags_, 0xff, 0xff, 0, 0, 0, 0};
        break;
      case L4::raw:
        break;
    }
    l4.insert(l4.end(), data.begin(), data.end());
    const uint16_t l4_len = static_cast<uint16_t>(l4.size());
    if (l4_ == L4::udp) {
      l4[4] = hi(l4_len);
      l4[5] = lo(l4_len);
    }
    if (l4_ == L4::icmp) {
      const uint16_t c = fold_complement(sum16(l4.data(), l4.size()));
      l4[2] = hi(c);
      l4[3] = lo(c);
    } else if (l4_ == L4::udp || l4_ == L4::tcp) {
      uint8_t pseudo[12];
      put32(pseudo, src_);
      put32(pseudo + 4, dst_);
      pseudo[8] = 0;
      pseudo[9] = proto_;
      pseudo[10] = hi(l4_len);
      pseudo[11] = lo(l4_len);
      uint16_t c = fold_complement(sum16(l4.data(), l4.size(), sum16(pseudo, 12)));
      if (l4_ == L4::udp && c == 0) c = 0xffff;
      if (l4_ == L4::udp && no_udp_checksum_) c = 0;
      const size_t at = l4_ == L4::udp ? 6 : 16;
      l4[at] = hi(c);
      l4[at + 1] = lo(c);
    }

    const uint16_t hlen = static_cast<uint16_t>(20 + options_);
    std::vector<uint8_t> pkt(hlen, 0);
    const uint8_t ihl_field = ihl_ ? *ihl_ : static_cast<uint8_t>(hlen / 4);
    pkt[0] = static_cast<uint8_t>((version_ << 4) | (ihl_field & 0xf));
    pkt[1] = tos_;
    const uint16_t total = total_length_ ? *total_length_ : static_cast<uint16_t>(hlen + l4_len);
    pkt[2] = hi(total);
    pkt[3] = lo(total);
    pkt[4] = hi(id_);
    pkt[5] = lo(id_);
    const uint16_t frag =
        static_cast<uint16_t>((df_ ? 0x4000 : 0) | (mf_ ? 0x2000 : 0) | (frag_offset_ & 0x1fff));
    pkt[6] = hi(frag);
    pkt[7] = lo(frag);
    pkt[8] = ttl_;
    pkt[9] = proto_;
    put32(&pkt[12], src_);
    put32(&pkt[16], dst_);
    for (uint16_t i = 20; i < hlen; i++)
      pkt[i] = 0x01;  // NOP options
    const uint16_t c = fold_complement(sum16(pkt.data(), hlen));
    const uint16_t stored = bad_checksum_ ? static_cast<uint16_t>(c ^ 0x5a5a) : c;
    pkt[10] = hi(stored);
    pkt[11] = lo(stored);
    pkt.insert(pkt.end(), l4.begin(), l4.end());
    return pkt;
  }

  // The whole frame as it would come off the wire.
  std::vector<uint8_t> bytes() const {
    std::vector<uint8_t> f;
    f.insert(f.end(), eth_dst_.addr_bytes, eth_dst_.addr_bytes + 6);
    f.insert(f.end(), eth_src_.addr_bytes, eth_src_.addr_bytes + 6);
    if (vlan_) {
      f.insert(f.end(), {0x81, 0x00, hi(*vlan_), lo(*vlan_)});
    }
    f.insert(f.end(), {hi(ether_type_), lo(ether_type_)});
    const auto l3 = l3_bytes();
    f.insert(f.end(), l3.begin(), l3.end());
    f.insert(f.end(), pad_, 0);
    if (truncate_ && *truncate_ < f.size()) f.resize(*truncate_);
    return f;
  }

  // The frame in a fresh mbuf from the test pool, data at the Ethernet header.
  rte_mbuf* mbuf() const { return to_mbuf(bytes()); }
  // The datagram alone, data at the IPv4 header: what parse_stage passes on.
  rte_mbuf* l3_mbuf() const { return to_mbuf(l3_bytes()); }

  static rte_mbuf* to_mbuf(const std::vector<uint8_t>& b) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool());
    if (m == nullptr) return nullptr;
    meta(m) = PacketMeta{};  // as parse_stage leaves it: no flags
    char* p = rte_pktmbuf_append(m, static_cast<uint16_t>(b.size()));
    if (p == nullptr) {
      rte_pktmbuf_free(m);
      return nullptr;
    }
    std::memcpy(p, b.data(), b.size());
    return m;
  }

 private:
  template <typename Field, typename Value>
  Frame& set(Field& field, Value&& v) {
    field = std::forward<Value>(v);
    return *this;
  }
  static uint8_t hi(uint16_t v) { return static_cast<uint8_t>(v >> 8); }
  static uint8_t lo(uint16_t v) { return static_cast<uint8_t>(v & 0xff); }
  static void put32(uint8_t* p, uint32_t v) {
    p[0] = static_cast<uint8_t>(v >> 24);
    p[1] = static_cast<uint8_t>(v >> 16);
    p[2] = static_cast<uint8_t>(v >> 8);
    p[3] = static_cast<uint8_t>(v);
  }

  std::vector<uint8_t> arp_body() const {
    std::vector<uint8_t> b(sizeof(rte_arp_hdr), 0);
    b[0] = hi(arp_hw_);
    b[1] = lo(arp_hw_);
    b[2] = 0x08;  // IPv4
    b[4] = 6;
    b[5] = 4;
    b[6] = hi(arp_op_);
    b[7] = lo(arp_op_);
    std::memcpy(&b[8], arp_sha_.addr_bytes, 6);
    put32(&b[14], arp_sip_);
    std::memcpy(&b[18], arp_tha_.addr_bytes, 6);
    put32(&b[24], arp_tip_);
    return b;
  }

  rte_ether_addr eth_dst_ = kInsideMac;
  rte_ether_addr eth_src_ = mac(0x02, 0xaa, 0, 0, 0, 0x10);
  std::optional<uint16_t> vlan_;
  uint16_t ether_type_ = RTE_ETHER_TYPE_IPV4;
  uint16_t pad_ = 0;
  std::optional<uint16_t> truncate_;

  uint32_t src_ = ip("10.16.1.10");
  uint32_t dst_ = ip("198.51.100.7");
  uint8_t ttl_ = 64;
  uint8_t tos_ = 0;
  uint16_t id_ = 0x4242;
  bool df_ = false;
  bool mf_ = false;
  uint16_t frag_offset_ = 0;
  uint8_t version_ = 4;
  std::optional<uint8_t> ihl_;
  uint8_t options_ = 0;
  std::optional<uint16_t> total_length_;
  bool bad_checksum_ = false;

  L4 l4_ = L4::udp;
  uint8_t proto_ = IPPROTO_UDP;
  uint8_t icmp_type_ = 0;
  uint8_t icmp_code_ = 0;
  uint16_t ident_ = 0;
  uint16_t seq_ = 0;
  uint16_t sport_ = 40000;
  uint16_t dport_ = 53;
  uint8_t tcp_flags_ = 0x02;  // SYN
  bool no_udp_checksum_ = false;
  uint16_t payload_ = 18;
  uint8_t seed_ = 0;
  std::vector<uint8_t> payload_bytes_;

  bool arp_ = false;
  uint16_t arp_hw_ = RTE_ARP_HRD_ETHER;
  uint16_t arp_op_ = RTE_ARP_OP_REQUEST;
  rte_ether_addr arp_sha_{};
  uint32_t arp_sip_ = 0;
  rte_ether_addr arp_tha_{};
  uint32_t arp_tip_ = 0;
};

// Views of a packet in an mbuf, data at the Ethernet or IPv4 header.
inline std::vector<uint8_t> contents(const rte_mbuf* m) {
  std::vector<uint8_t> out(rte_pktmbuf_pkt_len(m));
  const void* p = rte_pktmbuf_read(m, 0, static_cast<uint32_t>(out.size()), out.data());
  if (p != out.data()) std::memcpy(out.data(), p, out.size());
  return out;
}

inline const rte_ipv4_hdr* ipv4_at(const rte_mbuf* m, uint16_t offset = 0) {
  return rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, offset);
}

}  // namespace sluice::test

// Byte strings print as hex in assertion messages.
namespace Catch {
template <>
struct StringMaker<std::vector<uint8_t>> {
  static std::string convert(const std::vector<uint8_t>& v) {
    std::string s = std::to_string(v.size()) + " bytes:";
    static const char* hex = "0123456789abcdef";
    for (size_t i = 0; i < v.size(); i++) {
      s += (i % 16 == 0) ? "\n  " : " ";
      s += hex[v[i] >> 4];
      s += hex[v[i] & 0xf];
    }
    return s;
  }
};
}  // namespace Catch
