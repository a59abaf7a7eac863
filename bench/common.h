// What the microbenchmarks in bench/ share. init_eal(): DPDK on one lcore,
// in ordinary memory (no hugepages needed), no PCI devices, two net_null
// ports (0 and 1) to transmit into, and a runtime prefix of its own so a
// benchmark can run beside a live sluice. start_ports(): the pool and the
// ports. write_headers(): the Ethernet and IPv4 headers of a synthetic frame.
#pragma once

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ether.h>
#include <rte_ip.h>

#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "packet.h"
#include "port.h"

namespace sluice::benchmark {

// What the timed loops read, in TSC cycles: the TSC itself (wall time, the
// default), or the thread's CPU time scaled to TSC cycles (--clock cpu),
// which leaves out the time the thread was descheduled, so a figure taken on
// a shared machine is what the code cost and not what its neighbours took
// (they still share the caches).
enum class Clock { tsc, cpu };
inline Clock bench_clock = Clock::tsc;

inline uint64_t cycles_now() {
  if (bench_clock == Clock::tsc) return rte_rdtsc_precise();
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  const double ns = double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
  return static_cast<uint64_t>(ns * double(rte_get_tsc_hz()) / 1e9);
}

// Parses a --clock value; false if it is neither.
inline bool set_clock(const std::string& v) {
  if (v != "tsc" && v != "cpu") return false;
  bench_clock = v == "tsc" ? Clock::tsc : Clock::cpu;
  return true;
}

inline bool init_eal(const char* program, unsigned memory_mb) {
  std::vector<std::string> eal = {program,
                                  "--no-huge",
                                  "--no-shconf",
                                  "-m",
                                  std::to_string(memory_mb),
                                  "--no-pci",
                                  "-l",
                                  "0",
                                  "--file-prefix",
                                  fmt::format("sluice-bench-{}", getpid()),
                                  "--vdev",
                                  "net_null0",
                                  "--vdev",
                                  "net_null1",
                                  "--log-level=error"};
  std::vector<char*> args;
  for (auto& a : eal)
    args.push_back(a.data());
  if (rte_eal_init(static_cast<int>(args.size()), args.data()) < 0) {
    fmt::print(stderr, "{}: EAL init failed (-m {})\n", program, memory_mb);
    return false;
  }
  return true;
}

// The packet pool and net_null ports 0 and 1 started as for one worker; null
// (after saying why) when they cannot be.
inline rte_mempool* start_ports(PortInfo* in, PortInfo* out) {
  rte_mempool* pool = rte_pktmbuf_pool_create("bench", 16383, 256, kMbufPrivSize,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  PortSetup ps;
  ps.pool = pool;
  std::string error = pool == nullptr ? "cannot create the mbuf pool" : "";
  if (pool == nullptr || !port_start(0, ps, in, &error) || !port_start(1, ps, out, &error)) {
    fmt::print(stderr, "setup failed: {}\n", error);
    return nullptr;
  }
  return pool;
}

// Ethernet (to dst_mac) and IPv4 (TTL 64, checksum set) at the start of
// frame; returns where the transport header goes. Addresses host order.
inline uint8_t* write_headers(uint8_t* frame, const rte_ether_addr& dst_mac,
                              const rte_ether_addr& src_mac, uint32_t src, uint32_t dst,
                              uint8_t proto, uint16_t ip_len) {
  auto* eth = reinterpret_cast<rte_ether_hdr*>(frame);
  eth->dst_addr = dst_mac;
  eth->src_addr = src_mac;
  eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(eth + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->total_length = rte_cpu_to_be_16(ip_len);
  ip->time_to_live = 64;
  ip->next_proto_id = proto;
  ip->src_addr = rte_cpu_to_be_32(src);
  ip->dst_addr = rte_cpu_to_be_32(dst);
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  return reinterpret_cast<uint8_t*>(ip + 1);
}

}  // namespace sluice::benchmark
