// The cgnat pipeline (pipelines/cgnat.h) end to end: Ethernet frames go in as
// a port delivers them, through make_cgnat_pipeline() of one or two workers,
// and come out of the net_ring TX rings (TX queue k = worker k), as counted
// drops, or as ICMP errors. Workers are joined by real SPSC handoff rings and
// run in this one thread: a worker's poll() is what moves a handed packet on.
// The clock is injected: microseconds (Nat44Options::hz).
//
// Topology: inside 10.16.1.1/24 with every host resolved (clients
// 10.16.0.0/12), outside 192.0.2.1/24, default route via 192.0.2.2
// (resolved); NAT pool 198.51.100.0/30; a server on the Internet at
// 203.0.113.7.
#include <catch2/catch.hpp>

#include <rte_icmp.h>
#include <rte_ring.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cgnat.h"
#include "handoff.h"
#include "icmp.h"
#include "nat44.h"
#include "nat_table.h"
#include "packet_builder.h"
#include "port_blocks.h"
#include "route.h"
#include "steering.h"
#include "support.h"
#include "tables.h"
#include "worker.h"

namespace sluice::test {
namespace {

constexpr uint8_t kInside = 0;
constexpr uint8_t kOutside = 1;
constexpr uint64_t kHz = 1'000'000;  // the injected clock: microseconds
constexpr uint64_t kSecond = kHz;
constexpr uint64_t kNow = 5 * kSecond;
constexpr uint16_t kGatewayHost = 2;  // 192.0.2.2
const rte_ether_addr kGatewayMac = mac(0x02, 0xbb, 0, 0, 0, 0x02);
constexpr const char* kServer = "203.0.113.7";

// Every inside host has a MAC of its own, so a frame shows whom it went to.
rte_ether_addr host_mac(uint32_t ip) {
  return mac(0x02, 0xaa, 0, 0, 0, static_cast<uint8_t>(ip));
}

std::string unique(const char* what) {
  static std::atomic<unsigned> serial{0};
  return std::string(what) + std::to_string(serial.fetch_add(1));
}

NatParams nat_params() {
  NatParams p;
  p.pool.addresses = {ip("198.51.100.0"), ip("198.51.100.1"), ip("198.51.100.2"),
                      ip("198.51.100.3")};
  p.pool.port_min = 1024;
  p.pool.block_size = 128;
  p.pool.hold_down_ms = 120'000;
  p.sessions = 1024;
  p.clients = 64;
  p.max_blocks = 4;
  return p;
}

bool in_pool(uint32_t a) {
  return a >= ip("198.51.100.0") && a <= ip("198.51.100.3");
}

// An inside address (10.16.1.10 and up) whose client `worker` owns.
uint32_t client_of(unsigned worker, unsigned workers, uint32_t not_this = 0) {
  for (uint32_t host = 10; host < 250; host++) {
    const uint32_t a = ip("10.16.1.0") + host;
    if (a != not_this && client_owner(a, workers) == worker) return a;
  }
  FAIL("no client for worker " << worker);
  return 0;
}

// W workers of the cgnat pipeline with their NAT tables, handoff rings of
// ring_size slots between every pair, and the shared tables.
class Rig {
 public:
  explicit Rig(unsigned workers = 1, const NatParams& params = nat_params(),
               unsigned ring_size = 64)
      : params_(params) {
    tables = reference_tables(unique("cgnat_clients"));
    for (uint32_t host = 2; host < 255; host++)
      tables.ifaces[kInside].neighbours.set_mac(host, host_mac(host));
    tables.ifaces[kOutside].neighbours.set_mac(kGatewayHost, kGatewayMac);

    rings_.assign(size_t{workers} * workers, nullptr);
    for (unsigned from = 0; from < workers; from++) {
      for (unsigned to = 0; to < workers; to++) {
        if (from == to) continue;
        rte_ring* r = rte_ring_create(unique("unit_handoff").c_str(), ring_size, SOCKET_ID_ANY,
                                      RING_F_SP_ENQ | RING_F_SC_DEQ);
        REQUIRE(r != nullptr);
        rings_[size_t{from} * workers + to] = r;
      }
    }
    for (unsigned k = 0; k < workers; k++) {
      punts_.push_back(std::make_unique<PuntRing>());
      auto& wk = *this->workers.emplace_back(std::make_unique<WorkerContext>(k, punts_[k]->get()));
      REQUIRE(wk.tx.add_port(inside_port()));
      REQUIRE(wk.tx.add_port(outside_port()));
      wk.icmp_limit = TokenBucket(1000, 100, kHz);
      nat.push_back(std::make_unique<NatTable>(params, k, workers, kNow / 1000));
      REQUIRE(nat.back()->ok());
      std::vector<rte_ring*> to(workers, nullptr);
      std::vector<rte_ring*> from(workers, nullptr);
      for (unsigned j = 0; j < workers; j++) {
        to[j] = rings_[size_t{k} * workers + j];
        from[j] = rings_[size_t{j} * workers + k];
      }
      handoffs_.push_back(std::make_unique<Handoff>(to, from, wk.sink));
      Nat44Options options;
      options.exhausted_icmp = true;
      options.inside_address = ip("10.16.1.1");
      options.hz = kHz;
      const CgnatWorker cw{*nat.back(), *handoffs_.back(), FragConfig{}, options, workers};
      pipelines_.push_back(make_cgnat_pipeline(tables, wk, cw));
    }
  }

