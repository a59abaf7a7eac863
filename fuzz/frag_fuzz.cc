// Fuzz target: the FragTracker (dataplane/frag_track.h) on a small table (16
// datagrams, 16 held fragments), so its bounds are reached.
//
// Records (env.h) describe fragments rather than carry raw headers, so most
// inputs are fragments of a few datagrams that collide: bytes
//   [source 10.16.1.(b & 7)][IP id (b & 7)][protocol: TCP, UDP, ICMP, GRE]
//   [offset, low 8 bits][bit 0: MF, bits 1-5: offset, high bits][payload...]
// to 198.51.100.7. Control byte: bits 0-2 move the clock k * 500 ms (the
// timeout is 2 s) and expire; bit 3 ends the burst and takes what is ready.
// Checked: every fragment is passed, held or dropped under a reason (none
// lost or counted twice); a later fragment that comes out carries the ports
// of a first fragment of its datagram; destroying the tracker frees
// everything it held.
#include <netinet/in.h>
#include <rte_ip.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "counters.h"
#include "env.h"
#include "frag_track.h"
#include "packet.h"
#include "sink.h"

using namespace sluice;

namespace {

constexpr uint8_t kProtos[] = {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_GRE};

using Key = std::tuple<uint8_t, uint8_t, uint8_t>;  // source, id, protocol
using Ports = std::pair<uint16_t, uint16_t>;

uint64_t accounted(const WorkerCounters& c, const FragTracker& f) {
  uint64_t n = f.held() + f.ready();
  for (const Counter& d : c.drops)
    n += d.read();
  return n;
}

struct Model {
  // The ports of each datagram's first fragments: a held fragment is
  // annotated when it is released, so a first fragment repeated since (with
  // other ports) does not change it.
  std::map<Key, std::set<Ports>> first;
  std::map<const rte_mbuf*, Key> keys;

  void check(rte_mbuf** pkts, uint16_t n) {
    for (uint16_t i = 0; i < n; i++) {
      const PacketMeta& pm = meta(pkts[i]);
      if (!(pm.flags & kMetaFragTail)) continue;
      const auto it = first.find(keys.at(pkts[i]));
      FUZZ_CHECK(it != first.end());
      FUZZ_CHECK(it->second.count(Ports(pm.l4_src, pm.l4_dst)) == 1);
    }
  }
};

// The ports NAT needs from a first fragment's payload (frag_track.h).
Ports ports_of(uint8_t proto, std::span<const uint8_t> p) {
  auto be16 = [&](size_t at) { return static_cast<uint16_t>(p[at] << 8 | p[at + 1]); };
  if ((proto == IPPROTO_TCP || proto == IPPROTO_UDP) && p.size() >= 4) return {be16(0), be16(2)};
  if (proto == IPPROTO_ICMP && p.size() >= 6 &&
      (p[0] == 0 || p[0] == 8 || p[0] == 13 || p[0] == 14)) {
    return {be16(4), be16(4)};
  }
  return {0, 0};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  rte_mempool* pool = fuzz::pool();
  const unsigned before = rte_mempool_avail_count(pool);
  {
    WorkerCounters counters;
    PacketSink sink{counters, fuzz::punt_ring()};
    FragTracker frag(FragConfig{16, 16, 2000, 3}, sink);
    Model model;
    uint64_t now = 1'000'000;
    rte_mbuf* pkts[kBurst];
    uint16_t n = 0;
    auto flush = [&] {
      const uint64_t was = accounted(counters, frag);
      const uint16_t kept = frag.process(pkts, n, now);
      FUZZ_CHECK(kept + accounted(counters, frag) - was == n);
      model.check(pkts, kept);
      for (uint16_t i = 0; i < kept; i++)
        rte_pktmbuf_free(pkts[i]);
      n = 0;
    };

    fuzz::Records records({data, size});
    uint8_t control = 0;
    std::span<const uint8_t> r;
    while (records.next(&control, &r)) {
      if (r.size() < 5) continue;
      const uint8_t proto = kProtos[r[2] & 3];
      const Key key{r[0] & 7, r[1] & 7, proto};
      const uint16_t frag_field = static_cast<uint16_t>((r[4] & 0x3e) << 7 | r[3]) |
                                  ((r[4] & 1) ? RTE_IPV4_HDR_MF_FLAG : 0);
      const std::span<const uint8_t> payload = r.subspan(5);
      const size_t total = 20 + payload.size();
      std::vector<uint8_t> ip = {0x45,
                                 0,
                                 static_cast<uint8_t>(total >> 8),
                                 static_cast<uint8_t>(total),
                                 0,
                                 std::get<1>(key),
                                 static_cast<uint8_t>(frag_field >> 8),
                                 static_cast<uint8_t>(frag_field),
                                 64,
                                 proto,
                                 0,
                                 0,
                                 10,
                                 16,
                                 1,
                                 std::get<0>(key),
                                 198,
                                 51,
                                 100,
                                 7};
      ip.insert(ip.end(), payload.begin(), payload.end());
      fuzz::fix_checksums(ip.data(), ip.size());
      rte_mbuf* m = fuzz::mbuf_of(ip);
      meta(m) = PacketMeta{};
      model.keys[m] = key;
      // A first fragment's ports apply once it is processed, in arrival order.
      if ((frag_field & RTE_IPV4_HDR_OFFSET_MASK) == 0 && (frag_field & RTE_IPV4_HDR_MF_FLAG)) {
        flush();
        model.first[key].insert(ports_of(proto, payload));
      }
      pkts[n++] = m;
      if (n == kBurst || (control & 8)) {
        flush();
        const uint16_t ready = frag.take_ready(pkts, kBurst);
        model.check(pkts, ready);
        for (uint16_t i = 0; i < ready; i++)
          rte_pktmbuf_free(pkts[i]);
      }
      if (const unsigned k = control & 7; k != 0) {
        flush();
        now += 500 * k;
        frag.expire(now, 64);
      }
    }
    flush();
  }
  FUZZ_CHECK(rte_mempool_avail_count(pool) == before);
  return 0;
}
