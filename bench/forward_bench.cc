// Microbenchmark of the forward pipeline on synthetic packets, no I/O.
//
// Each trial takes bursts of 32 prebuilt 64-byte UDP frames (from many inside
// clients to many outside destinations), copies them into fresh mbufs and
//  - baseline ("io"): transmits them straight to a net_null port, the way
//    testpmd's io mode moves packets without looking at them;
//  - forward: runs the whole forward pipeline (parse, anti-spoof, TTL, route,
//    neighbour, L2 rewrite, TX buffer) into the same net_null port.
// Both are timed with the TSC in the same run; the report gives the median
// of the trials (with min and max) in cycles per packet and the ratio.
//
// Usage: forward_bench [--packets N] [--trials T] [--json FILE]
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common.h"
#include "forward.h"
#include "port.h"
#include "tables.h"
#include "worker.h"

using namespace sluice;

namespace {

constexpr uint32_t kFrames = 4096;  // distinct frames cycled through
constexpr uint16_t kFrameLen = 60;  // 64 B on the wire with the FCS

struct Frame {
  uint8_t bytes[kFrameLen];
};

std::vector<Frame> make_frames(const rte_ether_addr& dst_mac) {
  std::mt19937 rng(42);
  std::vector<Frame> frames(kFrames);
  for (Frame& f : frames) {
    std::memset(f.bytes, 0, sizeof(f.bytes));
    const uint32_t src = 0x0a100000 | (rng() & 0xffff);      // 10.16.0.0/16 clients
    const uint32_t dst = 0x08000000 | (rng() & 0x00ffffff);  // 8.0.0.0/8
    auto* udp = reinterpret_cast<rte_udp_hdr*>(
        benchmark::write_headers(f.bytes, dst_mac, rte_ether_addr{{0x02, 0, 0, 0, 0x01, 0x02}}, src,
                                 dst, IPPROTO_UDP, kFrameLen - sizeof(rte_ether_hdr)));
    udp->src_port = rte_cpu_to_be_16(1024 + (rng() & 0x7fff));
    udp->dst_port = rte_cpu_to_be_16(443);
    udp->dgram_len = rte_cpu_to_be_16(kFrameLen - sizeof(rte_ether_hdr) - sizeof(rte_ipv4_hdr));
  }
  return frames;
}

bool fill(rte_mempool* pool, const std::vector<Frame>& frames, uint32_t& next, rte_mbuf** pkts) {
  if (rte_pktmbuf_alloc_bulk(pool, pkts, kBurst) != 0) return false;
  for (uint16_t i = 0; i < kBurst; i++) {
    std::memcpy(rte_pktmbuf_append(pkts[i], kFrameLen), frames[next].bytes, kFrameLen);
    next = (next + 1) % kFrames;
  }
  return true;
}

struct Stats {
  double median, min, max;
};

Stats summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

// Everything DPDK-allocated lives in here, so it is gone before rte_eal_cleanup.
int bench(uint64_t packets, int trials, const std::string& json) {
  PortInfo in_port, out_port;
  rte_mempool* pool = benchmark::start_ports(&in_port, &out_port);
  if (pool == nullptr) return 1;

  std::string error;
  Tables t;
  t.routes = std::make_unique<RouteTable>();
  t.clients = std::make_unique<PrefixSet>("bench_clients");
  const uint32_t addrs[2] = {0x0a100001, 0xc0000201};  // 10.16.0.1/16, 192.0.2.1/24
  const uint8_t lens[2] = {16, 24};
  for (uint8_t i = 0; i < 2; i++) {
    Interface& ifc = t.ifaces[i];
    ifc.assign(static_cast<Side>(i), addrs[i], lens[i]);
    ifc.mac = i == 0 ? in_port.mac : out_port.mac;
    ifc.members.push_back(i);
    ifc.lag.publish({i});
    t.routes->add(ifc.network, ifc.prefix_len, next_hop::connected(i), &error);
  }
  t.ifaces[1].neighbours.set_mac(2, rte_ether_addr{{0x02, 0, 0, 0, 0x02, 0x02}});  // 192.0.2.2
  t.routes->add(0, 0, next_hop::via(1, 2), &error);
  t.clients->insert(0x0a100000, 12, &error);

  rte_ring* punt = rte_ring_create("bench_punt", 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
  WorkerContext w(0, punt);
  w.tx.add_port(0);
  w.tx.add_port(1);
  auto pipeline = make_forward_pipeline(t, w);
  const auto frames = make_frames(t.ifaces[0].mac);

  rte_mbuf* pkts[kBurst];
  uint32_t next = 0;
  const uint64_t bursts = packets / kBurst;
  std::vector<double> io, fwd;
  for (int trial = 0; trial < trials; trial++) {
    uint64_t start = rte_rdtsc_precise();
    for (uint64_t b = 0; b < bursts; b++) {
      if (!fill(pool, frames, next, pkts)) return 1;
      const uint16_t sent = rte_eth_tx_burst(1, 0, pkts, kBurst);
      rte_pktmbuf_free_bulk(pkts + sent, kBurst - sent);
    }
    io.push_back(double(rte_rdtsc_precise() - start) / (bursts * kBurst));

    const uint64_t forwarded_before = w.counters.forwarded();
    start = rte_rdtsc_precise();
    for (uint64_t b = 0; b < bursts; b++) {
      if (!fill(pool, frames, next, pkts)) return 1;
      pipeline->process(0, 0, pkts, kBurst, start);
      w.tx.flush();
    }
    fwd.push_back(double(rte_rdtsc_precise() - start) / (bursts * kBurst));
    if (w.counters.forwarded() - forwarded_before != bursts * kBurst) {
      std::fprintf(stderr, "forward pipeline did not forward every packet\n");
      return 1;
    }
  }
  const Stats a = summarize(io), b = summarize(fwd);
  const double hz = rte_get_tsc_hz() / 1e9;
  fmt::print(
      "forward pipeline microbenchmark: {} packets x {} trials, 64 B UDP, TSC {:.2f} GHz\n\n",
      bursts * kBurst, trials, hz);
  fmt::print("| path | cycles/packet (median) | min | max | vs io |\n|---|---|---|---|---|\n");
  fmt::print("| io (alloc, copy, TX to net_null) | {:.1f} | {:.1f} | {:.1f} | 1.00 |\n", a.median,
             a.min, a.max);
  fmt::print("| forward pipeline (same + parse .. TX) | {:.1f} | {:.1f} | {:.1f} | {:.2f} |\n",
             b.median, b.min, b.max, b.median / a.median);
  fmt::print("\nadded by the pipeline: {:.1f} cycles/packet\n", b.median - a.median);
  if (!json.empty()) {
    if (FILE* f = std::fopen(json.c_str(), "w")) {
      fmt::print(f,
                 "{{\"packets\": {}, \"trials\": {}, \"io_cycles\": {:.2f}, "
                 "\"forward_cycles\": {:.2f}, \"added_cycles\": {:.2f}}}\n",
                 bursts * kBurst, trials, a.median, b.median, b.median - a.median);
      std::fclose(f);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t packets = 4'000'000;
  int trials = 5;
  std::string json;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--packets") packets = std::stoull(argv[i + 1]);
    if (k == "--trials") trials = std::stoi(argv[i + 1]);
    if (k == "--json") json = argv[i + 1];
  }
  if (!benchmark::init_eal("forward_bench", 1024)) return 1;
  const int rc = bench(packets, trials, json);
  rte_eal_cleanup();
  return rc;
}
