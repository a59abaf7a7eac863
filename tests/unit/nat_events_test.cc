// NAT events (dataplane/nat_events.h) from packets in: packets go through
// Nat44 over a NatTable whose events go to a real SPSC ring, and the test
// reads back the 64-byte records: what each session, flow record, port block
// and refusal carries, when a flow record is due, what a full ring does with
// and without accountability, and what end_all() closes. The clock is
// injected, in milliseconds.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <rte_ring.h>
#include <rte_tcp.h>

#include <atomic>
#include <string>
#include <vector>

#include "counters.h"
#include "nat44.h"
#include "nat_events.h"
#include "nat_table.h"
#include "packet_builder.h"
#include "sink.h"
#include "support.h"
#include "token_bucket.h"

namespace sluice::test {
namespace {

constexpr uint64_t kStart = 5'000'000;
constexpr uint32_t kUdpTimeout = 30'000;
constexpr uint32_t kActive = 10'000;
const uint32_t kClient = ip("10.16.1.10");
const uint32_t kRemote = ip("203.0.113.1");

std::string unique_name() {
  static std::atomic<unsigned> serial{0};
  return "events_test" + std::to_string(serial.fetch_add(1));
}

NatParams params(unsigned max_blocks = 4, unsigned addresses = 2) {
  NatParams p;
  p.pool = pool_of(ip("198.51.100.1"), addresses, 1024, 64, 120'000);
  p.sessions = 256;
  p.clients = 32;
  p.max_blocks = max_blocks;
  p.udp_timeout_ms = kUdpTimeout;
  p.tcp_established_timeout_ms = 600'000;
  p.tcp_transitory_timeout_ms = 60'000;
  p.icmp_timeout_ms = 20'000;
  p.seed = 3;
  return p;
}

struct Rig {
  explicit Rig(const NatParams& p = params(), unsigned ring_size = 1024, bool accountable = false)
      : ring(rte_ring_create_elem(unique_name().c_str(), sizeof(NatEvent), ring_size, SOCKET_ID_ANY,
                                  RING_F_SP_ENQ | RING_F_SC_DEQ)),
        events(ring, accountable),
        table(p, 0, 1, kStart),
        nat(table, Nat44Options{false, ip("10.16.1.1"), 1000}, 0, 1, sink, limit) {
    REQUIRE(ring != nullptr);
    REQUIRE(table.ok());
    table.attach_events(&events, kActive);
  }
  ~Rig() { rte_ring_free(ring); }

  // Sends one packet; true when it came out translated.
  bool send(const Frame& f, bool from_inside) {
    rte_mbuf* m = f.l3_mbuf();
    REQUIRE(m != nullptr);
    rte_mbuf* hairpin[kBurst];
    uint16_t hairpins = 0;
    const uint16_t n =
        from_inside ? nat.in2out(&m, 1, now, hairpin, &hairpins) : nat.out2in(&m, 1, now);
    if (n == 1) {
      last_out = contents(m);
      rte_pktmbuf_free(m);
    }
    return n == 1;
  }
  // Public endpoint of the last packet sent out.
  uint32_t last_src_ip() const { return be32(&last_out[12]); }
  uint16_t last_src_port() const { return static_cast<uint16_t>(last_out[20] << 8 | last_out[21]); }
  static uint32_t be32(const uint8_t* p) {
    return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
  }

  std::vector<NatEvent> take() {
    std::vector<NatEvent> v(rte_ring_count(ring));
    const unsigned n =
        rte_ring_sc_dequeue_burst_elem(ring, v.data(), sizeof(NatEvent), v.size(), nullptr);
    v.resize(n);
    return v;
  }

  LeakCheck leaks;
  PuntRing punts;
  WorkerCounters counters;
  PacketSink sink{counters, punts.get()};
  TokenBucket limit{1000, 100, 1000};
  rte_ring* ring;
  NatEvents events;
  NatTable table;
  Nat44 nat;
  uint64_t now = kStart;
  std::vector<uint8_t> last_out;
};

Frame udp_out(uint16_t sport, uint16_t payload = 100, uint32_t client = kClient) {
  return Frame().src(client).dst(kRemote).udp(sport, 53).payload(payload);
}

}  // namespace

TEST_CASE("NAT events: a UDP session from its port block to its last flow record", "[export]") {
  Rig rig;
  REQUIRE(rig.send(udp_out(5000, 100), true));
  const uint32_t pub = rig.last_src_ip();
  const uint16_t port = rig.last_src_port();
  std::vector<NatEvent> ev = rig.take();
  REQUIRE(ev.size() == 2);

  INFO("the client's first port block comes first, then the session");
  CHECK(ev[0].type == NatEventType::block_allocate);
  CHECK(ev[0].time_ms == kStart);
  CHECK(ip_text(ev[0].inside_ip) == "10.16.1.10");
  CHECK(ev[0].public_ip == pub);
  CHECK(ev[0].public_port <= port);
  CHECK(ev[0].remote_port == ev[0].public_port + 63);  // a block of 64 ports
  CHECK(port <= ev[0].remote_port);

  const NatEvent& c = ev[1];
  CHECK(c.type == NatEventType::session_create);
  CHECK(c.time_ms == kStart);
  CHECK(c.proto == IPPROTO_UDP);
  CHECK(c.inside_ip == kClient);
  CHECK(c.inside_port == 5000);
  CHECK(c.public_ip == pub);
  CHECK(c.public_port == port);
  CHECK(c.remote_ip == kRemote);
  CHECK(c.remote_port == 53);

  // Two answers and one more packet out, within the active timeout.
  rig.now += 1000;
  REQUIRE(rig.send(Frame().src(kRemote).dst(pub).udp(53, port).payload(300), false));
  REQUIRE(rig.send(Frame().src(kRemote).dst(pub).udp(53, port).payload(20), false));
  rig.now += 2000;
  REQUIRE(rig.send(udp_out(5000, 50), true));
  CHECK(rig.take().empty());
  rig.events.counters();
  // The session's own counter of policed packets (the policer's) goes out too.
  const SessionKey key{kClient, kRemote, 5000, 53, IPPROTO_UDP, 0, 0};
  rig.table.session(rig.table.lookup(key)).policed = 7;

  // Idle for the UDP timeout: deleted, with the counts since its creation.
  rig.now += kUdpTimeout + 1000;
  rig.table.expire(rig.now, ~0u);
  ev = rig.take();
  REQUIRE(ev.size() == 1);
  const NatEvent& d = ev[0];
  CHECK(d.type == NatEventType::session_delete);
  CHECK(d.time_ms == rig.now);
  CHECK(d.public_port == port);
  CHECK(d.end == FlowEnd::idle_timeout);
  CHECK(d.packets_out == 2);
  CHECK(d.bytes_out == (20 + 8 + 100) + (20 + 8 + 50));
  CHECK(d.packets_in == 2);
  CHECK(d.bytes_in == (20 + 8 + 300) + (20 + 8 + 20));
  CHECK(d.policed == 7);
  CHECK(d.time_ms - d.start_age_ms == kStart);
  CHECK(d.time_ms - d.last_age_ms == kStart + 3000);
  CHECK(rig.events.counters().queued.read() == 3);
  CHECK(rig.events.counters().ring_full.read() == 0);
}

TEST_CASE("NAT events: flow records every active timeout, counts since the last one", "[export]") {
  Rig rig;
  REQUIRE(rig.send(udp_out(6000, 72), true));
  rig.take();
  uint32_t total = 0;
  // A packet a second for 25 s: records at 10 s and 20 s.
  std::vector<NatEvent> records;
  for (int i = 1; i <= 25; i++) {
    rig.now += 1000;
    REQUIRE(rig.send(udp_out(6000, 72), true));
    for (const NatEvent& e : rig.take())
      records.push_back(e);
  }
  REQUIRE(records.size() == 2);
  for (const NatEvent& e : records) {
    CHECK(e.type == NatEventType::flow_update);
    CHECK(e.end == FlowEnd::active_timeout);
    CHECK(e.time_ms - e.start_age_ms == kStart);  // the flow's start, every time
    total += e.packets_out;
  }
  CHECK(records[0].time_ms == kStart + 10'000);
  CHECK(records[0].packets_out == 11);  // the first packet and ten more
  CHECK(records[1].time_ms == kStart + 20'000);
  CHECK(records[1].packets_out == 10);
  CHECK(records[1].bytes_out == 10 * 100);
  rig.now += kUdpTimeout + 1000;
  rig.table.expire(rig.now, ~0u);
  const std::vector<NatEvent> last = rig.take();
  REQUIRE(last.size() == 1);
  CHECK(last[0].packets_out == 5);
  CHECK(total + last[0].packets_out == 26);
}

TEST_CASE("NAT events: a TCP connection ends with its flags and end of flow", "[export]") {
  Rig rig;
  const uint8_t SYN = RTE_TCP_SYN_FLAG, ACK = RTE_TCP_ACK_FLAG, FIN = RTE_TCP_FIN_FLAG;
  REQUIRE(rig.send(Frame().src(kClient).dst(kRemote).tcp(7000, 443).tcp_flags(SYN), true));
  const uint32_t pub = rig.last_src_ip();
  const uint16_t port = rig.last_src_port();
  const auto in = [&](uint8_t flags) {
    return rig.send(Frame().src(kRemote).dst(pub).tcp(443, port).tcp_flags(flags), false);
  };
  const auto out = [&](uint8_t flags) {
    return rig.send(Frame().src(kClient).dst(kRemote).tcp(7000, 443).tcp_flags(flags), true);
  };
  REQUIRE(in(SYN | ACK));
  REQUIRE(out(ACK));
  REQUIRE(out(FIN | ACK));
  REQUIRE(in(FIN | ACK));
  REQUIRE(out(ACK));
  rig.take();
  rig.now += 60'000 + 1000;  // the transitory timeout after both FINs
  rig.table.expire(rig.now, ~0u);
  const std::vector<NatEvent> ev = rig.take();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].type == NatEventType::session_delete);
  CHECK(ev[0].end == FlowEnd::end_of_flow);
  CHECK(ev[0].tcp_flags == (SYN | ACK | FIN));
  CHECK(ev[0].packets_out == 4);
  CHECK(ev[0].packets_in == 2);
}

TEST_CASE("NAT events: refused sessions say which limit", "[export]") {
  SECTION("the client's port quota: quota exceeded, per user") {
    Rig rig(params(1, 2));  // one block of 64 ports per client
    for (uint16_t p = 0; p < 64; p++)
      REQUIRE(rig.send(udp_out(static_cast<uint16_t>(10000 + p)), true));
    rig.take();
    CHECK_FALSE(rig.send(udp_out(20000), true));
    const std::vector<NatEvent> ev = rig.take();
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].type == NatEventType::quota_exceeded);
    CHECK(ev[0].quota == QuotaLimit::per_user);
    CHECK(ev[0].inside_ip == kClient);
    CHECK(ev[0].proto == IPPROTO_UDP);
  }
  SECTION("no free block: ports exhausted on the client's address, else addresses exhausted") {
    NatParams p = params(64, 1);
    p.pool.port_min = 65536 - 2 * 64;  // one address, two blocks
    Rig rig(p);
    for (uint16_t i = 0; i < 128; i++)
      REQUIRE(rig.send(udp_out(static_cast<uint16_t>(10000 + i)), true));
    rig.take();
    CHECK_FALSE(rig.send(udp_out(20000), true));
    std::vector<NatEvent> ev = rig.take();
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].type == NatEventType::ports_exhausted);
    CHECK(ip_text(ev[0].public_ip) == "198.51.100.1");
    CHECK_FALSE(rig.send(udp_out(20000, 10, ip("10.16.1.11")), true));
    ev = rig.take();
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].type == NatEventType::addresses_exhausted);
    CHECK(ip_text(ev[0].inside_ip) == "10.16.1.11");
    CHECK(ev[0].public_ip == 0);
  }
}

