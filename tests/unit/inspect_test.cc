// Listings through a worker's mailbox (inspect.h, nat_inspect.h) and the NAT
// table's session gauges: a "worker" thread owns the table and serves its
// mailbox, the test thread reads only through ask().
#include <netinet/in.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "nat_inspect.h"
#include "nat_table.h"
#include "pipeline.h"
#include "support.h"

using namespace sluice;
using sluice::test::pool_of;

namespace {

constexpr uint32_t kClient = 0x0a100002;  // 10.16.0.2
constexpr uint32_t kRemote = 0xc0000202;  // 192.0.2.2
constexpr uint32_t kPool = 0xc6336400;    // 198.51.100.0
constexpr uint64_t kNow = 402'500;        // the worker's clock (ms) while it serves

NatParams params() {
  NatParams p;
  p.pool = pool_of(kPool, 4, 1024, 128, 120'000);
  p.sessions = 10'000;  // more than one walk step
  p.clients = 64;
  return p;
}

// The pipeline part a worker runs for listings.
class NatLister final : public Pipeline {
 public:
  explicit NatLister(const NatTable& t) : table_(t) {}
  void process(uint8_t, uint16_t, rte_mbuf**, uint16_t, uint64_t) noexcept override {}
  void inspect(const InspectRequest& q, InspectReply& r, uint64_t now) noexcept override {
    inspect_nat(table_, q, r, now);
  }

 private:
  const NatTable& table_;
};

// A worker thread serving the mailbox until destroyed.
class Worker {
 public:
  Worker(Mailbox& mb, Pipeline& p)
      : thread_([&] {
          while (!stop_.load(std::memory_order_relaxed))
            mb.serve(p, kNow);
        }) {}
  ~Worker() {
    stop_.store(true, std::memory_order_relaxed);
    thread_.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// Every row of a walk, step by step.
std::vector<SessionRow> walk_sessions(Mailbox& mb, InspectFilter f, unsigned* steps) {
  std::vector<SessionRow> rows;
  InspectRequest q;
  q.filter = f;
  InspectReply r;
  *steps = 0;
  do {
    REQUIRE(mb.ask(q, &r, std::chrono::milliseconds(2000)));
    REQUIRE(r.supported);
    rows.insert(rows.end(), r.sessions, r.sessions + r.rows);
    q.cursor = r.cursor;
    ++*steps;
  } while (!r.done);
  return rows;
}

}  // namespace

TEST_CASE("inspect: a walk lists every session once, filtered, from the worker's thread",
          "[inspect]") {
  NatTable t(params(), 0, 1, 1000);
  REQUIRE(t.ok());
  Drop why{};
  // 6,000 UDP sessions of 60 clients, then every third one ends.
  std::vector<uint32_t> made;
  for (uint32_t i = 0; i < 6000; i++) {
    const uint32_t s =
        t.create_outbound(IPPROTO_UDP, kClient + i / 100, static_cast<uint16_t>(10000 + i % 100),
                          kRemote, 53, 1000, &why);
    REQUIRE(s != kNoIndex);
    made.push_back(s);
  }
  // Expire all, then make 4,000 again: freed records are reused, the rest
  // stay free (proto 0) below the high-water mark.
  t.expire(1000 + 400'000, ~0u);
  REQUIRE(t.sessions_in_use() == 0);
  for (uint32_t i = 0; i < 4000; i++) {
    REQUIRE(t.create_outbound(IPPROTO_UDP, kClient + i / 100,
                              static_cast<uint16_t>(20000 + i % 100), kRemote, 53, 402'000,
                              &why) != kNoIndex);
  }
  REQUIRE(t.sessions_high_water() == 6000);

  NatLister lister(t);
  Mailbox mb;
  Worker worker(mb, lister);
  unsigned steps = 0;
  const std::vector<SessionRow> all = walk_sessions(mb, {}, &steps);
  CHECK(all.size() == 4000);
  CHECK(steps > 1);  // bounded steps, never the whole table at once
  for (const SessionRow& r : all) {
    CHECK(r.inside_port >= 20000);  // no freed (older) session listed
    CHECK(r.proto == IPPROTO_UDP);
    CHECK(r.remote_ip == kRemote);
    CHECK(r.idle_ms == 500);
  }
  InspectFilter f;
  f.match = InspectFilter::inside_ip | InspectFilter::inside_port;
  f.inside_ip_value = kClient + 7;
  f.inside_port_value = 20042;
  const std::vector<SessionRow> one = walk_sessions(mb, f, &steps);
  REQUIRE(one.size() == 1);
  CHECK(one[0].inside_ip == kClient + 7);
  CHECK(one[0].public_ip >= kPool);
  CHECK(one[0].public_ip < kPool + 4);

  // Clients: 40 with 100 sessions each; 20 more keep their emptied block
  // through its hold-down, with no session.
  InspectRequest q;
  q.what = InspectWhat::clients;
  InspectReply r;
  uint32_t busy = 0, idle = 0;
  do {
    REQUIRE(mb.ask(q, &r, std::chrono::milliseconds(2000)));
    for (uint32_t i = 0; i < r.rows; i++) {
      CHECK(r.clients[i].blocks == 1);
      CHECK((r.clients[i].sessions == 100 || r.clients[i].sessions == 0));
      (r.clients[i].sessions == 100 ? busy : idle)++;
    }
    q.cursor = r.cursor;
  } while (!r.done);
  CHECK(busy == 40);
  CHECK(idle == 20);

  // The pool: four addresses; 60 blocks and 4,000 ports in use among them.
  q = InspectRequest{};
  q.what = InspectWhat::pool;
  REQUIRE(mb.ask(q, &r, std::chrono::milliseconds(2000)));
  REQUIRE(r.rows == 4);
  uint32_t blocks = 0, ports = 0;
  for (uint32_t i = 0; i < r.rows; i++) {
    CHECK(r.addresses[i].ip == kPool + i);
    blocks += r.addresses[i].blocks_used;
    ports += r.addresses[i].ports_used;
  }
  CHECK(blocks == 60);
  CHECK(ports == 4000);
}

TEST_CASE("inspect: a request nobody serves is withdrawn, and not served later", "[inspect]") {
  NatTable t(params(), 0, 1, 1000);
  NatLister lister(t);
  Mailbox mb;
  InspectReply r;
  CHECK_FALSE(mb.ask(InspectRequest{}, &r, std::chrono::milliseconds(20)));
  r.rows = 77;
  mb.serve(lister, 0);  // finds nothing pending
  // A later request is answered as usual.
  Worker worker(mb, lister);
  REQUIRE(mb.ask(InspectRequest{}, &r, std::chrono::milliseconds(2000)));
  CHECK(r.supported);
  CHECK(r.rows == 0);
  CHECK(r.done);
}

TEST_CASE("NAT gauges: sessions by protocol and TCP state", "[inspect]") {
  NatTable t(params(), 0, 1, 1000);
  Drop why{};
  const uint32_t tcp = t.create_outbound(IPPROTO_TCP, kClient, 40000, kRemote, 80, 1000, &why);
  t.create_outbound(IPPROTO_UDP, kClient, 40000, kRemote, 53, 1000, &why);
  t.create_outbound(IPPROTO_ICMP, kClient, 7, kRemote, 0, 1000, &why);
  const NatGauges& g = t.gauges();
  const auto state = [&](TcpState s) { return g.tcp_states[static_cast<unsigned>(s)].read(); };
  CHECK(g.tcp.read() == 1);
  CHECK(g.udp.read() == 1);
  CHECK(g.icmp.read() == 1);
  CHECK(state(TcpState::closed) == 1);
  t.tcp_segment(tcp, true, kTcpFlagSyn, 1000);
  t.tcp_segment(tcp, false, kTcpFlagSyn | kTcpFlagAck, 1000);
  CHECK(state(TcpState::closed) == 0);
  CHECK(state(TcpState::established) == 1);
  t.tcp_segment(tcp, true, kTcpFlagRst, 1000);
  CHECK(state(TcpState::established) == 0);
  CHECK(state(TcpState::transitory) == 1);
  t.expire(1000 + 8'000'000, ~0u);  // past every timeout
  CHECK(t.sessions_in_use() == 0);
  CHECK(g.tcp.read() + g.udp.read() + g.icmp.read() == 0);
  for (unsigned s = 0; s < kTcpStates; s++)
    CHECK(g.tcp_states[s].read() == 0);
}