  ~Rig() {
    pipelines_.clear();  // frees held fragments
    handoffs_.clear();   // frees what was staged
    for (rte_ring* r : rings_) {
      if (r == nullptr) continue;
      auto left = drain(r);
      free_all(left);
      rte_ring_free(r);
    }
    for (uint16_t q = 0; q < workers.size(); q++) {
      auto left = drain(tx_ring(inside_port(), q));
      free_all(left);
      left = drain(tx_ring(outside_port(), q));
      free_all(left);
    }
  }

  // Frames as worker w's RX queue of `iface` delivers them, then the TX
  // flush, as worker_loop does (rx_packets counted the same way).
  void receive(unsigned w, uint8_t iface, std::vector<rte_mbuf*> pkts, uint64_t now = kNow) {
    for (rte_mbuf* m : pkts)
      REQUIRE(m != nullptr);
    workers[w]->counters.rx_packets.add(pkts.size());
    const uint16_t port = iface == kInside ? inside_port() : outside_port();
    pipelines_[w]->process(iface, port, pkts.data(), static_cast<uint16_t>(pkts.size()), now);
    workers[w]->tx.flush();
  }
  void receive(unsigned w, uint8_t iface, const Frame& f, uint64_t now = kNow) {
    receive(w, iface, std::vector<rte_mbuf*>{f.mbuf()}, now);
  }
  // Worker w's poll() and the TX flush after it.
  unsigned poll(unsigned w, uint64_t now = kNow) {
    const unsigned n = pipelines_[w]->poll(now);
    workers[w]->tx.flush();
    return n;
  }

  // What worker w transmitted on each side.
  std::vector<rte_mbuf*> sent_inside(unsigned w = 0) { return drain(tx_ring(inside_port(), w)); }
  std::vector<rte_mbuf*> sent_outside(unsigned w = 0) { return drain(tx_ring(outside_port(), w)); }

  const WorkerCounters& counters(unsigned w = 0) const { return workers[w]->counters; }
  const NatParams& params() const { return params_; }

  LeakCheck leaks;  // first: checked after everything below is released
  Tables tables;
  std::vector<std::unique_ptr<WorkerContext>> workers;
  std::vector<std::unique_ptr<NatTable>> nat;

