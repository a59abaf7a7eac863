// Fuzz target: NAT44 (dataplane/nat44.h over a NatTable, nat_headers.h),
// with the stages in front of it as a worker runs them: parse_stage, then
// the FragTracker, then in2out (hairpins on to out2in) or out2in.
//
// The first input byte configures the rig: endpoint-independent filtering
// (bit 0), ICMP errors for refused sessions (bit 1). Then records (env.h);
// a control byte says
//   bits 0-1  0: the frame arrives on the inside; 1: on the outside;
//             2: the last packet in2out sent comes back from its remote, with
//                addresses (and TCP/UDP ports) swapped, the record's bytes XORed
//                over its first bytes from the transport header on;
//             3: an ICMP error from the outside quoting the last packet
//                in2out sent (type, code and quote length from the record);
//   bit 2     fix the checksums (IPv4 header, transport, quoted header);
//   bits 3-5  k: the clock moves 4^k seconds before the burst (k > 0), and
//             the table and tracker expire what is due;
// Consecutive records of kinds 0 and 1 arriving on the same side share a burst.
// Checked: what NAT passes has a valid IPv4 header checksum, and a packet
// whose transport (or ICMP) checksum verified before NAT verifies after it;
// every mbuf is freed in the end.
#include <netinet/in.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "counters.h"
#include "env.h"
#include "frag_track.h"
#include "nat44.h"
#include "nat_table.h"
#include "parse.h"
#include "sink.h"
#include "token_bucket.h"

using namespace sluice;

namespace {

using Bytes = std::vector<uint8_t>;

bool folds_to_ffff(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return sum == 0xffff;
}

// True when the packet is whole (not a fragment), TCP, UDP or ICMP, and its
// transport checksum verifies.
bool l4_checksum_ok(const rte_mbuf* m) {
  const auto* ip = rte_pktmbuf_mtod(m, const uint8_t*);
  const size_t len = rte_pktmbuf_data_len(m);
  const size_t ihl = (ip[0] & 0xfu) * 4;
  if (((ip[6] & 0x3f) | ip[7]) != 0 || len <= ihl) return false;
  const uint8_t* l4 = ip + ihl;
  const size_t l4_len = len - ihl;
  switch (ip[9]) {
    case IPPROTO_ICMP:
      return l4_len >= 8 && folds_to_ffff(fuzz::sum16(l4, l4_len));
    case IPPROTO_UDP:
      if (l4_len < 8) return false;
      if (l4[6] == 0 && l4[7] == 0) return true;
      [[fallthrough]];
    case IPPROTO_TCP:
      if (ip[9] == IPPROTO_TCP && l4_len < 20) return false;
      return folds_to_ffff(fuzz::sum16(ip + 12, 8) + ip[9] + static_cast<uint32_t>(l4_len) +
                           fuzz::sum16(l4, l4_len));
    default:
      return false;
  }
}

Bytes eth(const Interface& to, Bytes ip) {
  Bytes f = {to.mac.addr_bytes[0],
             to.mac.addr_bytes[1],
             to.mac.addr_bytes[2],
             to.mac.addr_bytes[3],
             to.mac.addr_bytes[4],
             to.mac.addr_bytes[5],
             0x02,
             0,
             0,
             0,
             0xee,
             0x01,
             0x08,
             0x00};
  f.insert(f.end(), ip.begin(), ip.end());
  return f;
}

// The last packet in2out sent, coming back from its remote.
Bytes reflection(const Bytes& sent, std::span<const uint8_t> mutation) {
  Bytes ip = sent;
  if (ip.size() < 20) return ip;
  std::swap_ranges(ip.begin() + 12, ip.begin() + 16, ip.begin() + 16);
  const size_t ihl = (ip[0] & 0xfu) * 4;
  const bool ports = ip[9] == IPPROTO_TCP || ip[9] == IPPROTO_UDP;
  if (ports && ip.size() >= ihl + 4) {
    std::swap_ranges(ip.begin() + ihl, ip.begin() + ihl + 2, ip.begin() + ihl + 2);
  }
  for (size_t i = 0; i < mutation.size() && ihl + i < ip.size(); i++)
    ip[ihl + i] ^= mutation[i];
  return ip;
}

// An ICMP error from a router on the outside about the last packet sent.
Bytes icmp_error(const Bytes& sent, std::span<const uint8_t> params) {
  static constexpr uint8_t kTypes[] = {3, 11, 12, 5};
  const uint8_t type = params.size() > 0 ? kTypes[params[0] & 3] : 3;
  const uint8_t code = params.size() > 1 ? params[1] : 3;
  const size_t quote = std::min<size_t>(sent.size(), params.size() > 2 ? params[2] : 28);
  Bytes ip = {0x45, 0, 0, 0, 0, 1, 0, 0, 64, IPPROTO_ICMP, 0, 0, 192, 0, 2, 99, 0, 0, 0, 0};
  if (sent.size() >= 16) std::copy(sent.begin() + 12, sent.begin() + 16, ip.begin() + 16);
  const size_t total = 20 + 8 + quote;
  ip[2] = static_cast<uint8_t>(total >> 8);
  ip[3] = static_cast<uint8_t>(total);
  const Bytes icmp = {type, code, 0, 0, 0, 0, 0x05, 0xdc};
  ip.insert(ip.end(), icmp.begin(), icmp.end());
  ip.insert(ip.end(), sent.begin(), sent.begin() + static_cast<ptrdiff_t>(quote));
  return ip;
}

struct Rig {
  explicit Rig(uint8_t config)
      : ifaces(fuzz::reference_interfaces()),
        sink{counters, fuzz::punt_ring()},
        frag(FragConfig{64, 32, 2000, 11}, sink),
        table(params(config), 0, 1, now),
        nat(table, options(config), 0, 1, sink, icmp_limit) {
    FUZZ_CHECK(table.ok());
  }

