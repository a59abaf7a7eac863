// Lag (dataplane/lag.h): the transmit hash keeps a flow on one member and
// spreads flows over all of them; snapshots replaced while a reader may
// hold them are freed only after it reports a quiescent state. LinkMonitor
// (control/link_monitor.h): down and up delays.
#include <catch2/catch.hpp>

#include <rte_malloc.h>

#include <map>
#include <vector>

#include "lag.h"
#include "link_monitor.h"
#include "packet_builder.h"
#include "support.h"

namespace sluice::test {
namespace {

constexpr uint16_t kL2 = sizeof(rte_ether_hdr);

rte_mbuf* udp_frame(const char* src, const char* dst, uint16_t sport, uint16_t dport) {
  return Frame().to(mac(2, 0, 0, 0, 9, 9)).src(src).dst(dst).udp(sport, dport).mbuf();
}

// Which member each of `flows` hosts' flows takes.
std::map<uint16_t, unsigned> spread(const Lag& lag, unsigned flows) {
  std::map<uint16_t, unsigned> seen;
  for (unsigned f = 0; f < flows; f++) {
    rte_mbuf* m = udp_frame(ip_text(ip("10.16.0.0") + f).c_str(), "192.0.2.2",
                            static_cast<uint16_t>(1024 + f), 53);
    seen[lag.pick(m, kL2)]++;
    rte_pktmbuf_free(m);
  }
  return seen;
}

TEST_CASE("lag: no member, one member, and flows spread over several", "[lag]") {
  LeakCheck leaks;
  Lag lag;
  rte_mbuf* m = udp_frame("10.16.1.2", "192.0.2.2", 1000, 53);
  CHECK(lag.pick(m, kL2) == kNoMember);
  lag.publish({7});
  CHECK(lag.pick(m, kL2) == 7);
  rte_pktmbuf_free(m);

  lag.publish({3, 4});
  const auto seen = spread(lag, 1000);
  REQUIRE(seen.size() == 2);
  CHECK(seen.at(3) > 400);
  CHECK(seen.at(4) > 400);
}

TEST_CASE("lag: a flow keeps its member; the policy decides what a flow is", "[lag]") {
  LeakCheck leaks;
  for (XmitHash policy : {XmitHash::layer2, XmitHash::layer2_3, XmitHash::layer3_4}) {
    Lag lag;
    lag.set_hash(policy);
    lag.publish({10, 11, 12, 13});
    // The same packet, many times: always the same member.
    rte_mbuf* a = udp_frame("10.16.1.2", "192.0.2.2", 40000, 443);
    const uint16_t first = lag.pick(a, kL2);
    for (int i = 0; i < 100; i++)
      CHECK(lag.pick(a, kL2) == first);
    // Other source ports of the same hosts: one member unless layer3+4.
    std::map<uint16_t, unsigned> by_port;
    for (uint16_t p = 1; p <= 64; p++) {
      rte_mbuf* b = udp_frame("10.16.1.2", "192.0.2.2", p, 443);
      by_port[lag.pick(b, kL2)]++;
      rte_pktmbuf_free(b);
    }
    CHECK((by_port.size() > 1) == (policy == XmitHash::layer3_4));
    // Other hosts behind the same MAC: one member under layer2 only.
    const auto by_host = spread(lag, 64);
    CHECK((by_host.size() > 1) == (policy != XmitHash::layer2));
    rte_pktmbuf_free(a);
  }
}

TEST_CASE("lag: layer3+4 leaves ports out for fragments", "[lag]") {
  LeakCheck leaks;
  const uint32_t whole = [] {
    rte_mbuf* m = udp_frame("10.16.1.2", "192.0.2.2", 5000, 53);
    const uint32_t h = xmit_hash(XmitHash::layer3_4, m, kL2);
    rte_pktmbuf_free(m);
    return h;
  }();
  rte_mbuf* frag =
      Frame().to(mac(2, 0, 0, 0, 9, 9)).src("10.16.1.2").dst("192.0.2.2").udp(5000, 53).mf().mbuf();
  rte_mbuf* tail = Frame()
                       .to(mac(2, 0, 0, 0, 9, 9))
                       .src("10.16.1.2")
                       .dst("192.0.2.2")
                       .udp(6000, 54)
                       .frag_offset(185)
                       .mbuf();
  // Every fragment of a datagram hashes alike (its addresses only).
  CHECK(xmit_hash(XmitHash::layer3_4, frag, kL2) == xmit_hash(XmitHash::layer3_4, tail, kL2));
  CHECK(xmit_hash(XmitHash::layer3_4, frag, kL2) != whole);
  rte_pktmbuf_free(frag);
  rte_pktmbuf_free(tail);
}

TEST_CASE("lag: a replaced set is freed only after every reader's quiescent state", "[lag]") {
  const size_t size = rte_rcu_qsbr_get_memsize(2);
  auto* rcu = static_cast<rte_rcu_qsbr*>(rte_zmalloc("lag_test_rcu", size, RTE_CACHE_LINE_SIZE));
  REQUIRE(rcu != nullptr);
  REQUIRE(rte_rcu_qsbr_init(rcu, 2) == 0);
  for (unsigned t = 0; t < 2; t++) {
    REQUIRE(rte_rcu_qsbr_thread_register(rcu, t) == 0);
    rte_rcu_qsbr_thread_online(rcu, t);
  }
  {
    Lag lag;
    lag.use_rcu(rcu);
    lag.publish({1, 2});
    lag.publish({2});
    CHECK(lag.current().count == 1);
    CHECK(lag.current().ports[0] == 2);
    CHECK(lag.reclaim() == 2);  // neither reader has passed a quiescent state
    rte_rcu_qsbr_quiescent(rcu, 0);
    CHECK(lag.reclaim() == 2);  // reader 1 may still hold them
    rte_rcu_qsbr_quiescent(rcu, 1);
    CHECK(lag.reclaim() == 0);
    lag.publish({});
    rte_rcu_qsbr_thread_offline(rcu, 0);  // a stopped worker holds nothing
    rte_rcu_qsbr_quiescent(rcu, 1);
    CHECK(lag.reclaim() == 0);
  }
  rte_free(rcu);
}

TEST_CASE("link monitor: down-delay and up-delay", "[lag]") {
  LinkMonitor link(200, 300);
  CHECK(link.sample(true, 0));  // the first sample counts at once
  CHECK(link.up());
  // Down for 150 ms, back: never went down.
  for (uint64_t t = 10; t <= 150; t += 10)
    CHECK_FALSE(link.sample(false, t));
  CHECK(link.changing());
  CHECK_FALSE(link.sample(true, 160));
  CHECK_FALSE(link.changing());
  CHECK(link.up());
  // Down for good: counted 200 ms after the first sample that saw it.
  for (uint64_t t = 200; t < 400; t += 10)
    CHECK_FALSE(link.sample(false, t));
  CHECK(link.sample(false, 400));
  CHECK_FALSE(link.up());
  // Up, flapping within up-delay: stays down until 300 ms of steady link.
  CHECK_FALSE(link.sample(true, 1000));
  CHECK_FALSE(link.sample(false, 1200));
  for (uint64_t t = 1210; t < 1510; t += 10)
    CHECK_FALSE(link.sample(true, t));
  CHECK(link.sample(true, 1510));
  CHECK(link.up());
}

}  // namespace
}  // namespace sluice::test
