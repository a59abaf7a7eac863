// Microbenchmark of the cgnat pipeline (parse, fragment tracking, anti-spoof,
// steer, NAT44, IPv4 forward, TX buffer) on synthetic packets, one worker, no
// I/O but a net_null port, at several session-table sizes.
//
// Per size N (sessions; default 64,512, 1,032,192 and 4,128,768, i.e. 1, 16
// and 64 public addresses' worth of ports), in `rounds` rounds on one table:
//  1. new sessions: N first packets (TCP SYN and UDP, half each, in random
//     order, from N / per-client clients) through the pipeline from the
//     inside; cycles per new session. Then one SYN-ACK from the outside per
//     TCP session (untimed) so those sessions are established.
//  2. established path: `trials` trials of bursts of 32 64-byte frames (TCP
//     ACK or UDP, as the session is) hitting existing sessions, in2out and
//     out2in, with the session of each packet drawn uniformly from all N or
//     skewed (90% of packets to a hot 10% of the sessions). Each trial times,
//     on the same frames in the same run:
//       io       alloc + copy + TX straight to net_null (testpmd io mode);
//       forward  the forward pipeline (routing only, no NAT);
//       cgnat    the cgnat pipeline, process() + poll() + TX flush per burst,
//                as the worker loop runs it;
//       policed  the same pipeline on the same table with per-client
//                policing (policer.h) on, every client in one profile whose
//                rate no packet exceeds, so the meter and counters run for
//                every packet and the traffic is the same as cgnat's.
//  3. expiry: the clock jumps past the longest timeout (TCP established) and
//     NatTable::expire runs with the pipeline's per-millisecond budget until
//     the table is empty; cycles per expired session. Then past the port-block
//     hold-down until every block and client is released (cycles per block).
// Frames are built before each timed loop in a buffer streamed once, so the
// generator's own table reads stay out of the timings; every timed loop
// (io included) copies its frames from that buffer into fresh mbufs.
//
// Alongside, "lookup" times NatTable::lookup alone on the same sessions' keys
// (no packets; the index confirms a key against its session record, so that
// line is read too), and "+ record" adds the record access of the hit path
// (last_ms written): the session table's share of the established path.
//
// The public pool is sized so the sessions fill it: N / per-client clients,
// each with per-client / block-size port blocks, 504 blocks of 128 ports per
// address (so 1, 16 and 64 addresses by default, every port in use), one
// mapping per session. Clients are 10.16.0.0/12 behind an inside router,
// remotes 8.0.0.0/8 port 443.
//
// Memory: rte_malloc heap bytes (session index, rte_hash tables) and malloc
// bytes (records, free lists, timer wheel, port blocks) taken by the
// NatTable, measured around its construction; bytes per session is their sum
// over its capacity (N, or capacity x N). The DPDK heap is ordinary memory under --no-huge
// here; it is faulted in before the first packet, as hugepages would be.
//
// Clock: the pipeline gets the TSC (Nat44Options::hz = TSC rate) plus an
// injected offset, so expiry is reached without waiting.
//
// Reader cost (--reader-cost yes; bench/run reader-cost): after the
// established path of round 1, `trials` x 3 timings of the in2out uniform
// traffic (`reader-passes` passes over its frames each), in turn: no reader;
// a reader every 100 ms; a reader every 1 ms (100 times what `sluicectl top`
// asks, to show the mechanism's own cost). The reader is a thread on another
// CPU (as DPDK's telemetry thread is) that does what one top refresh makes
// sluice do (control/telemetry.cc): every worker counter summed (stats,
// drops, worker), both ports' stats, the NAT counters and gauges, and the
// pool's use through the worker's mailbox, which the timed loop serves once
// per burst as the worker loop does (in every condition).
//
// Usage: nat_bench [--sessions N[,N...]] [--trials T] [--rounds R]
//                  [--packets P] [--per-client C] [--block-size B]
//                  [--capacity X] [--memory-mb M] [--pages 4k|thp]
//                  [--reader-cost yes] [--reader-passes K] [--json FILE]
//                  [--clock tsc|cpu]
// --clock cpu: cycles while the thread ran (its CPU time at the TSC rate)
// rather than the TSC, for figures on a shared machine (bench/common.h).
// --capacity X: a table of X times the sessions made (hash load 1/X).
// --pages thp asks for transparent huge pages: madvise on the DPDK heap and
// glibc.malloc.hugetlb=1 for malloc'd memory. Where the kernel gives none to
// shared memory (shmem_enabled = never), which is what backs the DPDK heap
// under --no-huge, only the malloc'd part gets them; the report says how
// much memory was on huge pages.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <fmt/format.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "cgnat.h"
#include "common.h"
#include "forward.h"
#include "handoff.h"
#include "nat_table.h"
#include "port.h"
#include "tables.h"
#include "worker.h"

using namespace sluice;