 private:
  NatParams params_;
  std::vector<std::unique_ptr<PuntRing>> punts_;
  std::vector<rte_ring*> rings_;  // [from * W + to]
  std::vector<std::unique_ptr<Handoff>> handoffs_;
  std::vector<std::unique_ptr<Pipeline>> pipelines_;
};

// Every packet a worker received is sent, dropped, punted or handed to
// another worker; ICMP errors it made are sent without having been received.
void check_conservation(const WorkerCounters& c) {
  const auto rx = static_cast<int64_t>(c.rx_packets.read());
  const auto accounted = static_cast<int64_t>(c.tx_packets.read() + total_drops(c) +
                                              c.punted.read() + c.handed_off.read()) -
                         static_cast<int64_t>(c.handed_in.read() + c.icmp_errors_sent.read());
  CHECK(rx == accounted);
}

struct Endpoint {
  uint32_t ip;
  uint16_t port;
};

Frame from_client(uint32_t client, uint16_t sport = 40000) {
  return Frame()
      .to(kInsideMac)
      .from_mac(host_mac(client))
      .src(client)
      .dst(kServer)
      .udp(sport, 53)
      .ttl(64);
}

Frame from_server(const Endpoint& to, uint16_t sport = 53) {
  return Frame()
      .to(kOutsideMac)
      .from_mac(kGatewayMac)
      .src(kServer)
      .dst(to.ip)
      .udp(sport, to.port)
      .ttl(50);
}

const rte_ether_hdr* eth_of(const rte_mbuf* m) {
  return rte_pktmbuf_mtod(m, const rte_ether_hdr*);
}

std::vector<uint8_t> l3_of(const rte_mbuf* m) {
  auto b = contents(m);
  return std::vector<uint8_t>(b.begin() + sizeof(rte_ether_hdr), b.end());
}

bool ip_checksum_ok(const rte_ipv4_hdr* ip) {
  return checksum_ok(ip, rte_ipv4_hdr_len(ip));
}

uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

// The TCP/UDP checksum of a whole (unfragmented) datagram verifies.
bool l4_checksum_ok(const std::vector<uint8_t>& d) {
  const size_t ihl = (d[0] & 0xf) * 4u;
  const auto len = static_cast<uint16_t>(d.size() - ihl);
  const uint8_t pseudo[12] = {d[12],
                              d[13],
                              d[14],
                              d[15],
                              d[16],
                              d[17],
                              d[18],
                              d[19],
                              0,
                              d[9],
                              static_cast<uint8_t>(len >> 8),
                              static_cast<uint8_t>(len)};
  return fold_complement(sum16(d.data() + ihl, len, sum16(pseudo, 12))) == 0;
}

// The source address and port of the datagram in frame m.
Endpoint source_of(const rte_mbuf* m) {
  const auto d = l3_of(m);
  return {ip_src(ipv4_at(m, 14)), be16(&d[(d[0] & 0xf) * 4u])};
}

bool mentions(const std::vector<uint8_t>& bytes, uint32_t address) {
  const uint8_t a[4] = {static_cast<uint8_t>(address >> 24), static_cast<uint8_t>(address >> 16),
                        static_cast<uint8_t>(address >> 8), static_cast<uint8_t>(address)};
  return std::search(bytes.begin(), bytes.end(), a, a + 4) != bytes.end();
}

// Checks an ICMP error in frame m and returns what it quotes.
std::vector<uint8_t> check_icmp_error(const rte_mbuf* m, uint32_t src, uint32_t dst, uint8_t type,
                                      uint8_t code) {
  const auto* ip = ipv4_at(m, 14);
  CHECK(ip->next_proto_id == IPPROTO_ICMP);
  CHECK(ip_text(ip_src(ip)) == ip_text(src));
  CHECK(ip_text(ip_dst(ip)) == ip_text(dst));
  CHECK(ip_checksum_ok(ip));
  const auto bytes = l3_of(m);
  CHECK(bytes.size() == rte_be_to_cpu_16(ip->total_length));
  CHECK(checksum_ok(bytes.data() + 20, bytes.size() - 20));
  CHECK(int{bytes[20]} == type);
  CHECK(int{bytes[21]} == code);
  return std::vector<uint8_t>(bytes.begin() + 28, bytes.end());
}

// Sends one UDP packet from client:sport to the server through worker 0 of a
// one-worker rig and returns the public endpoint it left from.
Endpoint open_session(Rig& rig, uint32_t client, uint16_t sport = 40000) {
  rig.receive(0, kInside, from_client(client, sport));
  auto out = rig.sent_outside();
  REQUIRE(out.size() == 1);
  const Endpoint pub = source_of(out[0]);
  free_all(out);
  REQUIRE(in_pool(pub.ip));
  return pub;
}

TEST_CASE("cgnat: a client's UDP packet leaves from the pool and the reply comes back", "[cgnat]") {
  Rig rig;
  const uint32_t client = ip("10.16.1.10");
  const Frame request = from_client(client).payload(100);
  rig.receive(0, kInside, request);

  CHECK(rig.sent_inside().empty());
  auto out = rig.sent_outside();
  REQUIRE(out.size() == 1);
  CHECK(rte_is_same_ether_addr(&eth_of(out[0])->dst_addr, &kGatewayMac));
  CHECK(rte_is_same_ether_addr(&eth_of(out[0])->src_addr, &kOutsideMac));
  CHECK(eth_of(out[0])->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
  const auto* ip4 = ipv4_at(out[0], 14);
  const Endpoint pub = source_of(out[0]);
  CHECK(in_pool(pub.ip));
  CHECK(pub.port >= 1024);
  CHECK(ip_dst(ip4) == ip(kServer));
  CHECK(int{ip4->time_to_live} == 63);
  CHECK(ip_checksum_ok(ip4));
  CHECK(l4_checksum_ok(l3_of(out[0])));
  // Byte for byte what a host at the public endpoint would have sent.
  CHECK(l3_of(out[0]) == Frame(request).src(pub.ip).udp(pub.port, 53).ttl(63).l3_bytes());
  CHECK(rig.nat[0]->sessions_in_use() == 1);
  free_all(out);

  const Frame reply = from_server(pub).payload(60, 7);
  rig.receive(0, kOutside, reply);
  CHECK(rig.sent_outside().empty());
  auto back = rig.sent_inside();
  REQUIRE(back.size() == 1);
  const rte_ether_addr client_mac = host_mac(client);
  CHECK(rte_is_same_ether_addr(&eth_of(back[0])->dst_addr, &client_mac));
  CHECK(rte_is_same_ether_addr(&eth_of(back[0])->src_addr, &kInsideMac));
  CHECK(ip_checksum_ok(ipv4_at(back[0], 14)));
  CHECK(l4_checksum_ok(l3_of(back[0])));
  CHECK(l3_of(back[0]) == Frame(reply).dst(client).udp(53, 40000).ttl(49).l3_bytes());
  free_all(back);

  const WorkerCounters& c = rig.counters();
  CHECK(c.tx_packets.read() == 2);
  CHECK(total_drops(c) == 0);
  CHECK(c.handed_off.read() == 0);
  CHECK(rig.nat[0]->sessions_in_use() == 1);
  check_conservation(c);
}

TEST_CASE("cgnat: an ICMP echo keeps one public id both ways", "[cgnat]") {
  Rig rig;
  const uint32_t client = ip("10.16.1.10");
  const Frame ping = from_client(client).echo_request(0x7777, 3);
  rig.receive(0, kInside, ping);
  auto out = rig.sent_outside();
  REQUIRE(out.size() == 1);
  const auto d = l3_of(out[0]);
  const Endpoint pub{ip_src(ipv4_at(out[0], 14)), be16(&d[24])};  // the identifier
  CHECK(in_pool(pub.ip));
  CHECK(d == Frame(ping).src(pub.ip).echo_request(pub.port, 3).ttl(63).l3_bytes());
  free_all(out);

  const Frame pong = Frame(from_server(pub)).icmp(0, 0, pub.port, 3);
  rig.receive(0, kOutside, pong);
  auto back = rig.sent_inside();
  REQUIRE(back.size() == 1);
  CHECK(l3_of(back[0]) == Frame(pong).dst(client).icmp(0, 0, 0x7777, 3).ttl(49).l3_bytes());
  free_all(back);
  check_conservation(rig.counters());
}

TEST_CASE("cgnat: what the outside may not send in is dropped by reason", "[cgnat]") {
  Rig rig;
  const uint32_t client = ip("10.16.1.10");
  const Endpoint pub = open_session(rig, client);
  struct Case {
    const char* description;
    Frame frame;
    Drop why;
  };
  const Endpoint other_port{pub.ip, static_cast<uint16_t>(pub.port == 65535 ? 1024 : pub.port + 1)};
  const std::vector<Case> cases = {
      {"to an inside address directly", from_server(Endpoint{client, 40000}), Drop::nat_not_pool},
      {"to a public port nobody mapped", from_server(other_port), Drop::nat_no_mapping},
      {"from another host (address-dependent filtering)", from_server(pub).src("203.0.113.99"),
       Drop::nat_filtered},
      {"a TCP segment without a session", from_server(pub).tcp(443, pub.port),
       Drop::nat_no_mapping},
      {"an echo request from outside", Frame(from_server(pub)).echo_request(pub.port),
       Drop::nat_no_mapping},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.description) {
      rig.receive(0, kOutside, c.frame);
      CHECK(rig.sent_inside().empty());
      CHECK(rig.sent_outside().empty());
      CHECK(rig.counters().dropped(c.why) == 1);
      CHECK(total_drops(rig.counters()) == 1);
      check_conservation(rig.counters());
    }
  }
}

TEST_CASE("cgnat: a spoofed inside source is dropped before NAT", "[cgnat]") {
  Rig rig;
  rig.receive(0, kInside, from_client(ip("10.99.0.1")));
  CHECK(rig.sent_outside().empty());
  CHECK(rig.counters().dropped(Drop::spoofed_source) == 1);
  CHECK(rig.nat[0]->sessions_in_use() == 0);
  CHECK(rig.nat[0]->clients_in_use() == 0);
  check_conservation(rig.counters());
}

TEST_CASE("cgnat: two workers hand each packet to the owner of its client", "[cgnat]") {
  Rig rig(2);
  const PortOwner owner(rig.params().pool, 2);
  const uint32_t c0 = client_of(0, 2);
  const uint32_t c1 = client_of(1, 2);
  INFO("client of worker 0 " << ip_text(c0) << ", of worker 1 " << ip_text(c1));

  // Worker 0's client, received by worker 1.
  const Frame request = from_client(c0);
  rig.receive(1, kInside, request);
  CHECK(rig.counters(1).handed_off.read() == 1);
  CHECK(rig.counters(1).tx_packets.read() == 0);
  for (unsigned w = 0; w < 2; w++) {
    CHECK(rig.sent_outside(w).empty());
    CHECK(rig.sent_inside(w).empty());
  }
  CHECK(rig.nat[1]->sessions_in_use() == 0);
  CHECK(rig.nat[0]->sessions_in_use() == 0);  // not until worker 0 polls

  CHECK(rig.poll(0) == 1);
  CHECK(rig.counters(0).handed_in.read() == 1);
  CHECK(rig.sent_outside(1).empty());
  auto out = rig.sent_outside(0);
  REQUIRE(out.size() == 1);
  const Endpoint pub = source_of(out[0]);
  CHECK(in_pool(pub.ip));
  CHECK(owner.owner(pub.port) == 0);  // from worker 0's share of the blocks
  CHECK(l3_of(out[0]) == Frame(request).src(pub.ip).udp(pub.port, 53).ttl(63).l3_bytes());
  CHECK(rig.nat[0]->sessions_in_use() == 1);
  CHECK(rig.nat[1]->sessions_in_use() == 0);
  free_all(out);

  // The reply, received by worker 1: handed to the owner of the port's block.
  const Frame reply = from_server(pub);
  rig.receive(1, kOutside, reply);
  CHECK(rig.counters(1).handed_off.read() == 2);
  for (unsigned w = 0; w < 2; w++) {
    CHECK(rig.sent_outside(w).empty());
    CHECK(rig.sent_inside(w).empty());
  }
  CHECK(rig.poll(0) == 1);
  CHECK(rig.sent_inside(1).empty());
  auto back = rig.sent_inside(0);
  REQUIRE(back.size() == 1);
  const rte_ether_addr c0_mac = host_mac(c0);
  CHECK(rte_is_same_ether_addr(&eth_of(back[0])->dst_addr, &c0_mac));
  CHECK(l3_of(back[0]) == Frame(reply).dst(c0).udp(53, 40000).ttl(49).l3_bytes());
  free_all(back);

  // Worker 1's client, received by worker 0, leaves on worker 1's queue.
  rig.receive(0, kInside, from_client(c1));
  CHECK(rig.counters(0).handed_off.read() == 1);
  CHECK(rig.poll(1) == 1);
  CHECK(rig.sent_outside(0).empty());
  out = rig.sent_outside(1);
  REQUIRE(out.size() == 1);
  CHECK(owner.owner(source_of(out[0]).port) == 1);
  CHECK(rig.nat[1]->sessions_in_use() == 1);
  free_all(out);

  // And received by its owner, it is not handed anywhere.
  rig.receive(1, kInside, from_client(c1, 40001));
  CHECK(rig.counters(1).handed_off.read() == 2);
  out = rig.sent_outside(1);
  CHECK(out.size() == 1);
  free_all(out);
  CHECK(rig.poll(0) == 0);

  for (unsigned w = 0; w < 2; w++) {
    INFO("worker " << w);
    CHECK(total_drops(rig.counters(w)) == 0);
    check_conservation(rig.counters(w));
  }
  CHECK(rig.counters(0).handed_off.read() + rig.counters(1).handed_off.read() ==
        rig.counters(0).handed_in.read() + rig.counters(1).handed_in.read());
}

TEST_CASE("cgnat: a full handoff ring drops and counts, never waits or leaks", "[cgnat]") {
  Rig rig(2, nat_params(), 4);  // a ring of 4 slots holds 3 packets
  const uint32_t c0 = client_of(0, 2);
  std::vector<rte_mbuf*> burst;
  for (uint16_t i = 0; i < 8; i++)
    burst.push_back(from_client(c0, static_cast<uint16_t>(40000 + i)).mbuf());
  rig.receive(1, kInside, burst);
  CHECK(rig.counters(1).handed_off.read() == 3);
  CHECK(rig.counters(1).dropped(Drop::handoff_ring_full) == 5);
  CHECK(total_drops(rig.counters(1)) == 5);

  CHECK(rig.poll(0) == 3);
  auto out = rig.sent_outside(0);
  CHECK(out.size() == 3);
  free_all(out);

  // Drained, the ring takes packets again.
  rig.receive(1, kInside, from_client(c0, 41000));
  CHECK(rig.poll(0) == 1);
  out = rig.sent_outside(0);
  CHECK(out.size() == 1);
  free_all(out);
  CHECK(rig.counters(1).dropped(Drop::handoff_ring_full) == 5);

  // Left in the ring when the workers stop: freed by whoever owns the rings.
  rig.receive(1, kInside, from_client(c0, 42000));
  CHECK(rig.counters(1).handed_off.read() == 5);

  for (unsigned w = 0; w < 2; w++) {
    INFO("worker " << w);
    check_conservation(rig.counters(w));
  }
}

TEST_CASE("cgnat: an ICMP error about a translated packet quotes it as it was received",
          "[cgnat]") {
  Rig rig;
  const uint32_t client = ip("10.16.1.10");
  const Endpoint pub = open_session(rig, client);

  SECTION("TTL 1 from the outside to a client's public endpoint") {
    const Frame f = from_server(pub).ttl(1).payload(40);
    rig.receive(0, kOutside, f);
    CHECK(rig.sent_inside().empty());
    auto out = rig.sent_outside();
    REQUIRE(out.size() == 1);
    CHECK(rte_is_same_ether_addr(&eth_of(out[0])->dst_addr, &kGatewayMac));
    const auto quote = check_icmp_error(out[0], ip("192.0.2.1"), ip(kServer), kIcmpTimeExceeded, 0);
    // The public destination, port and checksums, as the server sent them.
    CHECK(quote == f.l3_bytes());
    CHECK_FALSE(mentions(l3_of(out[0]), client));
    free_all(out);
    CHECK(rig.counters().dropped(Drop::ttl_expired) == 1);
  }
  SECTION("TTL 1 from a client: answered before NAT, no new session") {
    const Frame f = from_client(client).ttl(1).udp(40001, 53);
    rig.receive(0, kInside, f);
    CHECK(rig.nat[0]->sessions_in_use() == 1);  // only open_session's
    CHECK(rig.nat[0]->mappings_in_use() == 1);
    CHECK(rig.sent_outside().empty());
    auto back = rig.sent_inside();
    REQUIRE(back.size() == 1);
    const auto quote = check_icmp_error(back[0], ip("10.16.1.1"), client, kIcmpTimeExceeded, 0);
    CHECK(quote == f.l3_bytes());  // its own source, not the public one
    free_all(back);
    CHECK(rig.counters().dropped(Drop::ttl_expired) == 1);
  }
  SECTION("larger than the inside MTU with DF, from the outside") {
    rig.tables.ifaces[kInside].mtu = 1000;
    const Frame f = from_server(pub).payload(1200).df();
    rig.receive(0, kOutside, f);
    CHECK(rig.sent_inside().empty());
    auto out = rig.sent_outside();
    REQUIRE(out.size() == 1);
    const auto quote = check_icmp_error(out[0], ip("192.0.2.1"), ip(kServer), kIcmpDestUnreachable,
                                        kIcmpCodeFragNeeded);
    const auto sent = f.l3_bytes();
    REQUIRE(quote.size() == 548);
    CHECK(quote == std::vector<uint8_t>(sent.begin(), sent.begin() + 548));
    CHECK_FALSE(mentions(l3_of(out[0]), client));
    free_all(out);
    CHECK(rig.counters().dropped(Drop::too_big) == 1);
  }
  CHECK(rig.counters().icmp_errors_sent.read() == 1);
  CHECK(total_drops(rig.counters()) == 1);
  check_conservation(rig.counters());
}

// RFC 5508: an error from the outside about a datagram a client sent reaches
// the client, its outer destination and its quote translated back.
TEST_CASE("cgnat: an ICMP error from the outside reaches the client it is about", "[cgnat]") {
  Rig rig;
  const uint32_t client = ip("10.16.1.10");
  const Frame request = from_client(client).payload(30);
  rig.receive(0, kInside, request);
  auto out = rig.sent_outside();
  REQUIRE(out.size() == 1);
  const Endpoint pub = source_of(out[0]);
  const auto left = l3_of(out[0]);
  free_all(out);

  // Port unreachable from the server, quoting the header and 8 bytes.
  const Frame error = Frame(from_server(pub))
                          .icmp(kIcmpDestUnreachable, 3, 0, 0)
                          .payload_bytes(std::vector<uint8_t>(left.begin(), left.begin() + 28));
  rig.receive(0, kOutside, error);
  auto back = rig.sent_inside();
  REQUIRE(back.size() == 1);
  const auto quote = check_icmp_error(back[0], ip(kServer), client, kIcmpDestUnreachable, 3);
  const auto as_sent = Frame(request).ttl(63).l3_bytes();
  CHECK(quote == std::vector<uint8_t>(as_sent.begin(), as_sent.begin() + 28));
  CHECK_FALSE(mentions(quote, pub.ip));
  free_all(back);
  check_conservation(rig.counters());
}

TEST_CASE("cgnat: hairpin, one client to another's public endpoint", "[cgnat]") {
  const uint32_t a = ip("10.16.1.10");
  const uint32_t b = ip("10.16.1.20");
  const rte_ether_addr b_mac = host_mac(b);

  SECTION("endpoint-independent filtering") {
    NatParams p = nat_params();
    p.endpoint_independent_filtering = true;
    Rig rig(1, p);
    const Endpoint b_pub = open_session(rig, b, 40002);
    const Frame f = from_client(a).dst(b_pub.ip).udp(40000, b_pub.port).payload(50);
    rig.receive(0, kInside, f);
    CHECK(rig.sent_outside().empty());
    auto in = rig.sent_inside();
    REQUIRE(in.size() == 1);
    CHECK(rte_is_same_ether_addr(&eth_of(in[0])->dst_addr, &b_mac));
    const Endpoint a_pub = source_of(in[0]);
    CHECK(in_pool(a_pub.ip));
    CHECK(a_pub.port >= 1024);
    CHECK(l3_of(in[0]) == Frame(f).src(a_pub.ip).dst(b).udp(a_pub.port, 40002).ttl(63).l3_bytes());
    CHECK(l4_checksum_ok(l3_of(in[0])));
    free_all(in);

    // B answers A's public endpoint: back round to A, from B's.
    const Frame answer = from_client(b, 40002).dst(a_pub.ip).udp(40002, a_pub.port);
    rig.receive(0, kInside, answer);
    in = rig.sent_inside();
    REQUIRE(in.size() == 1);
    const rte_ether_addr a_mac = host_mac(a);
    CHECK(rte_is_same_ether_addr(&eth_of(in[0])->dst_addr, &a_mac));
    CHECK(l3_of(in[0]) ==
          Frame(answer).src(b_pub.ip).dst(a).udp(b_pub.port, 40000).ttl(63).l3_bytes());
    free_all(in);
    CHECK(rig.nat[0]->counters().hairpins.read() == 2);
    CHECK(total_drops(rig.counters()) == 0);
    check_conservation(rig.counters());
  }
  SECTION("address-dependent filtering: after B has sent to A's public address") {
    Rig rig;
    const Endpoint a_pub = open_session(rig, a, 40000);
    const Endpoint b_pub = open_session(rig, b, 40002);
    // B first: A's mapping has never sent to B's public address.
    rig.receive(0, kInside, from_client(b, 40002).dst(a_pub.ip).udp(40002, a_pub.port));
    CHECK(rig.sent_inside().empty());
    CHECK(rig.counters().dropped(Drop::nat_filtered) == 1);
    // Now A to B's public endpoint gets through.
    const Frame f = from_client(a).dst(b_pub.ip).udp(40000, b_pub.port);
    rig.receive(0, kInside, f);
    CHECK(rig.sent_outside().empty());
    auto in = rig.sent_inside();
    REQUIRE(in.size() == 1);
    CHECK(rte_is_same_ether_addr(&eth_of(in[0])->dst_addr, &b_mac));
    CHECK(l3_of(in[0]) == Frame(f).src(a_pub.ip).dst(b).udp(a_pub.port, 40002).ttl(63).l3_bytes());
    free_all(in);
    CHECK(total_drops(rig.counters()) == 1);
    check_conservation(rig.counters());
  }
}

TEST_CASE("cgnat: hairpin to a client of another worker goes round by its owner", "[cgnat]") {
  NatParams p = nat_params();
  p.endpoint_independent_filtering = true;
  Rig rig(2, p);
  const uint32_t a = client_of(0, 2);
  const uint32_t b = client_of(1, 2);
  // B's mapping, made by its owner.
  rig.receive(1, kInside, from_client(b, 40002));
  auto out = rig.sent_outside(1);
  REQUIRE(out.size() == 1);
  const Endpoint b_pub = source_of(out[0]);
  free_all(out);

  const Frame f = from_client(a).dst(b_pub.ip).udp(40000, b_pub.port);
  rig.receive(0, kInside, f);  // in2out on worker 0, out2in belongs to worker 1
  CHECK(rig.sent_inside(0).empty());
  CHECK(rig.counters(0).handed_off.read() == 1);
  CHECK(rig.poll(1) == 1);
  auto in = rig.sent_inside(1);
  REQUIRE(in.size() == 1);
  const Endpoint a_pub = source_of(in[0]);
  CHECK(in_pool(a_pub.ip));
  CHECK(l3_of(in[0]) == Frame(f).src(a_pub.ip).dst(b).udp(a_pub.port, 40002).ttl(63).l3_bytes());
  free_all(in);
  for (unsigned w = 0; w < 2; w++) {
    INFO("worker " << w);
    CHECK(total_drops(rig.counters(w)) == 0);
    check_conservation(rig.counters(w));
  }
}

// A UDP datagram cut into fragments carrying `piece` bytes (a multiple of 8)
// of the UDP header and data each.
std::vector<Frame> fragments(const Frame& whole, size_t piece) {
  const auto d = whole.l3_bytes();
  const std::vector<uint8_t> l4(d.begin() + 20, d.end());
  std::vector<Frame> out;
  for (size_t at = 0; at < l4.size(); at += piece) {
    const size_t end = std::min(l4.size(), at + piece);
    out.push_back(Frame(whole)
                      .raw(IPPROTO_UDP)
                      .payload_bytes(std::vector<uint8_t>(l4.begin() + at, l4.begin() + end))
                      .frag_offset(static_cast<uint16_t>(at / 8))
                      .mf(end < l4.size()));
  }
  return out;
}

// Checks the fragments that left (any order) against the datagram they
// should add up to, `expected` (as a whole, after NAT and TTL - 1).
void check_fragments(const std::vector<rte_mbuf*>& sent, const std::vector<Frame>& received,
                     const Frame& expected) {
  REQUIRE(sent.size() == received.size());
  const auto want = expected.l3_bytes();
  std::vector<uint8_t> l4(want.size() - 20, 0);
  for (size_t i = 0; i < sent.size(); i++) {
    INFO("fragment " << i);
    const auto d = l3_of(sent[i]);
    const auto* ip4 = ipv4_at(sent[i], 14);
    CHECK(ip_checksum_ok(ip4));
    // The addresses NAT wrote, in every fragment.
    CHECK(std::vector<uint8_t>(d.begin() + 12, d.begin() + 20) ==
          std::vector<uint8_t>(want.begin() + 12, want.begin() + 20));
    CHECK(be16(&d[4]) == be16(&want[4]));  // IP id
    CHECK(d[8] == want[8]);                // TTL
    const size_t offset = (rte_be_to_cpu_16(ip4->fragment_offset) & 0x1fff) * 8u;
    REQUIRE(offset + d.size() - 20 <= l4.size());
    std::copy(d.begin() + 20, d.end(), l4.begin() + static_cast<ptrdiff_t>(offset));
    if (offset != 0) {
      // A later fragment: only the IP header changed.
      for (const Frame& r : received) {
        const auto rd = r.l3_bytes();
        if ((be16(&rd[6]) & 0x1fff) * 8u == offset) {
          CHECK(std::vector<uint8_t>(d.begin() + 20, d.end()) ==
                std::vector<uint8_t>(rd.begin() + 20, rd.end()));
        }
      }
    }
  }
  // Reassembled: the datagram NAT would have sent unfragmented.
  CHECK(l4 == std::vector<uint8_t>(want.begin() + 20, want.end()));
}

TEST_CASE("cgnat: fragments", "[cgnat]") {
  Rig rig;
  const uint32_t client = ip("10.16.1.10");
  const Frame whole = from_client(client).id(0x5151).payload(1000);  // 1008 bytes of UDP
  const auto frags = fragments(whole, 336);
  REQUIRE(frags.size() == 3);
  std::vector<rte_mbuf*> out;

  SECTION("in order, in separate bursts") {
    for (const Frame& f : frags) {
      rig.receive(0, kInside, f);
      auto got = rig.sent_outside();
      CHECK(got.size() == 1);
      out.insert(out.end(), got.begin(), got.end());
    }
  }
  SECTION("tails first: held until the first fragment, then sent by poll()") {
    rig.receive(0, kInside, frags[2]);
    rig.receive(0, kInside, frags[1]);
    CHECK(rig.sent_outside().empty());
    rig.receive(0, kInside, frags[0]);
    out = rig.sent_outside();
    CHECK(out.size() == 1);
    CHECK(rig.poll(0) == 2);
    auto tails = rig.sent_outside();
    CHECK(tails.size() == 2);
    out.insert(out.end(), tails.begin(), tails.end());
  }
  SECTION("in order, after the session exists, in one burst") {
    open_session(rig, client);
    std::vector<rte_mbuf*> burst;
    for (const Frame& f : frags)
      burst.push_back(f.mbuf());
    rig.receive(0, kInside, burst);
    out = rig.sent_outside();
  }
  REQUIRE(out.size() == 3);
  const Endpoint pub = source_of(out[0]);
  CHECK(in_pool(pub.ip));
  check_fragments(out, frags, Frame(whole).src(pub.ip).udp(pub.port, 53).ttl(63));
  free_all(out);
  CHECK(total_drops(rig.counters()) == 0);
  check_conservation(rig.counters());
}

// Sessions are looked up once per burst, before any is created: a later
// fragment that missed must look again after its first fragment opened the
// session, or every fragment but the first of a new session's datagram is lost.
TEST_CASE("cgnat: a new session's fragments in one burst all leave", "[cgnat]") {
  Rig rig;
  const uint32_t client = ip("10.16.1.10");
  std::vector<rte_mbuf*> burst;
  std::vector<Frame> frags;
  Frame expected;
  uint8_t from = kInside;

  SECTION("from a client, a new mapping") {
    const Frame whole = from_client(client).id(0x5252).payload(1000);
    frags = fragments(whole, 336);
    expected = Frame(whole).ttl(63);
  }
  SECTION("from the outside, a new session on an existing mapping") {
    const Endpoint pub = open_session(rig, client);
    // Another port of the same server: address-dependent filtering lets it in.
    const Frame whole = from_server(pub, 5353).id(0x5353).payload(1000);
    frags = fragments(whole, 336);
    expected = Frame(whole).dst(client).udp(5353, 40000).ttl(49);
    from = kOutside;
  }
  for (const Frame& f : frags)
    burst.push_back(f.mbuf());
  rig.receive(0, from, burst);
  auto out = from == kInside ? rig.sent_outside() : rig.sent_inside();
  CHECK(rig.counters().dropped(Drop::nat_frag_no_session) == 0);
  CHECK(out.size() == 3);
  if (out.size() == 3) {
    if (from == kInside) {
      const Endpoint pub = source_of(out[0]);
      expected.src(pub.ip).udp(pub.port, 53);
    }
    check_fragments(out, frags, expected);
  }
  free_all(out);
}

TEST_CASE("cgnat: a fragmented reply reaches the client", "[cgnat]") {
  Rig rig;
  const uint32_t client = ip("10.16.1.10");
  const Endpoint pub = open_session(rig, client);
  const Frame whole = from_server(pub).id(0x6161).payload(1000);
  const auto frags = fragments(whole, 336);
  std::vector<rte_mbuf*> burst;
  for (const Frame& f : frags)
    burst.push_back(f.mbuf());
  rig.receive(0, kOutside, burst);
  auto in = rig.sent_inside();
  CHECK(rig.sent_outside().empty());
  check_fragments(in, frags, Frame(whole).dst(client).udp(53, 40000).ttl(49));
  free_all(in);
  CHECK(total_drops(rig.counters()) == 0);
  check_conservation(rig.counters());
}

TEST_CASE("cgnat: sessions expire through poll() as the clock advances", "[cgnat]") {
  Rig rig;
  const uint32_t client = ip("10.16.1.10");
  const Endpoint pub = open_session(rig, client);
  NatTable& table = *rig.nat[0];
  CHECK(table.sessions_in_use() == 1);
  CHECK(table.clients_in_use() == 1);

  SECTION("idle: gone after the UDP timeout (300 s), its block after the hold-down") {
    rig.poll(0, kNow + 299 * kSecond);
    CHECK(table.sessions_in_use() == 1);
    rig.poll(0, kNow + 302 * kSecond);
    CHECK(table.sessions_in_use() == 0);
    CHECK(table.mappings_in_use() == 0);
    CHECK(table.clients_in_use() == 1);  // its block is held down for 120 s
    // The public endpoint no longer leads anywhere.
    rig.receive(0, kOutside, from_server(pub), kNow + 303 * kSecond);
    CHECK(rig.sent_inside().empty());
    CHECK(rig.counters().dropped(Drop::nat_no_mapping) == 1);
    rig.poll(0, kNow + (302 + 121) * kSecond);
    CHECK(table.clients_in_use() == 0);
    CHECK(table.blocks().allocated_blocks() == 0);
    CHECK(table.counters().blocks_released.read() == 1);
  }
  SECTION("traffic keeps it alive") {
    rig.receive(0, kInside, from_client(client), kNow + 200 * kSecond);
    auto out = rig.sent_outside();
    REQUIRE(out.size() == 1);
    CHECK(source_of(out[0]).port == pub.port);
    free_all(out);
    rig.poll(0, kNow + 302 * kSecond);
    CHECK(table.sessions_in_use() == 1);
    rig.poll(0, kNow + 502 * kSecond);
    CHECK(table.sessions_in_use() == 0);
  }
  check_conservation(rig.counters());
}

TEST_CASE("cgnat: a client over its port quota is told so (ICMP code 13)", "[cgnat]") {
  NatParams p = nat_params();
  p.pool.block_size = 8;
  p.max_blocks = 1;
  Rig rig(1, p);
  const uint32_t client = ip("10.16.1.10");
  std::vector<rte_mbuf*> burst;
  for (uint16_t i = 0; i < 9; i++)
    burst.push_back(from_client(client, static_cast<uint16_t>(40000 + i)).mbuf());
  rig.receive(0, kInside, burst);
  auto out = rig.sent_outside();
  CHECK(out.size() == 8);
  free_all(out);
  auto back = rig.sent_inside();
  REQUIRE(back.size() == 1);
  const auto quote = check_icmp_error(back[0], ip("10.16.1.1"), client, kIcmpDestUnreachable, 13);
  CHECK(quote == from_client(client, 40008).l3_bytes());
  free_all(back);
  CHECK(rig.counters().dropped(Drop::nat_client_limit) == 1);
  CHECK(rig.counters().icmp_errors_sent.read() == 1);
  check_conservation(rig.counters());
}

}  // namespace
}  // namespace sluice::test
