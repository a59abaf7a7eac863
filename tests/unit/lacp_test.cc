// lacp::Aggregate (control/lacp.h): the 802.1AX machines on an injected
// millisecond clock. The partner's LACPDUs are built here byte by byte, and
// what sluice sends is read back at the byte offsets of 802.1AX 6.4.2.3, not
// with the codec under test.
//
// Offsets in a LACPDU frame: Ethernet 0-13, subtype 14, version 15, actor TLV
// 16-35 (system priority 18, system 20, key 26, port priority 28, port 30,
// state 32), partner TLV 36-55 (same layout from 38), collector TLV 56-71,
// terminator 72-73, reserved 74-123.
#include <catch2/catch.hpp>

#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "lacp.h"

namespace sluice::test {
namespace {

using lacp::Mac;
using lacp::MuxState;
using lacp::RxState;

constexpr Mac kOurs = {0x02, 0x00, 0x00, 0x00, 0x01, 0x01};
constexpr Mac kPeerSystem = {0x02, 0xaa, 0x00, 0x00, 0x00, 0x01};
constexpr Mac kOtherSystem = {0x02, 0xbb, 0x00, 0x00, 0x00, 0x01};
constexpr uint8_t kUp = 0x3f;  // activity, timeout, aggregation, sync, collecting, distributing
constexpr uint64_t kStep = 10;

using Info = lacp::PortInfo;

class Bytes {
 public:
  Bytes& b(std::initializer_list<int> v) {
    for (int x : v)
      f_.push_back(static_cast<uint8_t>(x));
    return *this;
  }
  Bytes& be16(uint16_t v) { return b({v >> 8, v & 0xff}); }
  Bytes& mac(const Mac& m) {
    f_.insert(f_.end(), m.begin(), m.end());
    return *this;
  }
  Bytes& zeros(size_t n) {
    f_.insert(f_.end(), n, 0);
    return *this;
  }
  Bytes& info(int type, const Info& i) {
    b({type, 20}).be16(i.system_priority).mac(i.system).be16(i.key).be16(i.port_priority);
    return be16(i.port).b({i.state, 0, 0, 0});
  }
  std::vector<uint8_t> take() { return std::move(f_); }

 private:
  std::vector<uint8_t> f_;
};

// Slow protocols header from the peer: 01-80-c2-00-00-02, EtherType 0x8809.
Bytes slow_header(int subtype, int version) {
  Bytes f;
  f.b({0x01, 0x80, 0xc2, 0x00, 0x00, 0x02}).mac(kPeerSystem).b({0x88, 0x09, subtype, version});
  return f;
}

std::vector<uint8_t> lacpdu(const Info& actor, const Info& partner, int version = 1) {
  Bytes f = slow_header(1, version);
  f.info(1, actor).info(2, partner);
  f.b({3, 16}).zeros(14);  // collector: max delay 0, 12 reserved
  f.b({0, 0}).zeros(50);   // terminator, reserved
  auto out = f.take();
  REQUIRE(out.size() == 124);
  return out;
}

std::vector<uint8_t> marker_info(uint16_t port, const Mac& system, uint32_t transaction) {
  Bytes f = slow_header(2, 1);
  f.b({1, 16}).be16(port).mac(system).be16(transaction >> 16).be16(transaction & 0xffff);
  f.b({0, 0}).b({0, 0}).zeros(90);
  return f.take();
}

uint16_t get16(const std::vector<uint8_t>& f, size_t at) {
  return static_cast<uint16_t>((f[at] << 8) | f[at + 1]);
}

Info read_info(const std::vector<uint8_t>& f, size_t tlv) {
  Info i;
  i.system_priority = get16(f, tlv + 2);
  std::copy(f.begin() + static_cast<long>(tlv + 4), f.begin() + static_cast<long>(tlv + 10),
            i.system.begin());
  i.key = get16(f, tlv + 10);
  i.port_priority = get16(f, tlv + 12);
  i.port = get16(f, tlv + 14);
  i.state = f[tlv + 16];
  return i;
}

struct Sent {
  unsigned member;
  std::vector<uint8_t> frame;
  uint64_t at;  // ms
};

lacp::Settings settings() {
  lacp::Settings s;
  s.system = kOurs;
  s.system_priority = 65535;
  s.key = 1;
  s.port_priority = 255;
  return s;
}

// An aggregate, what it sent, a clock, and a partner switch whose port on
// member m is port m + 1 of system kPeerSystem, key 7.
class Harness {
 public:
  explicit Harness(unsigned members, lacp::Settings s = settings())
      : agg(s, members, [this](unsigned m, std::span<const uint8_t> f) {
          sent.push_back({m, {f.begin(), f.end()}, now});
        }) {
    peer.resize(members);
    for (unsigned m = 0; m < members; m++)
      peer[m] = Info{32768, kPeerSystem, 7, 255, static_cast<uint16_t>(m + 1), kUp};
  }

