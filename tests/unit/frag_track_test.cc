// FragTracker (dataplane/frag_track.h): later fragments carry the ports of
// their first fragment in their metadata; fragments ahead of their first are
// held and released; every bound is a counted drop; nothing leaks.
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include <cstdint>
#include <vector>

#include "counters.h"
#include "frag_track.h"
#include "packet.h"
#include "packet_builder.h"
#include "support.h"

namespace sluice::test {
namespace {

using Bytes = std::vector<uint8_t>;
using Burst = std::vector<rte_mbuf*>;

constexpr uint16_t kRxPort = 7;

// The datagram as its sender built it, split at the given payload sizes
// (multiples of 8) with the rest in the last fragment: real fragments, header
// copied, length, MF, offset and header checksum set for each.
std::vector<Bytes> split(const Frame& whole, const std::vector<uint16_t>& sizes) {
  const Bytes d = whole.l3_bytes();
  REQUIRE((d[0] & 0xf) == 5);
  const Bytes payload(d.begin() + 20, d.end());
  std::vector<Bytes> out;
  size_t off = 0;
  for (size_t i = 0; i <= sizes.size(); i++) {
    const bool more = i < sizes.size();
    const size_t len = more ? sizes[i] : payload.size() - off;
    REQUIRE(off + len <= payload.size());
    Bytes f(d.begin(), d.begin() + 20);
    const auto total = static_cast<uint16_t>(20 + len);
    const auto frag = static_cast<uint16_t>((d[6] & 0x40) << 8 | (more ? 0x2000 : 0) | off / 8);
    f[2] = static_cast<uint8_t>(total >> 8);
    f[3] = static_cast<uint8_t>(total);
    f[6] = static_cast<uint8_t>(frag >> 8);
    f[7] = static_cast<uint8_t>(frag);
    f[10] = f[11] = 0;
    const uint16_t c = fold_complement(sum16(f.data(), 20));
    f[10] = static_cast<uint8_t>(c >> 8);
    f[11] = static_cast<uint8_t>(c);
    f.insert(f.end(), payload.begin() + off, payload.begin() + off + len);
    out.push_back(std::move(f));
    off += len;
  }
  return out;
}

// A UDP datagram of 64 payload bytes (8 of header, 56 of data) in three
// fragments: 24 bytes at 0 (with the UDP header), 24 at 24, 16 at 48.
Frame udp_datagram(uint16_t id, uint16_t sport = 40000, uint16_t dport = 53) {
  return Frame().src("10.16.1.10").dst("198.51.100.7").id(id).udp(sport, dport).payload(56);
}
std::vector<Bytes> three(const Frame& whole) {
  return split(whole, {24, 24});
}

// A non-first fragment of 8 bytes at offset units*8 of a UDP datagram.
Bytes tail(uint16_t id, uint16_t units, bool more = true) {
  return Frame()
      .src("10.16.1.10")
      .dst("198.51.100.7")
      .id(id)
      .raw(IPPROTO_UDP)
      .payload(8)
      .frag_offset(units)
      .mf(more)
      .l3_bytes();
}

// What parse_stage hands on: data at the IPv4 header, meta set, flags 0.
rte_mbuf* packet(const Bytes& b, uint8_t iface = 0, uint16_t rx_port = kRxPort) {
  rte_mbuf* m = Frame::to_mbuf(b);
  REQUIRE(m != nullptr);
  PacketMeta& pm = meta(m);
  pm = PacketMeta{};
  pm.iface = iface;
  pm.rx_port = rx_port;
  return m;
}

struct Rig {
  explicit Rig(const FragConfig& cfg = {}) : tracker(cfg, sink) {}

  // The survivors of one process() call, in order (the caller frees them).
  Burst run(Burst pkts, uint64_t now_ms) {
    REQUIRE(pkts.size() <= kBurst);
    const uint16_t kept = tracker.process(pkts.data(), static_cast<uint16_t>(pkts.size()), now_ms);
    REQUIRE(kept <= pkts.size());
    pkts.resize(kept);
    return pkts;
  }
  Burst ready() {
    Burst out;
    rte_mbuf* buf[4];
    while (const uint16_t n = tracker.take_ready(buf, 4))
      out.insert(out.end(), buf, buf + n);
    return out;
  }