namespace {

constexpr uint16_t kFrameLen = 60;  // 64 B on the wire with the FCS
constexpr auto kIn = static_cast<uint8_t>(Side::inside);
constexpr auto kOut = static_cast<uint8_t>(Side::outside);
constexpr uint16_t kInPort = 0;   // net_null0, the inside member
constexpr uint16_t kOutPort = 1;  // net_null1, the outside member

constexpr uint32_t kClientBase = 0x0a100000;   // 10.16.0.0/12, behind the inside router
constexpr uint32_t kPoolBase = 0xc6120000;     // 198.18.0.0/15, the public pool
constexpr uint32_t kRemoteBase = 0x08000000;   // 8.0.0.0/8, remote servers
constexpr uint32_t kInsideAddr = 0xc0a80001;   // 192.168.0.1/30, router .2
constexpr uint32_t kOutsideAddr = 0xc0000201;  // 192.0.2.1/24, router .2
constexpr uint8_t kTcpAck = RTE_TCP_ACK_FLAG;

struct alignas(64) Frame {
  uint8_t bytes[64];
};

// One session as the generator knows it.
struct Flow {
  uint32_t inside_ip, remote_ip, public_ip;
  uint16_t inside_port, remote_port, public_port;
  uint8_t proto;
};

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void build(Frame& f, const rte_ether_addr& dst_mac, uint32_t src, uint32_t dst, uint16_t sport,
           uint16_t dport, uint8_t proto, uint8_t tcp_flags) {
  std::memset(f.bytes, 0, sizeof(f.bytes));
  const uint16_t l4 = proto == IPPROTO_TCP ? sizeof(rte_tcp_hdr) : sizeof(rte_udp_hdr) + 18;
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(f.bytes + sizeof(rte_ether_hdr));
  uint8_t* const l4_hdr =
      benchmark::write_headers(f.bytes, dst_mac, rte_ether_addr{{0x02, 0, 0, 0, 0x09, 0x02}}, src,
                               dst, proto, sizeof(rte_ipv4_hdr) + l4);
  if (proto == IPPROTO_TCP) {
    auto* tcp = reinterpret_cast<rte_tcp_hdr*>(l4_hdr);
    tcp->src_port = rte_cpu_to_be_16(sport);
    tcp->dst_port = rte_cpu_to_be_16(dport);
    tcp->sent_seq = rte_cpu_to_be_32(1);
    tcp->recv_ack = rte_cpu_to_be_32(tcp_flags & kTcpAck ? 1 : 0);
    tcp->data_off = 5 << 4;
    tcp->tcp_flags = tcp_flags;
    tcp->rx_win = rte_cpu_to_be_16(65535);
    tcp->cksum = rte_ipv4_udptcp_cksum(ip, tcp);
  } else {
    auto* udp = reinterpret_cast<rte_udp_hdr*>(l4_hdr);
    udp->src_port = rte_cpu_to_be_16(sport);
    udp->dst_port = rte_cpu_to_be_16(dport);
    udp->dgram_len = rte_cpu_to_be_16(l4);
    udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
  }
}

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats summarize(std::vector<double> v) {
  if (v.empty()) return {};
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return {v.size() % 2 ? v[h] : (v[h - 1] + v[h]) / 2, v.front(), v.back()};
}

std::string show(const Stats& s) {
  return fmt::format("{:.0f} ({:.0f}-{:.0f})", s.median, s.min, s.max);
}

std::string json(const Stats& s) {
  return fmt::format("{{\"median\": {:.2f}, \"min\": {:.2f}, \"max\": {:.2f}}}", s.median, s.min,
                     s.max);
}

// Bytes in use by malloc (the std::vector parts) and by the DPDK heap.
size_t malloc_bytes() {
  const struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

size_t rte_heap_bytes() {
  rte_malloc_socket_stats s{};
  rte_malloc_get_socket_stats(static_cast<int>(rte_socket_id()), &s);
  return s.heap_allocsz_bytes;
}

// Transparent huge pages backing this process (anonymous and shmem).
uint64_t huge_kb() {
  std::ifstream f("/proc/self/smaps_rollup");
  uint64_t total = 0;
  for (std::string line; std::getline(f, line);) {
    std::istringstream words(line);
    std::string key;
    uint64_t kb = 0;
    words >> key >> kb;
    if (key == "AnonHugePages:" || key == "ShmemPmdMapped:") total += kb;
  }
  return total;
}

std::string loadavg() {
  std::ifstream f("/proc/loadavg");
  std::string one;
  f >> one;
  return one;
}

struct Options {
  std::vector<uint32_t> sessions = {64'512, 1'032'192, 4'128'768};
  int trials = 3;
  int rounds = 3;
  uint32_t packets = 1u << 20;  // per trial and variant
  uint32_t per_client = 128;
  uint32_t block_size = 128;
  uint32_t memory_mb = 0;  // 0: sized from the largest table
  double capacity = 1.0;   // table capacity / sessions made (hash load)
  bool thp = false;
  std::string json;
  std::string load_before;
  bool reader_cost = false;
  int reader_passes = 4;
};

// The reader-cost conditions: no reader, then readers at these intervals.
constexpr std::chrono::microseconds kReaderIntervals[] = {
    std::chrono::microseconds(0), std::chrono::milliseconds(100), std::chrono::milliseconds(1)};
constexpr const char* kReaderNames[] = {"none", "every 100 ms", "every 1 ms"};

// The established-path variants: direction x distribution.
struct Variant {
  bool out2in;
  bool skewed;
  const char* name() const {
    return out2in ? (skewed ? "out2in skewed" : "out2in uniform")
                  : (skewed ? "in2out skewed" : "in2out uniform");
  }
};
constexpr Variant kVariants[] = {{false, false}, {false, true}, {true, false}, {true, true}};

struct VariantResult {
  std::vector<double> io, forward, cgnat, policed;
  std::vector<double> lookup, record;  // NatTable::lookup alone, and with the session record
};

struct SizeResult {
  uint32_t sessions = 0, capacity = 0, clients = 0, addresses = 0;
  size_t rte_bytes = 0, heap_bytes = 0;
  std::vector<double> create, create_io, expire, release;
  double expiry_visits = 0;  // wheel entries fired per expired session
  uint64_t huge_kb = 0;      // memory on transparent huge pages, sessions all made
  VariantResult variants[4];
  std::vector<double> reader[3];  // cycles per packet, by kReaderIntervals
  uint64_t reader_reads[3] = {};
  std::string error;
};

// What one `sluicectl top` refresh makes sluice read; returns a sum so the
// reads are not optimised away.
uint64_t read_like_top(WorkerContext& w, const NatTable& table) {
  uint64_t sum = 0;
  for (int command = 0; command < 3; command++) {  // stats, drops, worker,0
    WorkerTotals t;
    t += w.counters;
    sum += t.rx_packets + t.dropped;
  }
  for (uint16_t port = 0; port < 2; port++) {
    rte_eth_stats st{};
    rte_eth_stats_get(port, &st);
    sum += st.opackets;
  }
  NatTotals n;
  n += table;
  const NatGauges& g = table.gauges();
  sum += n.sessions + g.tcp.read() + g.udp.read() + g.icmp.read();
  for (const Gauge& s : g.tcp_states)
    sum += s.read();
  InspectRequest q;
  q.what = InspectWhat::pool;
  InspectReply r;
  for (bool more = true; more; q.cursor = r.cursor) {
    if (!w.mailbox.ask(q, &r, std::chrono::milliseconds(1000))) break;
    sum += r.rows;
    more = !r.done;
  }
  return sum;
}

// A reader thread on a CPU other than the caller's, reading every
// `interval` until destroyed.
class Reader {
 public:
  Reader(WorkerContext& w, const NatTable& table, std::chrono::microseconds interval)
      : thread_([this, &w, &table, interval] {
          const unsigned cpus = std::thread::hardware_concurrency();
          if (cpus > 1) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET((cpu_ + 1) % cpus, &set);
            pthread_setaffinity_np(pthread_self(), sizeof set, &set);
          }
          while (!stop_.load(std::memory_order_relaxed)) {
            sink_ += read_like_top(w, table);
            reads_++;
            std::this_thread::sleep_for(interval);
          }
        }) {}
  ~Reader() {
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }
  uint64_t reads() const { return reads_; }

 private:
  const unsigned cpu_ = static_cast<unsigned>(sched_getcpu());
  std::atomic<bool> stop_{false};
  uint64_t sink_ = 0;
  std::atomic<uint64_t> reads_{0};
  std::thread thread_;
};

class Bench {
 public:
  Bench(const Options& o, rte_mempool* pool, const PortInfo& in, const PortInfo& out)
      : o_(o), pool_(pool), in_mac_(in.mac), out_mac_(out.mac) {
    std::string error;
    t_.routes = std::make_unique<RouteTable>();
    t_.clients = std::make_unique<PrefixSet>("bench_clients");
    const uint32_t addrs[2] = {kInsideAddr, kOutsideAddr};
    const uint8_t lens[2] = {30, 24};
    for (uint8_t i = 0; i < 2; i++) {
      Interface& ifc = t_.ifaces[i];
      ifc.assign(static_cast<Side>(i), addrs[i], lens[i]);
      ifc.mac = i == kIn ? in.mac : out.mac;
      ifc.members.push_back(i == kIn ? kInPort : kOutPort);
      ifc.lag.publish(ifc.members);
      ifc.neighbours.set_mac(2, rte_ether_addr{{0x02, 0, 0, 0, 0x02, i}});  // the router, .2
      t_.routes->add(ifc.network, ifc.prefix_len, next_hop::connected(i), &error);
    }
    t_.routes->add(0, 0, next_hop::via(kOut, 2), &error);
    t_.routes->add(kClientBase, 12, next_hop::via(kIn, 2), &error);
    t_.clients->insert(kClientBase, 12, &error);
  }

  SizeResult run(uint32_t n) {
    SizeResult r;
    r.sessions = n;
    const uint32_t per_client = std::min(o_.per_client, n);
    r.clients = (n + per_client - 1) / per_client;
    const uint32_t per_address = (65536 - 1024) / o_.block_size;
    const uint32_t client_blocks = (per_client + o_.block_size - 1) / o_.block_size;
    r.addresses = (r.clients * client_blocks + per_address - 1) / per_address;

    // Policing: one profile for every client, at a rate no trial reaches.
    PolicerSpec spec;
    spec.name = "bench";
    spec.cir = 400'000'000'000ull;
    spec.cbs = 1ull << 32;
    spec.prefixes = {{kClientBase, 12}};
    PolicerProfiles profiles({spec}, rte_get_tsc_hz());
    Policer policer(profiles);

    NatParams p;
    p.policing = &profiles;
    for (uint32_t a = 0; a < r.addresses; a++)
      p.pool.addresses.push_back(kPoolBase + a);
    p.pool.block_size = static_cast<uint16_t>(o_.block_size);
    p.sessions = static_cast<uint32_t>(n * o_.capacity);
    r.capacity = p.sessions;
    p.clients = r.clients;
    p.max_blocks = std::min(kMaxBlocksPerClient, std::max(8u, client_blocks));
    const uint64_t longest = std::max({p.udp_timeout_ms, p.tcp_established_timeout_ms,
                                       p.tcp_transitory_timeout_ms, p.icmp_timeout_ms});

    static unsigned serial = 0;
    rte_ring* punt = rte_ring_create(fmt::format("bench_punt{}", serial++).c_str(), 1024, 0,
                                     RING_F_SP_ENQ | RING_F_SC_DEQ);
    WorkerContext w(0, punt), fw(0, punt);
    w.tx.add_port(kInPort);
    w.tx.add_port(kOutPort);
    fw.tx.add_port(kInPort);
    fw.tx.add_port(kOutPort);
    offset_ = 0;

    const size_t heap0 = malloc_bytes(), rte0 = rte_heap_bytes();
    NatTable table(p, 0, 1, now_ms());
    r.heap_bytes = malloc_bytes() - heap0;
    r.rte_bytes = rte_heap_bytes() - rte0;
    if (!table.ok()) {
      r.error = fmt::format(
          "{}; the DPDK heap had -m {} MiB, {:.0f} MiB of it taken before (try "
          "a larger --memory-mb)",
          table.error(), o_.memory_mb, rte0 / 1048576.0);
      rte_ring_free(punt);
      return r;
    }
    Handoff handoff({nullptr}, {nullptr}, w.sink);
    CgnatWorker cw{table, handoff, {}, {}, 1};
    cw.nat.inside_address = kInsideAddr;
    cw.nat.hz = rte_get_tsc_hz();
    auto cgnat = make_cgnat_pipeline(t_, w, cw);
    CgnatWorker policed_cw = cw;
    policed_cw.nat.policer = &policer;
    auto policed = make_cgnat_pipeline(t_, w, policed_cw);
    auto forward = make_forward_pipeline(t_, fw);

    std::mt19937_64 rng(n);
    std::vector<uint32_t> order(n);
    std::vector<Flow> flows(n);
    for (int round = 0; round < o_.rounds && r.error.empty(); round++) {
      // 1. New sessions, in random order.
      for (uint32_t k = 0; k < n; k++)
        order[k] = k;
      std::shuffle(order.begin(), order.end(), rng);
      frames_.resize(n);
      for (uint32_t k = 0; k < n; k++) {
        const uint32_t id = order[k];
        const uint32_t j = id % per_client;
        Flow& f = flows[id];
        f.inside_ip = kClientBase + 1 + id / per_client;
        f.inside_port = static_cast<uint16_t>(10000 + j);
        f.remote_ip = kRemoteBase | static_cast<uint32_t>(mix(id + round) & 0xffffff);
        f.remote_port = 443;
        f.proto = j % 2 ? IPPROTO_UDP : IPPROTO_TCP;
        build(frames_[k], in_mac_, f.inside_ip, f.remote_ip, f.inside_port, f.remote_port, f.proto,
              RTE_TCP_SYN_FLAG);
      }
      r.create_io.push_back(io(n, kOutPort));
      const uint64_t before = w.counters.forwarded();
      r.create.push_back(pipeline(*cgnat, w, n, kIn, kInPort));
      if (table.sessions_in_use() != n || w.counters.forwarded() - before != n) {
        r.error = fmt::format("made {} of {} sessions, forwarded {}: {}", table.sessions_in_use(),
                              n, w.counters.forwarded() - before, drops(w.counters));
        break;
      }
      // Every session's public endpoint, and a SYN-ACK for each TCP one.
      uint32_t syn_acks = 0;
      for (uint32_t id = 0; id < n; id++) {
        Flow& f = flows[id];
        const SessionKey key{f.inside_ip, f.remote_ip, f.inside_port, f.remote_port, f.proto, 0, 0};
        const Session& s = table.session(table.lookup(key));
        f.public_ip = s.public_ip;
        f.public_port = s.public_port;
        if (f.proto == IPPROTO_TCP) {
          build(frames_[syn_acks++], out_mac_, f.remote_ip, f.public_ip, f.remote_port,
                f.public_port, f.proto, RTE_TCP_SYN_FLAG | kTcpAck);
        }
      }
      const uint64_t handshakes = w.counters.forwarded();
      pipeline(*cgnat, w, syn_acks, kOut, kOutPort);
      const Flow& tcp = flows[0];  // session 0 is TCP
      const SessionKey tcp_key{
          tcp.inside_ip, tcp.remote_ip, tcp.inside_port, tcp.remote_port, tcp.proto, 0, 0};
      if (w.counters.forwarded() - handshakes != syn_acks ||
          table.session(table.lookup(tcp_key)).tcp != TcpState::established) {
        r.error = fmt::format("SYN-ACKs: forwarded {} of {}: {}",
                              w.counters.forwarded() - handshakes, syn_acks, drops(w.counters));
        break;
      }
      if (round == 0) r.huge_kb = huge_kb();

      // 2. The established path.
      std::vector<uint32_t> hot(order.begin(), order.begin() + std::max(1u, n / 10));
      std::vector<uint32_t> cold(order.begin() + hot.size(), order.end());
      if (cold.empty()) cold = hot;
      for (size_t v = 0; v < std::size(kVariants); v++) {
        const Variant var = kVariants[v];
        VariantResult& vr = r.variants[v];
        make_established(var, flows, hot, cold, rng);
        const uint8_t iface = var.out2in ? kOut : kIn;
        const uint16_t rx = var.out2in ? kOutPort : kInPort;
        const uint16_t tx = var.out2in ? kInPort : kOutPort;
        for (int trial = 0; trial < o_.trials; trial++) {
          vr.io.push_back(io(o_.packets, tx));
          vr.forward.push_back(pipeline(*forward, fw, o_.packets, iface, rx));
          const uint64_t sent = w.counters.forwarded();
          vr.cgnat.push_back(pipeline(*cgnat, w, o_.packets, iface, rx));
          vr.policed.push_back(pipeline(*policed, w, o_.packets, iface, rx));
          if (w.counters.forwarded() - sent != 2 * uint64_t{o_.packets}) {
            r.error = fmt::format("{}: forwarded {} of {}: {}", var.name(),
                                  w.counters.forwarded() - sent, 2 * o_.packets, drops(w.counters));
          }
          vr.lookup.push_back(lookups(table, false));
          vr.record.push_back(lookups(table, true));
        }
      }
      if (o_.reader_cost && round == 0) {
        make_established(kVariants[0], flows, hot, cold, rng);
        for (int trial = 0; trial < o_.trials; trial++) {
          for (size_t c = 0; c < std::size(kReaderIntervals); c++) {
            const size_t k = (c + trial) % std::size(kReaderIntervals);  // order rotates
            std::unique_ptr<Reader> reader;
            if (k != 0) reader = std::make_unique<Reader>(w, table, kReaderIntervals[k]);
            double cycles = 0;
            for (int pass = 0; pass < o_.reader_passes; pass++)
              cycles += pipeline(*cgnat, w, o_.packets, kIn, kInPort);
            r.reader[k].push_back(cycles / o_.reader_passes);
            if (reader) r.reader_reads[k] += reader->reads();
          }
        }
      }
      if (table.sessions_in_use() != n) {
        r.error = fmt::format("{} sessions before expiry, not {}", table.sessions_in_use(), n);
      }
      frames_.clear();
      frames_.shrink_to_fit();

      // 3. Expiry: everything is past its timeout.
      offset_ += (longest + 2000) * tsc_per_ms();
      const uint64_t visits = table.counters().expiry_visits.read();
      const uint32_t live = table.sessions_in_use();
      uint64_t start = benchmark::cycles_now();
      const uint64_t at = now_ms();
      for (uint64_t calls = 0; table.sessions_in_use() != 0 && calls < 4 * uint64_t{n}; calls++)
        table.expire(at, cw.expiry_budget);
      r.expire.push_back(double(benchmark::cycles_now() - start) / live);
      r.expiry_visits = double(table.counters().expiry_visits.read() - visits) / live;
      // Then the port blocks, once their hold-down is over.
      offset_ += (p.pool.hold_down_ms + 2000) * tsc_per_ms();
      const uint32_t blocks = table.blocks().allocated_blocks();
      start = benchmark::cycles_now();
      const uint64_t later = now_ms();
      for (uint64_t calls = 0; table.blocks().allocated_blocks() != 0 && calls < 4 * uint64_t{n};
           calls++)
        table.expire(later, cw.expiry_budget);
      r.release.push_back(double(benchmark::cycles_now() - start) / std::max(1u, blocks));
      if (table.sessions_in_use() != 0 || table.clients_in_use() != 0 ||
          table.mappings_in_use() != 0) {
        r.error =
            fmt::format("{} sessions, {} clients and {} mappings left after expiry",
                        table.sessions_in_use(), table.clients_in_use(), table.mappings_in_use());
      }
      cgnat->poll(now());  // the pipeline's own expiry clock catches up
    }
    cgnat.reset();
    policed.reset();
    forward.reset();
    rte_ring_free(punt);
    return r;
  }

 private:
  static uint64_t tsc_per_ms() { return rte_get_tsc_hz() / 1000; }
  uint64_t now() const { return rte_rdtsc() + offset_; }
  uint64_t now_ms() const { return now() / tsc_per_ms(); }

  // frames_ for `packets` packets of the established path.
  void make_established(const Variant& var, const std::vector<Flow>& flows,
                        const std::vector<uint32_t>& hot, const std::vector<uint32_t>& cold,
                        std::mt19937_64& rng) {
    frames_.resize(o_.packets);
    keys_.resize(o_.packets);
    const auto n = static_cast<uint32_t>(flows.size());
    for (uint32_t k = 0; k < o_.packets; k++) {
      Frame& fr = frames_[k];
      const uint64_t x = rng();
      uint32_t id;
      if (!var.skewed) {
        id = static_cast<uint32_t>(x % n);
      } else if ((x >> 32) % 10 != 0) {  // 90% of packets to the hot 10%
        id = hot[(x & 0xffffffff) % hot.size()];
      } else {
        id = cold[(x & 0xffffffff) % cold.size()];
      }
      const Flow& f = flows[id];
      const uint8_t flags = f.proto == IPPROTO_TCP ? kTcpAck : 0;
      if (var.out2in) {
        build(fr, out_mac_, f.remote_ip, f.public_ip, f.remote_port, f.public_port, f.proto, flags);
        keys_[k] = {f.public_ip, f.remote_ip, f.public_port, f.remote_port, f.proto, 1, 0};
      } else {
        build(fr, in_mac_, f.inside_ip, f.remote_ip, f.inside_port, f.remote_port, f.proto, flags);
        keys_[k] = {f.inside_ip, f.remote_ip, f.inside_port, f.remote_port, f.proto, 0, 0};
      }
    }
  }

  // The next k frames into fresh mbufs, as a port's RX would hand them over.
  void fill(uint32_t& next, rte_mbuf** pkts, uint16_t k) {
    if (rte_pktmbuf_alloc_bulk(pool_, pkts, k) != 0) std::abort();  // the pool is never short
    for (uint16_t i = 0; i < k; i++) {
      std::memcpy(rte_pktmbuf_append(pkts[i], kFrameLen), frames_[next++].bytes, kFrameLen);
    }
  }

  // Cycles per packet: frames_[0 .. packets) straight to a net_null port.
  double io(uint32_t packets, uint16_t tx_port) {
    rte_mbuf* pkts[kBurst];
    uint32_t next = 0;
    const uint64_t start = benchmark::cycles_now();
    while (next < packets) {
      const auto k = static_cast<uint16_t>(std::min<uint32_t>(kBurst, packets - next));
      fill(next, pkts, k);
      const uint16_t sent = rte_eth_tx_burst(tx_port, 0, pkts, k);
      rte_pktmbuf_free_bulk(pkts + sent, k - sent);
    }
    return double(benchmark::cycles_now() - start) / packets;
  }

  // Cycles per packet: frames_[0 .. packets) through a pipeline, one worker
  // loop round (process, poll, flush) per burst.
  double pipeline(Pipeline& p, WorkerContext& w, uint32_t packets, uint8_t iface, uint16_t rx) {
    rte_mbuf* pkts[kBurst];
    uint32_t next = 0;
    if (packets == 0) return 0;
    const uint64_t start = benchmark::cycles_now();
    while (next < packets) {
      const auto k = static_cast<uint16_t>(std::min<uint32_t>(kBurst, packets - next));
      fill(next, pkts, k);
      const uint64_t t = now();
      p.process(iface, rx, pkts, k, t);
      p.poll(t);
      w.mailbox.serve(p, t);
      w.tx.flush();
    }
    return double(benchmark::cycles_now() - start) / packets;
  }

  // Cycles per key: the session table's bulk lookup alone on keys_, bursts of
  // 32, and (record) with the session record read and its last_ms written,
  // as the NAT's hit path does: the table's share of the established path.
  double lookups(NatTable& table, bool record) {
    uint32_t index[kBurst];
    uint64_t sum = 0;
    const uint64_t ms = now_ms();
    const uint64_t start = benchmark::cycles_now();
    for (uint32_t next = 0; next + kBurst <= o_.packets; next += kBurst) {
      table.lookup(&keys_[next], kBurst, index);
      for (uint16_t i = 0; i < kBurst && record; i++) {
        Session& s = table.session(index[i]);
        s.last_ms = ms;
        sum += s.public_port;
      }
      sum += index[0];
    }
    const double cycles = double(benchmark::cycles_now() - start) / o_.packets;
    reads_ += sum;  // so the reads are not optimised away
    return cycles;
  }

  static std::string drops(const WorkerCounters& c) {
    std::string s;
    for (size_t i = 0; i < kDropCount; i++) {
      const uint64_t v = c.drops[i].read();
      if (v != 0) s += fmt::format("{} {} ", kDropInfo[i].name, v);
    }
    return s.empty() ? "no drops" : s;
  }

  const Options& o_;
  rte_mempool* pool_;
  rte_ether_addr in_mac_, out_mac_;
  Tables t_;
  std::vector<Frame> frames_;
  std::vector<SessionKey> keys_;  // the session key of each frame, for lookups()
  uint64_t offset_ = 0;           // injected into the clock
  uint64_t reads_ = 0;            // what lookups() read
};

void report(const Options& o, const std::vector<SizeResult>& results) {
  const double ghz = rte_get_tsc_hz() / 1e9;
  fmt::print(
      "cgnat pipeline microbenchmark: one worker, TSC {:.2f} GHz, {} rounds x {} trials of {} "
      "packets, 64 B frames, {} sessions per client (TCP and UDP), port blocks of {}, {} pages, "
      "table capacity {:.2f} x sessions, {} clock, load average {} at the start and {} at the "
      "end\n\n",
      ghz, o.rounds, o.trials, o.packets, o.per_client, o.block_size, o.thp ? "THP" : "4 KiB",
      o.capacity, benchmark::bench_clock == benchmark::Clock::tsc ? "TSC" : "thread CPU time",
      o.load_before, loadavg());
  fmt::print(
      "Established path, cycles per packet, median (min-max). io = alloc + copy + TX to "
      "net_null; forward = the forward pipeline (no NAT); cgnat - io = NAT + routing + "
      "parse (target <= 120). lookup = NatTable::lookup alone on the same sessions' keys, "
      "+ record = with the session record read and written (no packets). policed = cgnat with "
      "per-client policing on (every packet metered, none exceeding); + policing = policed - "
      "cgnat (target <= 15).\n\n");
  fmt::print(
      "| sessions | clients | traffic | io | forward | cgnat | cgnat - io | cgnat - forward | "
      "cgnat / io | target | lookup | + record | policed | + policing |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const SizeResult& r : results) {
    if (!r.error.empty()) continue;
    for (size_t v = 0; v < std::size(kVariants); v++) {
      const VariantResult& vr = r.variants[v];
      const Stats io = summarize(vr.io), fw = summarize(vr.forward), cg = summarize(vr.cgnat);
      const Stats pol = summarize(vr.policed);
      fmt::print(
          "| {} | {} | {} | {} | {} | {} | {:.0f} | {:.0f} | {:.2f} | {} | {:.0f} | {:.0f} | {} | "
          "{:.0f} |\n",
          r.sessions, r.clients, kVariants[v].name(), show(io), show(fw), show(cg),
          cg.median - io.median, cg.median - fw.median, cg.median / io.median,
          cg.median - io.median <= 120 ? "met" : "missed", summarize(vr.lookup).median,
          summarize(vr.record).median, show(pol), pol.median - cg.median);
    }
  }
  fmt::print(
      "\nSession life, cycles: per new session (its first packet through the whole pipeline, "
      "target <= 600 after io), per expired session (NatTable::expire), per port block "
      "released after hold-down.\n\n");
  fmt::print(
      "| sessions | clients | pool addresses | new session | - io | target | expiry | wheel "
      "visits | block release |\n|---|---|---|---|---|---|---|---|---|\n");
  for (const SizeResult& r : results) {
    if (!r.error.empty()) continue;
    const Stats c = summarize(r.create), e = summarize(r.expire), b = summarize(r.release);
    const double added = c.median - summarize(r.create_io).median;
    fmt::print("| {} | {} | {} | {} | {:.0f} | {} | {} | {:.2f} | {} |\n", r.sessions, r.clients,
               r.addresses, show(c), added, added <= 600 ? "met" : "missed", show(e),
               r.expiry_visits, show(b));
  }
  fmt::print(
      "\nMemory of a NatTable, all allocated at construction for its capacity; bytes per "
      "session = both heaps over the capacity. DPDK heap: -m {} MiB of ordinary memory, "
      "prefaulted like hugepages; machine memory {:.1f} GiB.\n\n| capacity | held at once | "
      "rte_malloc (indexes) | malloc (records, lists, wheel, blocks) | total | bytes per "
      "session | process memory on THP |\n|---|---|---|---|---|---|---|\n",
      o.memory_mb, double(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGESIZE) / (1u << 30));
  for (const SizeResult& r : results) {
    fmt::print("| {} | {} | {:.1f} MiB | {:.1f} MiB | {:.1f} MiB | {:.0f} | {:.0f} MiB |\n",
               r.capacity, r.error.empty() ? fmt::format("{}", r.sessions) : "failed",
               r.rte_bytes / 1048576.0, r.heap_bytes / 1048576.0,
               (r.rte_bytes + r.heap_bytes) / 1048576.0,
               r.error.empty() ? double(r.rte_bytes + r.heap_bytes) / r.capacity : 0.0,
               r.huge_kb / 1024.0);
  }
  if (o.reader_cost) {
    fmt::print(
        "\nReader cost: in2out uniform, cycles per packet, median (min-max) of {} trials of {} x "
        "{} packets each, conditions in turn; a reader does what one sluicectl top refresh "
        "makes sluice read, on another CPU.\n\n| sessions | reader | cycles/packet | median - "
        "no reader | reads |\n|---|---|---|---|---|\n",
        o.trials, o.reader_passes, o.packets);
    for (const SizeResult& r : results) {
      if (!r.error.empty()) continue;
      const double base = summarize(r.reader[0]).median;
      for (size_t k = 0; k < std::size(kReaderIntervals); k++) {
        const Stats st = summarize(r.reader[k]);
        fmt::print("| {} | {} | {} | {:+.1f} ({:+.1f}%) | {} |\n", r.sessions, kReaderNames[k],
                   show(st), st.median - base, 100 * (st.median - base) / base, r.reader_reads[k]);
      }
    }
  }
  for (const SizeResult& r : results) {
    if (!r.error.empty()) fmt::print("\n{} sessions: FAILED: {}\n", r.sessions, r.error);
  }

  if (o.json.empty()) return;
  FILE* f = std::fopen(o.json.c_str(), "w");
  if (f == nullptr) return;
  fmt::print(f, "{{\"tsc_ghz\": {:.3f}, \"rounds\": {}, \"trials\": {}, \"packets\": {}, ", ghz,
             o.rounds, o.trials, o.packets);
  fmt::print(f,
             "\"per_client\": {}, \"block_size\": {}, \"pages\": \"{}\", \"capacity\": {:.2f}, "
             "\"memory_mb\": {}, \"clock\": \"{}\", \"load_before\": \"{}\", "
             "\"load_after\": \"{}\", \"sizes\": [",
             o.per_client, o.block_size, o.thp ? "thp" : "4k", o.capacity, o.memory_mb,
             benchmark::bench_clock == benchmark::Clock::tsc ? "tsc" : "cpu", o.load_before,
             loadavg());
  for (size_t i = 0; i < results.size(); i++) {
    const SizeResult& r = results[i];
    fmt::print(f,
               "{}{{\"sessions\": {}, \"capacity\": {}, \"clients\": {}, \"pool_addresses\": "
               "{}, \"rte_malloc_bytes\": {}, \"malloc_bytes\": {}, \"bytes_per_session\": "
               "{:.1f}, \"error\": \"{}\"",
               i ? ", " : "", r.sessions, r.capacity, r.clients, r.addresses, r.rte_bytes,
               r.heap_bytes, double(r.rte_bytes + r.heap_bytes) / r.capacity, r.error);
    if (r.error.empty()) {
      fmt::print(f,
                 ", \"new_session_cycles\": {}, \"new_session_io_cycles\": {}, "
                 "\"expiry_cycles\": {}, \"block_release_cycles\": {}, \"established\": [",
                 json(summarize(r.create)), json(summarize(r.create_io)), json(summarize(r.expire)),
                 json(summarize(r.release)));
      for (size_t v = 0; v < std::size(kVariants); v++) {
        const VariantResult& vr = r.variants[v];
        fmt::print(f,
                   "{}{{\"traffic\": \"{}\", \"io\": {}, \"forward\": {}, \"cgnat\": {}, "
                   "\"policed\": {}, \"lookup\": {}, \"lookup_record\": {}}}",
                   v ? ", " : "", kVariants[v].name(), json(summarize(vr.io)),
                   json(summarize(vr.forward)), json(summarize(vr.cgnat)),
                   json(summarize(vr.policed)), json(summarize(vr.lookup)),
                   json(summarize(vr.record)));
      }
      fmt::print(f, "]");
      if (o.reader_cost) {
        fmt::print(f, ", \"reader_cost\": [");
        for (size_t k = 0; k < std::size(kReaderIntervals); k++) {
          fmt::print(f, "{}{{\"reader\": \"{}\", \"cycles\": {}, \"reads\": {}}}", k ? ", " : "",
                     kReaderNames[k], json(summarize(r.reader[k])), r.reader_reads[k]);
        }
        fmt::print(f, "]");
      }
    }
    fmt::print(f, "}}");
  }
  fmt::print(f, "]}}\n");
  std::fclose(f);
}

// The DPDK heap is ordinary anonymous memory under --no-huge, faulted in on
// first touch (DPDK knows it is zero and does not clear it). Hugepages are
// pinned and present before the first packet, so fault it all in now, with
// transparent huge pages first when asked (arg: bool thp).
int prepare_memory(const rte_memseg_list* msl, void* arg) {
  const auto base = reinterpret_cast<uintptr_t>(msl->base_va);
  if (*static_cast<const bool*>(arg)) {
    const uintptr_t start = RTE_ALIGN_CEIL(base, 2u << 20);
    const uintptr_t end = RTE_ALIGN_FLOOR(base + msl->len, 2u << 20);
    if (end > start) madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
  }
  if (madvise(msl->base_va, msl->len, MADV_POPULATE_WRITE) != 0) {
    for (uintptr_t a = base; a < base + msl->len; a += 4096) {
      auto* c = reinterpret_cast<volatile char*>(a);
      *c = *c;
    }
  }
  return 0;
}

int bench(const Options& o) {
  PortInfo in_port, out_port;
  rte_mempool* pool = benchmark::start_ports(&in_port, &out_port);
  if (pool == nullptr) return 1;
  std::vector<SizeResult> results;
  {
    Bench b(o, pool, in_port, out_port);
    for (uint32_t n : o.sessions) {
      results.push_back(b.run(n));
      std::fprintf(stderr, "%u sessions done%s\n", n,
                   results.back().error.empty() ? "" : ", failed");
    }
  }
  report(o, results);
  for (const SizeResult& r : results)
    if (!r.error.empty()) return 1;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--sessions") {
      o.sessions.clear();
      std::stringstream ss(v);
      for (std::string item; std::getline(ss, item, ',');)
        o.sessions.push_back(static_cast<uint32_t>(std::stoul(item)));
    } else if (k == "--trials") {
      o.trials = std::stoi(v);
    } else if (k == "--rounds") {
      o.rounds = std::stoi(v);
    } else if (k == "--packets") {
      o.packets = static_cast<uint32_t>(std::stoul(v)) & ~uint32_t{kBurst - 1};
    } else if (k == "--per-client") {
      o.per_client = static_cast<uint32_t>(std::stoul(v));
    } else if (k == "--block-size") {
      o.block_size = static_cast<uint32_t>(std::stoul(v));
    } else if (k == "--memory-mb") {
      o.memory_mb = static_cast<uint32_t>(std::stoul(v));
    } else if (k == "--capacity") {
      o.capacity = std::stod(v);
    } else if (k == "--pages") {
      o.thp = v == "thp";
    } else if (k == "--json") {
      o.json = v;
    } else if (k == "--reader-cost") {
      o.reader_cost = v == "yes";
    } else if (k == "--reader-passes") {
      o.reader_passes = std::max(1, std::stoi(v));
    } else if (k == "--clock") {
      if (!benchmark::set_clock(v)) {
        std::fprintf(stderr, "nat_bench: --clock is tsc or cpu, not %s\n", v.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr, "nat_bench: unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (o.sessions.empty() || o.trials < 1 || o.rounds < 1 || o.packets < kBurst ||
      o.per_client < 2 || o.block_size < 1 || o.block_size > 64512 ||
      o.per_client > kMaxBlocksPerClient * o.block_size || o.capacity < 1 || o.capacity > 4) {
    std::fprintf(stderr, "nat_bench: option out of range\n");
    return 2;
  }
  // glibc reads its tunables at start-up: start again with them set.
  if (o.thp && std::getenv("GLIBC_TUNABLES") == nullptr) {
    setenv("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1", 1);
    char self[4096];
    const ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len > 0) {
      self[len] = '\0';
      execv(self, argv);
    }
  }
  if (o.memory_mb == 0) {
    // About 450 bytes per session, plus routes, mbufs and slack.
    const uint32_t largest = *std::max_element(o.sessions.begin(), o.sessions.end());
    o.memory_mb = static_cast<uint32_t>(largest * o.capacity * 450 / 1048576 + 1024);
  }
  if (!benchmark::init_eal("nat_bench", o.memory_mb)) return 1;
  rte_memseg_list_walk(prepare_memory, &o.thp);
  o.load_before = loadavg();
  const int rc = bench(o);
  rte_eal_cleanup();
  return rc;
}