  std::vector<Sent> sent;
  lacp::Aggregate agg;
  std::vector<Info> peer;
  uint64_t now = 0;

  void links_up() {
    for (unsigned m = 0; m < agg.members(); m++)
      agg.set_link(m, true, now);
  }
  // The last LACPDU sluice sent on m (fails the test if none).
  const std::vector<uint8_t>& last(unsigned m) const {
    for (auto it = sent.rbegin(); it != sent.rend(); ++it) {
      if (it->member == m && it->frame[14] == 1) return it->frame;
    }
    FAIL("no LACPDU sent on member " << m);
    return sent.front().frame;
  }
  size_t lacpdus(unsigned m) const {
    size_t n = 0;
    for (const Sent& s : sent)
      n += s.member == m && s.frame[14] == 1;
    return n;
  }
  // The peer speaks on m: its actor info, and ours as it last heard it.
  void hear(unsigned m) {
    Info seen = lacpdus(m) ? read_info(last(m), 16) : Info{};
    agg.on_frame(m, lacpdu(peer[m], seen), now);
  }
  // Advances the clock in 10 ms ticks; the peers in `speaking` send a
  // LACPDU every second (on the second).
  void run(uint64_t ms, std::initializer_list<unsigned> speaking) {
    for (uint64_t end = now + ms; now < end;) {
      now += kStep;
      if (now % 1000 == 0) {
        for (unsigned m : speaking)
          hear(m);
      }
      agg.tick(now);
    }
  }
  void converge() {
    links_up();
    hear(0);
    hear(1);
    run(4000, {0, 1});
    REQUIRE(agg.distributing() == std::vector<unsigned>{0, 1});
  }
  MuxState mux(unsigned m) const { return agg.member(m).mux; }
};

TEST_CASE("lacp: our LACPDU, byte by byte", "[lacp]") {
  Harness h(2);
  h.links_up();
  REQUIRE(h.lacpdus(0) == 1);  // NTT on entering DETACHED
  const std::vector<uint8_t>& f = h.last(0);
  REQUIRE(f.size() == 124);
  CHECK(std::vector<uint8_t>(f.begin(), f.begin() + 6) ==
        std::vector<uint8_t>{0x01, 0x80, 0xc2, 0x00, 0x00, 0x02});
  CHECK(std::vector<uint8_t>(f.begin() + 6, f.begin() + 12) ==
        std::vector<uint8_t>(kOurs.begin(), kOurs.end()));
  CHECK(get16(f, 12) == 0x8809);
  CHECK(f[14] == 1);  // LACP
  CHECK(f[15] == 1);  // version
  CHECK(f[16] == 1);
  CHECK(f[17] == 20);
  const Info actor = read_info(f, 16);
  CHECK(actor.system_priority == 65535);
  CHECK(actor.system == kOurs);
  CHECK(actor.key == 1);
  CHECK(actor.port_priority == 255);
  CHECK(actor.port == 1);
  // Active, short timeout, aggregatable, defaulted and expired (link just up).
  CHECK(actor.state == (lacp::kActivity | lacp::kTimeout | lacp::kAggregation | lacp::kDefaulted |
                        lacp::kExpired));
  CHECK(f[36] == 2);
  CHECK(f[37] == 20);
  CHECK(f[56] == 3);
  CHECK(f[57] == 16);
  CHECK(f[72] == 0);
  CHECK(f[73] == 0);
  CHECK(read_info(h.last(1), 16).port == 2);
}

TEST_CASE("lacp: convergence with an active fast partner", "[lacp]") {
  Harness h(2);
  const uint64_t g0 = h.agg.generation();
  h.links_up();
  h.hear(0);
  h.hear(1);
  CHECK(h.agg.member(0).rx == RxState::current);
  CHECK(h.mux(0) == MuxState::waiting);
  // Aggregate_Wait_Time: nobody attaches for 2 s.
  h.run(1990, {0, 1});
  CHECK(h.mux(0) == MuxState::waiting);
  CHECK(h.agg.distributing().empty());
  CHECK(h.agg.generation() == g0);
  h.run(1000, {0, 1});
  CHECK(h.agg.distributing() == std::vector<unsigned>{0, 1});
  CHECK(h.agg.generation() != g0);
  for (unsigned m = 0; m < 2; m++) {
    const Info actor = read_info(h.last(m), 16);
    const Info partner = read_info(h.last(m), 36);
    CHECK(actor.state == kUp);
    CHECK(partner.system == kPeerSystem);
    CHECK(partner.key == 7);
    CHECK(partner.port == m + 1);
    CHECK(h.agg.member(m).selected == lacp::Selected::selected);
  }
  lacp::PortInfo lag;
  REQUIRE(h.agg.partner(&lag));
  CHECK(lag.system == kPeerSystem);
  CHECK(lag.key == 7);
  CHECK(h.agg.aggregator_member() == 0);
  // Periodic: the partner asked for short timeouts, so one LACPDU a second.
  const size_t before = h.lacpdus(0);
  h.run(10000, {0, 1});
  CHECK(h.lacpdus(0) - before >= 9);
  CHECK(h.lacpdus(0) - before <= 11);
}

TEST_CASE("lacp: partner timeout takes the member out within 3 s", "[lacp]") {
  Harness h(2);
  h.converge();
  // The partner's member 1 goes silent (the link stays up).
  const uint64_t last_heard = h.now - h.now % 1000;
  h.run(2900 - (h.now - last_heard), {0});
  CHECK(h.agg.distributing() == std::vector<unsigned>{0, 1});
  h.run(100 + kStep, {0});
  CHECK(h.agg.member(1).rx == RxState::expired);
  CHECK(h.agg.distributing() == std::vector<unsigned>{0});
  CHECK((read_info(h.last(1), 16).state & lacp::kExpired) != 0);
  // Another 3 s: defaulted, unselected, detached. Member 0 carries on.
  h.run(3000, {0});
  CHECK(h.agg.member(1).rx == RxState::defaulted);
  CHECK(h.agg.member(1).selected == lacp::Selected::unselected);
  CHECK(h.mux(1) == MuxState::detached);
  CHECK((read_info(h.last(1), 16).state & lacp::kDefaulted) != 0);
  CHECK(h.agg.distributing() == std::vector<unsigned>{0});
  // It speaks again: back after the wait time.
  h.run(4000, {0, 1});
  CHECK(h.agg.distributing() == std::vector<unsigned>{0, 1});
}

TEST_CASE("lacp: a link going down leaves at once, rejoins when LACP agrees", "[lacp]") {
  Harness h(2);
  h.converge();
  const uint64_t failures = h.agg.member(0).counters.link_failures;
  h.agg.set_link(0, false, h.now);
  CHECK(h.agg.distributing() == std::vector<unsigned>{1});
  CHECK(h.mux(0) == MuxState::detached);
  CHECK(h.agg.member(0).rx == RxState::port_disabled);
  CHECK(h.agg.member(0).counters.link_failures == failures + 1);
  // Down: nothing is sent on it and LACPDUs arriving are not taken.
  const size_t sent = h.lacpdus(0);
  h.run(2000, {1});
  h.hear(0);
  CHECK(h.lacpdus(0) == sent);
  CHECK(h.agg.member(0).rx == RxState::port_disabled);
  h.agg.set_link(0, true, h.now);
  CHECK(h.agg.member(0).rx == RxState::expired);
  h.run(4000, {0, 1});
  CHECK(h.agg.distributing() == std::vector<unsigned>{0, 1});
}

TEST_CASE("lacp: the partner changes key on one member: it leaves", "[lacp]") {
  Harness h(2);
  h.converge();
  h.peer[1].key = 99;
  h.hear(1);
  // Another LAG than the aggregator's: unselected and detached at once.
  CHECK(h.agg.distributing() == std::vector<unsigned>{0});
  CHECK(h.agg.member(1).selected == lacp::Selected::unselected);
  CHECK(h.mux(1) == MuxState::detached);
  h.run(10000, {0, 1});
  CHECK(h.agg.distributing() == std::vector<unsigned>{0});
  CHECK((read_info(h.last(1), 16).state & lacp::kSynchronization) == 0);
  // Actor churn: out of sync for 60 s.
  CHECK(h.agg.member(1).counters.actor_churns == 0);
  h.run(51000, {0, 1});
  CHECK(h.agg.member(1).actor_churn == lacp::Churn::churn);
  CHECK(h.agg.member(1).counters.actor_churns == 1);
  CHECK(h.agg.member(0).counters.actor_churns == 0);
  // Member 0 moves to the new key too: the aggregator, now empty, takes the
  // new LAG and both come back.
  h.peer[0].key = 99;
  h.hear(0);
  CHECK(h.agg.distributing().empty());
  h.run(4000, {0, 1});
  CHECK(h.agg.distributing() == std::vector<unsigned>{0, 1});
  lacp::PortInfo lag;
  REQUIRE(h.agg.partner(&lag));
  CHECK(lag.key == 99);
  CHECK(h.agg.member(1).actor_churn == lacp::Churn::none);
}

TEST_CASE("lacp: a partner that never speaks leaves the member defaulted", "[lacp]") {
  Harness h(2);
  h.links_up();
  h.run(2990, {});
  CHECK(h.agg.member(0).rx == RxState::expired);
  h.run(20, {});
  CHECK(h.agg.member(0).rx == RxState::defaulted);
  CHECK(h.agg.member(0).selected == lacp::Selected::unselected);
  h.run(60000, {});
  CHECK(h.agg.distributing().empty());
  CHECK(h.agg.member(0).partner_churn == lacp::Churn::churn);
  CHECK(h.agg.member(0).counters.partner_churns == 1);
  const Info actor = read_info(h.last(0), 16);
  CHECK((actor.state & lacp::kDefaulted) != 0);
  CHECK((actor.state & lacp::kSynchronization) == 0);
  // Nobody heard: we keep offering a LACPDU every second.
  const size_t before = h.lacpdus(0);
  h.run(10000, {});
  CHECK(h.lacpdus(0) - before == 10);
}

TEST_CASE("lacp: a partner out of sync is partner churn, never distributing", "[lacp]") {
  Harness h(2);
  h.links_up();
  // The partner does not see us as its partner (it reports another system).
  for (unsigned i = 0; i < 70; i++) {
    for (unsigned m = 0; m < 2; m++)
      h.agg.on_frame(m, lacpdu(h.peer[m], Info{1, kOtherSystem, 5, 1, 9, kUp}), h.now);
    h.run(1000, {});
  }
  CHECK(h.agg.distributing().empty());
  CHECK(h.mux(0) == MuxState::attached);  // our side is ready, the partner never is
  CHECK(h.agg.member(0).partner_churn == lacp::Churn::churn);
  CHECK(h.agg.member(0).actor_churn == lacp::Churn::none);
}

TEST_CASE("lacp: malformed and truncated slow frames are counted and ignored", "[lacp]") {
  Harness h(2);
  h.converge();
  const lacp::MemberCounters before = h.agg.member(0).counters;
  const Info seen = read_info(h.last(0), 16);
  Info other_key = h.peer[0];
  other_key.key = 99;  // would make the member leave, if taken

  std::vector<uint8_t> f = lacpdu(other_key, seen);
  h.agg.on_frame(0, std::span(f).first(60), h.now);  // padded minimum frame, cut short
  h.agg.on_frame(0, std::span(f).first(15), h.now);  // not even a version byte
  h.agg.on_frame(0, std::span(f).first(14), h.now);  // Ethernet header only
  auto bad = [&](size_t at, uint8_t value) {
    std::vector<uint8_t> g = f;
    g[at] = value;
    h.agg.on_frame(0, g, h.now);
  };
  bad(15, 0);   // version 0
  bad(16, 2);   // actor TLV type
  bad(17, 19);  // actor TLV length
  bad(36, 1);   // partner TLV type
  bad(37, 0);   // partner TLV length
  bad(56, 0);   // collector TLV type
  bad(57, 17);  // collector TLV length
  bad(72, 9);   // terminator type, version 1
  bad(14, 10);  // subtype 10 (ESMC): not ours
  bad(14, 3);   // subtype 3 (OAM)
  const lacp::MemberCounters& after = h.agg.member(0).counters;
  CHECK(after.truncated_rx - before.truncated_rx == 3);
  CHECK(after.malformed_rx - before.malformed_rx == 8);
  CHECK(after.unknown_rx - before.unknown_rx == 2);
  CHECK(after.lacpdus_rx == before.lacpdus_rx);
  CHECK(h.agg.distributing() == std::vector<unsigned>{0, 1});
  CHECK(h.agg.member(0).partner.key == 7);

  // A later version with more after the collector is read as version 1.
  std::vector<uint8_t> v2 = lacpdu(h.peer[0], seen, 2);
  v2[72] = 4;  // a TLV where version 1 has its terminator
  v2[73] = 6;
  h.agg.on_frame(0, v2, h.now);
  CHECK(h.agg.member(0).counters.lacpdus_rx == before.lacpdus_rx + 1);
  CHECK(h.agg.distributing() == std::vector<unsigned>{0, 1});
}

TEST_CASE("lacp: the marker responder answers on the member it came in on", "[lacp]") {
  Harness h(2);
  h.converge();
  h.sent.clear();
  h.agg.on_frame(1, marker_info(2, kPeerSystem, 0x01020304), h.now);
  REQUIRE(h.sent.size() == 1);
  const Sent& r = h.sent[0];
  CHECK(r.member == 1);
  REQUIRE(r.frame.size() == 124);
  CHECK(std::vector<uint8_t>(r.frame.begin(), r.frame.begin() + 6) ==
        std::vector<uint8_t>{0x01, 0x80, 0xc2, 0x00, 0x00, 0x02});
  CHECK(std::vector<uint8_t>(r.frame.begin() + 6, r.frame.begin() + 12) ==
        std::vector<uint8_t>(kOurs.begin(), kOurs.end()));
  CHECK(r.frame[14] == 2);  // marker
  CHECK(r.frame[15] == 1);
  CHECK(r.frame[16] == 2);  // Marker Response
  CHECK(r.frame[17] == 16);
  CHECK(get16(r.frame, 18) == 2);
  CHECK(std::vector<uint8_t>(r.frame.begin() + 20, r.frame.begin() + 26) ==
        std::vector<uint8_t>(kPeerSystem.begin(), kPeerSystem.end()));
  CHECK(get16(r.frame, 26) == 0x0102);
  CHECK(get16(r.frame, 28) == 0x0304);
  CHECK(r.frame[32] == 0);  // terminator
  CHECK(r.frame[33] == 0);
  CHECK(h.agg.member(1).counters.markers_rx == 1);
  CHECK(h.agg.member(1).counters.marker_responses_tx == 1);
  // A response is not answered; a marker with a bad length is malformed.
  std::vector<uint8_t> resp = marker_info(2, kPeerSystem, 1);
  resp[16] = 2;
  h.agg.on_frame(1, resp, h.now);
  std::vector<uint8_t> bad = marker_info(2, kPeerSystem, 1);
  bad[17] = 15;
  h.agg.on_frame(1, bad, h.now);
  CHECK(h.sent.size() == 1);
  CHECK(h.agg.member(1).counters.marker_responses_rx == 1);
  CHECK(h.agg.member(1).counters.malformed_rx == 1);
}

TEST_CASE("lacp: at most 3 LACPDUs a second however often state changes", "[lacp]") {
  Harness h(2);
  h.converge();
  h.sent.clear();
  // The partner flaps its sync bit every 10 ms for 2 s: each change asks
  // for a LACPDU.
  for (unsigned i = 0; i < 200; i++) {
    h.peer[0].state = i % 2 ? kUp : lacp::kActivity | lacp::kTimeout | lacp::kAggregation;
    h.hear(0);
    h.run(kStep, {});
  }
  std::vector<uint64_t> at;
  for (const Sent& s : h.sent) {
    if (s.member == 0) at.push_back(s.at);
  }
  REQUIRE(at.size() >= 5);
  CHECK(at.size() <= 7);
  for (size_t i = 3; i < at.size(); i++)
    CHECK(at[i] - at[i - 3] >= 1000);
}

TEST_CASE("lacp: passive waits for an active partner", "[lacp]") {
  lacp::Settings s = settings();
  s.active = false;
  s.fast = false;
  Harness h(1, s);
  h.links_up();
  h.run(65000, {});
  CHECK(h.sent.empty());
  h.hear(0);  // an active partner with short timeouts
  CHECK(h.lacpdus(0) == 1);
  const Info actor = read_info(h.last(0), 16);
  CHECK((actor.state & lacp::kActivity) == 0);
  CHECK((actor.state & lacp::kTimeout) == 0);
  h.run(4000, {0});
  CHECK(h.agg.distributing() == std::vector<unsigned>{0});
  // Slow rate: our LACPDUs carry a long timeout, so silence takes 90 s.
  h.run(80000, {});
  CHECK(h.agg.distributing() == std::vector<unsigned>{0});
  h.run(11000, {});
  CHECK(h.agg.distributing().empty());
}

TEST_CASE("lacp: static mode follows the links and ignores LACPDUs", "[lacp]") {
  lacp::Settings s = settings();
  s.lacp = false;
  Harness h(2, s);
  CHECK(h.agg.distributing().empty());
  h.links_up();
  CHECK(h.agg.distributing() == std::vector<unsigned>{0, 1});
  const uint64_t g = h.agg.generation();
  h.hear(0);
  h.run(5000, {0, 1});
  CHECK(h.sent.empty());
  CHECK(h.agg.member(0).counters.ignored_rx == 6);
  h.agg.set_link(1, false, h.now);
  CHECK(h.agg.distributing() == std::vector<unsigned>{0});
  CHECK(h.agg.collecting() == std::vector<unsigned>{0});
  CHECK(h.agg.generation() != g);
  CHECK(h.agg.member(1).counters.link_failures == 1);
  CHECK(h.agg.member(1).counters.state_changes == 2);
}

TEST_CASE("lacp: a member collects once the partner is in sync, distributes once it collects",
          "[lacp]") {
  Harness h(2);
  for (Info& p : h.peer)
    p.state = lacp::kActivity | lacp::kTimeout | lacp::kAggregation | lacp::kSynchronization;
  h.links_up();
  h.hear(0);
  h.hear(1);
  const uint64_t g = h.agg.generation();
  h.run(4000, {0, 1});
  CHECK(h.mux(0) == MuxState::collecting);
  CHECK(h.agg.collecting() == std::vector<unsigned>{0, 1});
  CHECK(h.agg.distributing().empty());
  CHECK(h.agg.generation() != g);  // control publishes the collecting members
  // The partner collects on member 1 only.
  h.peer[1].state = kUp;
  h.run(2000, {0, 1});
  CHECK(h.agg.distributing() == std::vector<unsigned>{1});
  CHECK(h.agg.collecting() == std::vector<unsigned>{0, 1});
  // Member 0's partner falls out of sync: it stops collecting.
  const uint64_t g2 = h.agg.generation();
  h.peer[0].state = lacp::kActivity | lacp::kTimeout | lacp::kAggregation;
  h.hear(0);
  CHECK(h.mux(0) == MuxState::attached);
  CHECK(h.agg.collecting() == std::vector<unsigned>{1});
  CHECK(h.agg.generation() != g2);
}

// A partner with long timeouts (DPDK's bonding driver by default) is sent a
// LACPDU a second only until the member distributes; a new partner is
// answered at once.
TEST_CASE("lacp: fast until distributing, then the partner's slow rate", "[lacp]") {
  Harness h(2);
  for (Info& p : h.peer)
    p.state = kUp & ~lacp::kTimeout;
  h.links_up();
  const size_t first = h.lacpdus(0);
  h.now += kStep;
  h.hear(0);
  CHECK(h.lacpdus(0) == first + 1);  // the new partner heard us at once
  h.hear(0);
  CHECK(h.lacpdus(0) == first + 1);  // nothing new to say
  // Waiting for the aggregator (2 s): still a LACPDU a second.
  const size_t waiting = h.lacpdus(0);
  h.run(1500, {});
  CHECK(h.mux(0) == MuxState::waiting);
  CHECK(h.lacpdus(0) - waiting >= 1);
  h.hear(1);
  h.run(4000, {0, 1});
  REQUIRE(h.agg.distributing() == std::vector<unsigned>{0, 1});
  // Distributing, to a partner that asked for long timeouts: 30 s periodic.
  const size_t settled = h.lacpdus(0);
  h.run(10000, {0, 1});
  CHECK(h.lacpdus(0) == settled);
  // Out of sync again: back to a LACPDU a second.
  h.peer[0].state = lacp::kActivity | lacp::kAggregation;
  h.run(3000, {0, 1});
  CHECK(h.mux(0) != MuxState::distributing);
  CHECK(h.lacpdus(0) - settled >= 3);
}

TEST_CASE("lacp: a LACPDU from our own system is a loop, counted and ignored", "[lacp]") {
  Harness h(2);
  h.links_up();
  // What we sent on member 1 comes back on member 0 (a switch that floods
  // slow protocols frames, or a cable between two members).
  const std::vector<uint8_t> ours = h.last(1);
  h.agg.on_frame(0, ours, h.now);
  CHECK(h.agg.member(0).counters.looped_rx == 1);
  CHECK(h.agg.member(0).rx == RxState::expired);
  CHECK(h.agg.member(0).partner.system == Mac{});
  h.run(7000, {});
  h.agg.on_frame(0, h.last(1), h.now);
  CHECK(h.agg.member(0).rx == RxState::defaulted);
  CHECK(h.agg.member(0).selected == lacp::Selected::unselected);
  CHECK(h.agg.collecting().empty());
  // With a real partner converged, a looped LACPDU changes nothing.
  h.hear(0);
  h.hear(1);
  h.run(4000, {0, 1});
  REQUIRE(h.agg.distributing() == std::vector<unsigned>{0, 1});
  const uint64_t g = h.agg.generation();
  h.agg.on_frame(1, h.last(0), h.now);
  h.run(1000, {0, 1});
  CHECK(h.agg.member(1).counters.looped_rx == 1);
  CHECK(h.agg.member(1).partner.system == kPeerSystem);
  CHECK(h.agg.distributing() == std::vector<unsigned>{0, 1});
  CHECK(h.agg.generation() == g);
  CHECK(h.agg.member(0).counters.looped_rx == 2);
}

TEST_CASE("lacp: state text names the bits", "[lacp]") {
  CHECK(lacp::state_text(0) == "none");
  CHECK(lacp::state_text(kUp) ==
        "activity,timeout,aggregation,synchronization,collecting,distributing");
  CHECK(lacp::state_text(lacp::kDefaulted | lacp::kExpired) == "defaulted,expired");
}

}  // namespace
}  // namespace sluice::test