TEST_CASE(
    "NAT events: a client hammering its quota is logged at the refusal rate, the rest "
    "counted",
    "[export]") {
  Rig rig(params(1, 2));  // one block of 64 ports per client
  for (uint16_t p = 0; p < 64; p++)
    REQUIRE(rig.send(udp_out(static_cast<uint16_t>(10000 + p)), true));
  rig.take();
  const auto hammer = [&](unsigned packets) {
    for (unsigned i = 0; i < packets; i++)
      CHECK_FALSE(rig.send(udp_out(static_cast<uint16_t>(20000 + i % 1000)), true));
  };
  const auto refusals = [&] {
    unsigned n = 0;
    for (const NatEvent& e : rig.take()) {
      CHECK(e.type == NatEventType::quota_exceeded);
      n++;
    }
    return n;
  };
  const uint64_t limit_drops = rig.counters.dropped(Drop::nat_client_limit);
  // 5,000 refused packets at one instant: a second's worth of events.
  hammer(5000);
  CHECK(refusals() == NatEvents::kRefusalsPerSecond);
  CHECK(rig.events.counters().refusals_suppressed.read() == 5000 - NatEvents::kRefusalsPerSecond);
  // Every refused packet is still a drop by its reason.
  CHECK(rig.counters.dropped(Drop::nat_client_limit) - limit_drops == 5000);
  // 100 ms later, a tenth of the rate again; a second later, a full burst.
  rig.now += 100;
  hammer(1000);
  CHECK(refusals() == NatEvents::kRefusalsPerSecond / 10);
  rig.now += 1000;
  hammer(1000);
  CHECK(refusals() == NatEvents::kRefusalsPerSecond);
  CHECK(rig.events.counters().queued.read() ==
        64 + 1 + 2 * NatEvents::kRefusalsPerSecond + NatEvents::kRefusalsPerSecond / 10);
  CHECK(rig.events.counters().ring_full.read() == 0);
}

