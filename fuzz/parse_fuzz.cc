// Fuzz target: parse_stage (dataplane/parse.h), the first code to touch a
// frame from the wire.
//
// Each record (env.h) is one frame; its control byte picks the receiving
// interface (bit 0), a VLAN of 100 on it (bit 1), IP options allowed (bit 2),
// and whether the IPv4 checksum is fixed first (bit 3; an IPv4 header is
// looked for after 14 or 18 bytes). Frames go through in bursts of up to 32
// received on one interface. Checked for what passes: data starts at a
// version 4 header whose length fits, whose checksum verifies and whose
// total length is exactly the packet's; the metadata names the interface.
// Every frame is kept, punted or dropped under one reason, and every mbuf
// ends freed (the pool is full again).
#include <rte_ip.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "counters.h"
#include "env.h"
#include "packet.h"
#include "parse.h"
#include "sink.h"

using namespace sluice;

namespace {

void check_forwarded(const rte_mbuf* m, uint8_t in, bool options) {
  FUZZ_CHECK(rte_pktmbuf_data_len(m) >= sizeof(rte_ipv4_hdr));
  const auto* ip = rte_pktmbuf_mtod(m, const rte_ipv4_hdr*);
  FUZZ_CHECK((ip->version_ihl >> 4) == 4);
  const uint32_t ihl = rte_ipv4_hdr_len(ip);
  FUZZ_CHECK(ihl >= sizeof(rte_ipv4_hdr) && ihl <= rte_pktmbuf_data_len(m));
  FUZZ_CHECK(options || ihl == sizeof(rte_ipv4_hdr));
  FUZZ_CHECK(rte_raw_cksum(ip, ihl) == 0xffff);
  FUZZ_CHECK(rte_be_to_cpu_16(ip->total_length) == rte_pktmbuf_pkt_len(m));
  FUZZ_CHECK(meta(m).iface == in);
}

// Frames punted or dropped so far.
uint64_t accounted_for(const WorkerCounters& c) {
  uint64_t n = c.punted.read();
  for (const Counter& d : c.drops)
    n += d.read();
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Interfaces plain = fuzz::reference_interfaces();
  static const Interfaces tagged = [] {
    Interfaces i = fuzz::reference_interfaces();
    i[0].vlan = i[1].vlan = 100;
    return i;
  }();
  rte_mempool* pool = fuzz::pool();
  const unsigned before = rte_mempool_avail_count(pool);
  WorkerCounters counters;
  PacketSink sink{counters, fuzz::punt_ring()};

  fuzz::Records records({data, size});
  uint8_t control = 0;
  std::span<const uint8_t> frame;
  bool more = records.next(&control, &frame);
  while (more) {
    const uint8_t burst_control = control;
    rte_mbuf* pkts[kBurst];
    uint16_t n = 0;
    // A burst: this record and the next ones with the same interface and VLAN bits.
    do {
      std::vector<uint8_t> bytes(frame.begin(), frame.end());
      if (control & 8) {
        const size_t l2 = (control & 2) ? 18 : 14;
        if (bytes.size() > l2) fuzz::fix_checksums(bytes.data() + l2, bytes.size() - l2);
      }
      pkts[n++] = fuzz::mbuf_of(bytes);
      more = records.next(&control, &frame);
    } while (more && n < kBurst && ((control ^ burst_control) & 7) == 0);

    const uint8_t in = burst_control & 1;
    const bool options = (burst_control & 4) != 0;
    const ParseConfig cfg{options};
    const uint16_t rx_port = in == 0 ? fuzz::kInsidePort : fuzz::kOutsidePort;
    const uint64_t accounted = accounted_for(counters);
    const uint16_t kept =
        parse_stage((burst_control & 2) ? tagged : plain, cfg, in, rx_port, pkts, n, sink);
    // Each frame is kept, punted or dropped under exactly one reason.
    FUZZ_CHECK(kept + accounted_for(counters) - accounted == n);
    for (uint16_t i = 0; i < kept; i++) {
      check_forwarded(pkts[i], in, options);
      rte_pktmbuf_free(pkts[i]);
    }
    fuzz::drain_punts();
  }
  FUZZ_CHECK(rte_mempool_avail_count(pool) == before);
  return 0;
}