  static NatParams params(uint8_t config) {
    NatParams p;
    for (uint8_t i = 1; i <= 4; i++)
      p.pool.addresses.push_back(RTE_IPV4(198, 51, 100, i));
    p.pool.port_min = 1024;
    p.pool.block_size = 64;
    p.pool.hold_down_ms = 120'000;
    p.sessions = 256;
    p.clients = 32;
    p.max_blocks = 4;
    p.max_sessions = 8;  // per client: refusals within reach
    p.endpoint_independent_filtering = (config & 1) != 0;
    p.udp_timeout_ms = 30'000;
    p.tcp_established_timeout_ms = 600'000;
    p.tcp_transitory_timeout_ms = 60'000;
    p.icmp_timeout_ms = 20'000;
    p.seed = 7;
    return p;
  }
  static Nat44Options options(uint8_t config) {
    Nat44Options o;
    o.exhausted_icmp = (config & 2) != 0;
    o.inside_address = RTE_IPV4(10, 16, 1, 1);
    o.hz = 1000;
    return o;
  }

  // One burst of frames arriving on side in, through every stage.
  void burst(uint8_t in, rte_mbuf** pkts, uint16_t n) {
    n = parse_stage(ifaces, ParseConfig{}, in, in == 0 ? fuzz::kInsidePort : fuzz::kOutsidePort,
                    pkts, n, sink);
    n = frag.process(pkts, n, now);
    n += frag.take_ready(pkts + n, kBurst - n);
    std::map<const rte_mbuf*, bool> verified;
    for (uint16_t i = 0; i < n; i++)
      verified[pkts[i]] = l4_checksum_ok(pkts[i]);
    if (in == 0) {
      rte_mbuf* hairpin[kBurst];
      uint16_t hairpins = 0;
      n = nat.in2out(pkts, n, now, hairpin, &hairpins);
      for (uint16_t i = 0; i < hairpins; i++)
        verified[hairpin[i]] = verified[hairpin[i]] && l4_checksum_ok(hairpin[i]);
      finish(hairpin, nat.out2in(hairpin, hairpins, now), verified, false);
    } else {
      n = nat.out2in(pkts, n, now);
    }
    finish(pkts, n, verified, in == 0);
  }

  void finish(rte_mbuf** pkts, uint16_t n, const std::map<const rte_mbuf*, bool>& verified,
              bool keep_last) {
    for (uint16_t i = 0; i < n; i++) {
      rte_mbuf* m = pkts[i];
      const auto* ip = rte_pktmbuf_mtod(m, const rte_ipv4_hdr*);
      FUZZ_CHECK(rte_raw_cksum(ip, rte_ipv4_hdr_len(ip)) == 0xffff);
      const auto it = verified.find(m);
      FUZZ_CHECK(it != verified.end());
      if (it->second) FUZZ_CHECK(l4_checksum_ok(m));
      if (keep_last) {
        const auto* d = rte_pktmbuf_mtod(m, const uint8_t*);
        last_sent.assign(d, d + rte_pktmbuf_data_len(m));
      }
      rte_pktmbuf_free(m);
    }
    fuzz::drain_punts();
  }

  void advance(uint64_t ms) {
    now += ms;
    table.expire(now, 1024);
    frag.expire(now, 1024);
  }

  Interfaces ifaces;
  WorkerCounters counters;
  PacketSink sink;
  TokenBucket icmp_limit{1000, 100, 1000};
  uint64_t now = 10'000'000;  // ms
  FragTracker frag;
  NatTable table;
  Nat44 nat;
  Bytes last_sent;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rte_mempool* pool = fuzz::pool();
  const unsigned before = rte_mempool_avail_count(pool);
  if (size == 0) return 0;
  {
    Rig rig(data[0]);
    fuzz::Records records({data + 1, size - 1});
    uint8_t control = 0;
    std::span<const uint8_t> record;
    bool more = records.next(&control, &record);
    while (more) {
      if (const unsigned k = (control >> 3) & 7; k != 0) rig.advance(1000ull << (2 * k));
      const uint8_t kind = control & 3;
      const uint8_t in = kind == 0 ? 0 : 1;
      rte_mbuf* pkts[kBurst];
      uint16_t n = 0;
      uint8_t next = control;
      do {
        Bytes ip;
        if (kind == 2) ip = reflection(rig.last_sent, record);
        if (kind == 3) ip = icmp_error(rig.last_sent, record);
        Bytes frame = kind <= 1 ? Bytes(record.begin(), record.end()) : eth(rig.ifaces[1], ip);
        if ((next & 4) && frame.size() > 14)
          fuzz::fix_checksums(frame.data() + 14, frame.size() - 14);
        pkts[n++] = fuzz::mbuf_of(frame);
        more = records.next(&next, &record);
      } while (more && kind <= 1 && n < kBurst && next == control);
      rig.burst(in, pkts, n);
      control = next;
    }
  }
  FUZZ_CHECK(rte_mempool_avail_count(pool) == before);
  return 0;
}