TEST_CASE("NAT events: rate 0 exports no refusal, counts each", "[export]") {
  rte_ring* ring = rte_ring_create_elem("refusal_rate0", sizeof(NatEvent), 64, SOCKET_ID_ANY,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
  REQUIRE(ring != nullptr);
  NatEvents events(ring, false, 0);
  for (uint64_t t = 0; t < 10; t++)
    events.refused(NatEventType::ports_exhausted, QuotaLimit::none, IPPROTO_TCP, kClient, 0,
                   kStart + t * 1000);
  CHECK(rte_ring_count(ring) == 0);
  CHECK(events.counters().refusals_suppressed.read() == 10);
  rte_ring_free(ring);
}

TEST_CASE("NAT events: a full ring is counted; accountability refuses instead", "[export]") {
  SECTION("without accountability the sessions are made and the lost events counted") {
    Rig rig(params(), 1024);
    // 1023 slots: a block and then sessions fill it; the rest are lost.
    for (uint16_t i = 0; i < 200; i++)
      REQUIRE(rig.send(udp_out(static_cast<uint16_t>(10000 + i)), true));
    const uint64_t queued = rig.events.counters().queued.read();
    CHECK(queued + rig.events.counters().ring_full.read() == 200 + 4);  // 200 sessions, 4 blocks
    CHECK(rig.events.counters().ring_full.read() == 0);
    NatParams p = params(64, 2);
    p.sessions = 2048;
    Rig small(p, 64);
    for (uint16_t i = 0; i < 100; i++)
      REQUIRE(small.send(udp_out(static_cast<uint16_t>(10000 + i)), true));
    CHECK(small.events.counters().queued.read() == 63);
    CHECK(small.events.counters().ring_full.read() == 100 + 2 - 63);
    CHECK(small.counters.dropped(Drop::nat_unaccountable) == 0);
  }
  SECTION("with accountability a session whose creation cannot be queued is refused") {
    NatParams p = params(64, 2);
    p.sessions = 2048;
    Rig rig(p, 64, true);
    unsigned made = 0;
    for (uint16_t i = 0; i < 100; i++)
      made += rig.send(udp_out(static_cast<uint16_t>(10000 + i)), true) ? 1 : 0;
    CHECK(rig.events.counters().ring_full.read() == 0);
    CHECK(made == rig.events.counters().queued.read() - 1);  // less the block
    CHECK(rig.counters.dropped(Drop::nat_unaccountable) == 100 - made);
    INFO("once the exporter has drained the ring, sessions are made again");
    const std::vector<NatEvent> ev = rig.take();
    CHECK(ev.size() == made + 1);
    CHECK(rig.send(udp_out(30000), true));
    CHECK(rig.take().back().type == NatEventType::session_create);
  }
}

TEST_CASE("NAT events: end_all closes every session and block still held", "[export]") {
  Rig rig;
  for (uint16_t i = 0; i < 3; i++)
    REQUIRE(rig.send(udp_out(static_cast<uint16_t>(10000 + i)), true));
  REQUIRE(rig.send(udp_out(10000, 10, ip("10.16.1.11")), true));
  rig.take();
  rig.now += 5000;
  rig.table.end_all(rig.now);
  const std::vector<NatEvent> ev = rig.take();
  unsigned deletes = 0;
  unsigned releases = 0;
  for (const NatEvent& e : ev) {
    if (e.type == NatEventType::session_delete) {
      deletes++;
      CHECK(e.end == FlowEnd::forced_end);
      CHECK(e.packets_out == 1);
    }
    if (e.type == NatEventType::block_release) releases++;
  }
  CHECK(deletes == 4);
  CHECK(releases == 2);
  CHECK(ev.size() == 6);
}

}  // namespace sluice::test