  WorkerCounters counters;
  PuntRing punts;
  PacketSink sink{counters, punts.get()};
  FragTracker tracker;
};

void check_tail(rte_mbuf* m, uint16_t l4_src, uint16_t l4_dst) {
  const PacketMeta& pm = meta(m);
  CHECK(pm.flags == kMetaFragTail);
  CHECK(pm.l4_src == l4_src);
  CHECK(pm.l4_dst == l4_dst);
}
void check_untouched(rte_mbuf* m) {
  const PacketMeta& pm = meta(m);
  CHECK(pm.flags == 0);
  CHECK(pm.l4_src == 0);
  CHECK(pm.l4_dst == 0);
}

TEST_CASE("frag: packets that are not fragments pass untouched", "[frag]") {
  LeakCheck leaks;
  Rig rig;
  const Bytes udp = udp_datagram(1).l3_bytes();
  const Bytes tcp = Frame().tcp(40000, 443).l3_bytes();
  const Bytes echo = Frame().echo_request(0x77).df().l3_bytes();
  Burst in = {packet(udp), packet(tcp), packet(echo)};
  Burst out = rig.run(in, 1000);
  CHECK(out == in);
  for (rte_mbuf* m : out)
    check_untouched(m);
  CHECK(contents(out[0]) == udp);
  CHECK(contents(out[1]) == tcp);
  CHECK(contents(out[2]) == echo);
  CHECK(rig.tracker.tracked() == 0);
  CHECK(total_drops(rig.counters) == 0);
  free_all(out);
}

TEST_CASE("frag: later fragments carry what their first fragment says", "[frag]") {
  struct Case {
    const char* description;
    Frame whole;  // 64 bytes after the IP header
    uint16_t l4_src;
    uint16_t l4_dst;
  };
  const Frame f = Frame().src("10.16.1.10").dst("198.51.100.7").id(0x99);
  const std::vector<Case> cases = {
      {"UDP: its ports", Frame(f).udp(40000, 53).payload(56), 40000, 53},
      {"TCP: its ports", Frame(f).tcp(40001, 443).payload(44), 40001, 443},
      {"ICMP echo request: its id", Frame(f).echo_request(0x77).payload(56), 0x77, 0x77},
      {"ICMP echo reply: its id", Frame(f).icmp(RTE_IP_ICMP_ECHO_REPLY, 0, 0x78).payload(56), 0x78,
       0x78},
      {"ICMP timestamp request: its id", Frame(f).icmp(13, 0, 0x79).payload(56), 0x79, 0x79},
      {"ICMP timestamp reply: its id", Frame(f).icmp(14, 0, 0x7a).payload(56), 0x7a, 0x7a},
      {"ICMP error: 0/0", Frame(f).icmp(3, 1, 0x7b).payload(56), 0, 0},
      {"GRE: 0/0", Frame(f).raw(47).payload(64), 0, 0},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.description) {
      LeakCheck leaks;
      Rig rig;
      const auto frags = three(c.whole);
      const Burst in = {packet(frags[0]), packet(frags[1]), packet(frags[2])};
      Burst out = rig.run(in, 1000);
      REQUIRE(out == in);
      check_untouched(out[0]);
      check_tail(out[1], c.l4_src, c.l4_dst);
      check_tail(out[2], c.l4_src, c.l4_dst);
      CHECK(contents(out[1]) == frags[1]);
      CHECK(rig.tracker.tracked() == 0);  // complete
      CHECK(total_drops(rig.counters) == 0);
      free_all(out);
    }
  }
}

TEST_CASE("frag: an entry lives until its datagram is complete", "[frag]") {
  LeakCheck leaks;
  Rig rig;
  const auto frags = three(udp_datagram(5, 1111, 2222));
  Burst out = rig.run({packet(frags[0])}, 0);
  CHECK(out.size() == 1);
  CHECK(rig.tracker.tracked() == 1);
  free_all(out);

  SECTION("tails in order") {
    out = rig.run({packet(frags[1])}, 10);
    REQUIRE(out.size() == 1);
    check_tail(out[0], 1111, 2222);
    CHECK(rig.tracker.tracked() == 1);
    free_all(out);
    out = rig.run({packet(frags[2])}, 20);
    REQUIRE(out.size() == 1);
    check_tail(out[0], 1111, 2222);
    CHECK(rig.tracker.tracked() == 0);
    free_all(out);
  }
  SECTION("the last fragment before the middle one") {
    out = rig.run({packet(frags[2])}, 10);
    REQUIRE(out.size() == 1);
    check_tail(out[0], 1111, 2222);
    CHECK(rig.tracker.tracked() == 1);  // 40 of 64 bytes seen
    free_all(out);
    out = rig.run({packet(frags[1])}, 20);
    REQUIRE(out.size() == 1);
    check_tail(out[0], 1111, 2222);
    CHECK(rig.tracker.tracked() == 0);
    free_all(out);
  }
  CHECK(total_drops(rig.counters) == 0);
}

TEST_CASE("frag: fragments ahead of their first are held, then released annotated", "[frag]") {
  LeakCheck leaks;
  Rig rig;
  const auto frags = three(udp_datagram(5, 1111, 2222));
  rte_mbuf* last = packet(frags[2], 1, 3);
  rte_mbuf* middle = packet(frags[1], 0, 7);
  Burst out = rig.run({last, middle}, 0);
  CHECK(out.empty());
  CHECK(rig.tracker.held() == 2);
  CHECK(rig.tracker.tracked() == 1);
  CHECK(rig.ready().empty());

  rte_mbuf* first = packet(frags[0]);
  out = rig.run({first}, 5);
  CHECK(out == Burst{first});
  check_untouched(first);
  CHECK(rig.tracker.held() == 0);
  CHECK(rig.tracker.ready() == 2);
  CHECK(rig.tracker.tracked() == 0);  // complete: every byte seen

  rte_mbuf* one[1];
  REQUIRE(rig.tracker.take_ready(one, 1) == 1);
  CHECK(one[0] == last);  // in the order they arrived
  Burst rest = rig.ready();
  CHECK(rest == Burst{middle});
  check_tail(last, 1111, 2222);
  check_tail(middle, 1111, 2222);
  CHECK(meta(last).iface == 1);  // where they came from, kept
  CHECK(meta(last).rx_port == 3);
  CHECK(meta(middle).iface == 0);
  CHECK(meta(middle).rx_port == 7);
  CHECK(contents(last) == frags[2]);
  CHECK(rig.tracker.ready() == 0);
  CHECK(total_drops(rig.counters) == 0);
  free_all(out);
  rte_pktmbuf_free(last);
  free_all(rest);
}

TEST_CASE("frag: interleaved datagrams are independent", "[frag]") {
  LeakCheck leaks;
  Rig rig;
  const auto a = three(udp_datagram(1, 1111, 53));
  const auto b = three(udp_datagram(2, 2222, 54));
  rte_mbuf* a0 = packet(a[0]);
  rte_mbuf* a1 = packet(a[1]);
  rte_mbuf* a2 = packet(a[2]);
  rte_mbuf* b0 = packet(b[0]);
  rte_mbuf* b1 = packet(b[1]);
  rte_mbuf* b2 = packet(b[2]);
  Burst out = rig.run({a0, b1, a1, b0, a2, b2}, 0);
  CHECK(out == Burst{a0, a1, b0, a2, b2});
  check_tail(a1, 1111, 53);
  check_tail(a2, 1111, 53);
  check_tail(b2, 2222, 54);
  Burst ready = rig.ready();
  CHECK(ready == Burst{b1});
  check_tail(b1, 2222, 54);
  CHECK(rig.tracker.tracked() == 0);
  free_all(out);
  free_all(ready);
}

TEST_CASE("frag: the same id from another source or protocol is another datagram", "[frag]") {
  LeakCheck leaks;
  Rig rig;
  const auto a = three(udp_datagram(7, 1111, 53));
  const auto b = three(udp_datagram(7, 2222, 53).src("10.16.1.11"));
  const auto c = three(Frame().src("10.16.1.10").dst("198.51.100.7").id(7).tcp(3333).payload(44));
  rte_mbuf* a0 = packet(a[0]);
  rte_mbuf* a1 = packet(a[1]);
  rte_mbuf* b0 = packet(b[0]);
  rte_mbuf* b1 = packet(b[1]);
  rte_mbuf* c1 = packet(c[1]);
  Burst out = rig.run({a0, b0, c1, a1, b1}, 0);
  CHECK(out == Burst{a0, b0, a1, b1});
  check_tail(a1, 1111, 53);
  check_tail(b1, 2222, 53);
  CHECK(rig.tracker.held() == 1);  // c1: TCP's first fragment never came
  CHECK(rig.tracker.tracked() == 3);
  free_all(out);
}

TEST_CASE("frag: entries and what they hold time out", "[frag]") {
  LeakCheck leaks;
  FragConfig cfg;
  cfg.timeout_ms = 2000;
  Rig rig(cfg);
  const auto d = three(udp_datagram(9, 1111, 2222));

  SECTION("held fragments are dropped and counted") {
    CHECK(rig.run({packet(d[1]), packet(d[2])}, 1000).empty());
    rig.tracker.expire(2999, 1024);
    CHECK(rig.tracker.held() == 2);
    rig.tracker.expire(3000, 1024);
    CHECK(rig.tracker.held() == 0);
    CHECK(rig.tracker.tracked() == 0);
    CHECK(rig.counters.dropped(Drop::frag_timeout) == 2);
    // The first fragment, too late: a new entry, nothing released.
    Burst out = rig.run({packet(d[0])}, 3100);
    CHECK(out.size() == 1);
    CHECK(rig.tracker.ready() == 0);
    CHECK(rig.tracker.tracked() == 1);
    free_all(out);
  }
  SECTION("each fragment extends its entry's life; then it is forgotten") {
    Burst out = rig.run({packet(d[0])}, 0);
    free_all(out);
    out = rig.run({packet(d[1])}, 1500);
    REQUIRE(out.size() == 1);
    check_tail(out[0], 1111, 2222);
    free_all(out);
    rig.tracker.expire(3000, 1024);
    CHECK(rig.tracker.tracked() == 1);
    rig.tracker.expire(3500, 1024);
    CHECK(rig.tracker.tracked() == 0);
    CHECK(rig.counters.dropped(Drop::frag_timeout) == 0);  // it held nothing
    // The last fragment now knows no ports: held, not annotated.
    CHECK(rig.run({packet(d[2])}, 3600).empty());
    CHECK(rig.tracker.held() == 1);
  }
  SECTION("a stale entry is never used, even before expire() comes by") {
    Burst out = rig.run({packet(d[0])}, 0);
    free_all(out);
    CHECK(rig.run({packet(d[2])}, 5000).empty());
    CHECK(rig.tracker.held() == 1);
    CHECK(rig.tracker.tracked() == 1);
  }
  SECTION("a first fragment after the timeout drops what its stale entry held") {
    CHECK(rig.run({packet(d[1])}, 0).empty());
    Burst out = rig.run({packet(d[0])}, 2000);
    CHECK(out.size() == 1);
    CHECK(rig.tracker.ready() == 0);
    CHECK(rig.counters.dropped(Drop::frag_timeout) == 1);
    free_all(out);
  }
  SECTION("across the 32-bit wrap of the millisecond clock") {
    const uint64_t t = (uint64_t{1} << 32) - 500;
    Burst out = rig.run({packet(d[0])}, t);
    free_all(out);
    out = rig.run({packet(d[1])}, t + 1000);
    REQUIRE(out.size() == 1);
    check_tail(out[0], 1111, 2222);
    free_all(out);
    rig.tracker.expire(t + 2999, 1024);
    CHECK(rig.tracker.tracked() == 1);
    rig.tracker.expire(t + 3000, 1024);
    CHECK(rig.tracker.tracked() == 0);
  }
}

TEST_CASE("frag: expire() does bounded work per call", "[frag]") {
  LeakCheck leaks;
  FragConfig cfg;
  cfg.entries = 8;
  Rig rig(cfg);
  Burst in;
  for (uint16_t id = 1; id <= 8; id++)
    in.push_back(packet(tail(id, 3)));
  CHECK(rig.run(in, 0).empty());
  CHECK(rig.tracker.tracked() == 8);
  CHECK(rig.tracker.held() == 8);
  rig.tracker.expire(cfg.timeout_ms, 3);
  CHECK(rig.tracker.tracked() == 5);
  CHECK(rig.tracker.held() == 5);
  CHECK(rig.counters.dropped(Drop::frag_timeout) == 3);
  rig.tracker.expire(cfg.timeout_ms, 1000);
  CHECK(rig.tracker.tracked() == 0);
  CHECK(rig.tracker.held() == 0);
  CHECK(rig.counters.dropped(Drop::frag_timeout) == 8);
}

TEST_CASE("frag: held fragments are bounded, beyond is frag-held-full", "[frag]") {
  LeakCheck leaks;

  SECTION("the pool") {
    FragConfig cfg;
    cfg.held = 4;
    Rig rig(cfg);
    Burst in;
    for (uint16_t id = 1; id <= 5; id++)
      in.push_back(packet(tail(id, 3)));
    CHECK(rig.run(in, 0).empty());
    CHECK(rig.tracker.held() == 4);
    CHECK(rig.counters.dropped(Drop::frag_held_full) == 1);
    CHECK(rig.tracker.tracked() == 4);  // no entry left behind for the dropped one
  }
  SECTION("per datagram") {
    Rig rig;
    Burst in;
    for (uint16_t i = 0; i <= FragTracker::kMaxHeldPerDatagram; i++) {
      in.push_back(packet(tail(1, 3 + i)));
      if (in.size() == kBurst) {
        CHECK(rig.run(in, 0).empty());
        in.clear();
      }
    }
    CHECK(rig.run(in, 0).empty());
    CHECK(rig.tracker.held() == FragTracker::kMaxHeldPerDatagram);
    CHECK(rig.counters.dropped(Drop::frag_held_full) == 1);
    CHECK(rig.tracker.tracked() == 1);
  }
  SECTION("ready fragments keep their place in the pool until taken") {
    FragConfig cfg;
    cfg.held = 2;
    Rig rig(cfg);
    const auto d = three(udp_datagram(1));
    CHECK(rig.run({packet(d[1]), packet(d[2])}, 0).empty());
    Burst out = rig.run({packet(d[0])}, 0);
    CHECK(out.size() == 1);
    free_all(out);
    CHECK(rig.tracker.ready() == 2);
    CHECK(rig.run({packet(tail(2, 3))}, 0).empty());
    CHECK(rig.counters.dropped(Drop::frag_held_full) == 1);
    Burst ready = rig.ready();
    CHECK(ready.size() == 2);
    free_all(ready);
    CHECK(rig.run({packet(tail(2, 3))}, 0).empty());
    CHECK(rig.tracker.held() == 1);
    CHECK(rig.counters.dropped(Drop::frag_held_full) == 1);
  }
}

TEST_CASE("frag: a full table drops new datagrams with frag-table-full", "[frag]") {
  LeakCheck leaks;
  FragConfig cfg;
  cfg.entries = 3;  // rounded up to 4; the probe window is the whole table
  Rig rig(cfg);
  std::vector<std::vector<Bytes>> d;
  for (uint16_t id = 1; id <= 6; id++)
    d.push_back(three(udp_datagram(id, static_cast<uint16_t>(1000 + id))));
  Burst out = rig.run({packet(d[0][0]), packet(d[1][0]), packet(d[2][0]), packet(d[3][0])}, 0);
  CHECK(out.size() == 4);
  CHECK(rig.tracker.tracked() == 4);
  free_all(out);

  CHECK(rig.run({packet(d[4][0])}, 10).empty());  // a first fragment
  CHECK(rig.run({packet(d[5][1])}, 10).empty());  // a later fragment
  CHECK(rig.counters.dropped(Drop::frag_table_full) == 2);
  CHECK(rig.tracker.tracked() == 4);

  // Datagrams already known go on.
  out = rig.run({packet(d[1][1])}, 1000);
  REQUIRE(out.size() == 1);
  check_tail(out[0], 1002, 53);
  free_all(out);

  // Once they are stale, a new datagram reclaims them without waiting for expire().
  out = rig.run({packet(d[4][0])}, 2500);
  CHECK(out.size() == 1);
  CHECK(rig.tracker.tracked() == 2);  // 5, and 2 (refreshed at 1000)
  CHECK(rig.counters.dropped(Drop::frag_table_full) == 2);
  free_all(out);
}

TEST_CASE("frag: the destructor frees what is held and ready", "[frag]") {
  LeakCheck leaks;
  {
    Rig rig;
    const auto a = three(udp_datagram(1));
    const auto b = three(udp_datagram(2));
    CHECK(rig.run({packet(a[1]), packet(a[2]), packet(b[2])}, 0).empty());
    Burst out = rig.run({packet(a[0])}, 0);
    free_all(out);
    CHECK(rig.tracker.ready() == 2);
    CHECK(rig.tracker.held() == 1);
  }
}

}  // namespace
}  // namespace sluice::test
