// Arp (control/arp.h): the neighbour state machine on an injected
// millisecond clock, with a ControlTx that captures every frame sent.
//
// Topology: inside 10.16.1.1/24 on member port 10, outside 192.0.2.1/24 on
// member port 20; the default gateway is 192.0.2.2.
#include <catch2/catch.hpp>

#include <rte_arp.h>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "arp.h"
#include "packet.h"
#include "packet_builder.h"
#include "parse.h"
#include "route.h"
#include "support.h"

namespace sluice::test {
namespace {

constexpr uint8_t kInside = 0;
constexpr uint8_t kOutside = 1;
constexpr uint16_t kInsidePort = 10;
constexpr uint16_t kOutsidePort = 20;
constexpr uint16_t kRxPort = 33;   // a second member the frame came in on
constexpr uint64_t kTscHz = 1000;  // reply limit clock

const uint32_t kGateway = ip("192.0.2.2");
const rte_ether_addr kGatewayMac = mac(0x02, 0xbb, 0, 0, 0, 0x02);
const rte_ether_addr kHostMac = mac(0x02, 0xaa, 0, 0, 0, 0x4d);
const rte_ether_addr kOtherMac = mac(0x02, 0xcc, 0, 0, 0, 0x01);
const rte_ether_addr kZeroMac{};

// Frames sent by control; freed when it goes out of scope.
struct Sent {
  uint16_t port;
  rte_mbuf* m;
};
class SentFrames {
 public:
  explicit SentFrames(std::vector<Sent> v) : v_(std::move(v)) {}
  ~SentFrames() {
    for (auto& s : v_)
      rte_pktmbuf_free(s.m);
  }
  SentFrames(SentFrames&& o) noexcept : v_(std::exchange(o.v_, {})) {}
  SentFrames& operator=(SentFrames&& o) noexcept {
    std::swap(v_, o.v_);
    return *this;
  }
  size_t size() const { return v_.size(); }
  bool empty() const { return v_.empty(); }
  const Sent& operator[](size_t i) const { return v_.at(i); }

 private:
  std::vector<Sent> v_;
};

class CaptureTx final : public ControlTx {
 public:
  ~CaptureTx() override { take(); }
  rte_mbuf* alloc() noexcept override { return rte_pktmbuf_alloc(pool()); }
  void send(uint16_t port, rte_mbuf* m) noexcept override { sent_.push_back({port, m}); }
  SentFrames take() { return SentFrames(std::exchange(sent_, {})); }

 private:
  std::vector<Sent> sent_;
};

// An ARP frame as control sent it.
struct ArpSeen {
  rte_ether_addr eth_dst, eth_src;
  uint16_t vlan = 0;
  uint16_t op = 0;
  rte_ether_addr sha, tha;
  uint32_t sip = 0, tip = 0;
};

ArpSeen decode(const rte_mbuf* m) {
  ArpSeen a;
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  a.eth_dst = eth->dst_addr;
  a.eth_src = eth->src_addr;
  uint16_t l2 = sizeof(rte_ether_hdr);
  uint16_t type = rte_be_to_cpu_16(eth->ether_type);
  if (type == RTE_ETHER_TYPE_VLAN) {
    const auto* vh = reinterpret_cast<const rte_vlan_hdr*>(eth + 1);
    a.vlan = rte_be_to_cpu_16(vh->vlan_tci);
    type = rte_be_to_cpu_16(vh->eth_proto);
    l2 += sizeof(rte_vlan_hdr);
  }
  REQUIRE(type == RTE_ETHER_TYPE_ARP);
  REQUIRE(rte_pktmbuf_pkt_len(m) >= l2 + sizeof(rte_arp_hdr));
  const auto* arp = rte_pktmbuf_mtod_offset(m, const rte_arp_hdr*, l2);
  CHECK(rte_be_to_cpu_16(arp->arp_hardware) == RTE_ARP_HRD_ETHER);
  CHECK(rte_be_to_cpu_16(arp->arp_protocol) == RTE_ETHER_TYPE_IPV4);
  CHECK(arp->arp_hlen == 6);
  CHECK(arp->arp_plen == 4);
  a.op = rte_be_to_cpu_16(arp->arp_opcode);
  a.sha = arp->arp_data.arp_sha;
  a.tha = arp->arp_data.arp_tha;
  a.sip = rte_be_to_cpu_32(arp->arp_data.arp_sip);
  a.tip = rte_be_to_cpu_32(arp->arp_data.arp_tip);
  return a;
}

bool same(const rte_ether_addr& a, const rte_ether_addr& b) {
  return rte_is_same_ether_addr(&a, &b);
}

// A broadcast request from us for `target` on `iface`'s first member.
void check_request(const Sent& s, uint8_t iface, uint32_t target,
                   const rte_ether_addr* unicast = nullptr) {
  const bool inside = iface == kInside;
  CHECK(s.port == (inside ? kInsidePort : kOutsidePort));
  const ArpSeen a = decode(s.m);
  const rte_ether_addr& ours = inside ? kInsideMac : kOutsideMac;
  CHECK(same(a.eth_dst, unicast ? *unicast : kBroadcast));
  CHECK(same(a.eth_src, ours));
  CHECK(a.op == RTE_ARP_OP_REQUEST);
  CHECK(same(a.sha, ours));
  CHECK(a.sip == (inside ? ip("10.16.1.1") : ip("192.0.2.1")));
  CHECK(same(a.tha, kZeroMac));
  CHECK(a.tip == target);
}

struct Rig {
  explicit Rig(ArpTimers t = ArpTimers{}, TokenBucket limit = TokenBucket(1000, 100, kTscHz)) {
    arp = std::make_unique<Arp>(ifaces, t, tx, counters, limit);
  }
  ~Rig() { arp.reset(); }  // frees held packets before the leak check

  std::optional<Arp::State> state(uint8_t iface, uint32_t addr) const {
    Arp::State s;
    if (!arp->state(iface, addr, &s)) return std::nullopt;
    return s;
  }
  uint64_t slot(uint8_t iface, uint32_t addr) const {
    return ifaces[iface].neighbours.load(addr - ifaces[iface].network);
  }
  bool slot_has(uint8_t iface, uint32_t addr, const rte_ether_addr& m) const {
    return slot(iface, addr) == (NeighbourTable::kValid | NeighbourTable::pack(m));
  }

  // An ARP frame from the wire, as a worker punts it.
  void frame(uint8_t iface, Frame f, uint64_t now_ms, uint64_t now_tsc = 0,
             uint16_t rx_port = kRxPort) {
    rte_mbuf* m = f.mbuf();
    REQUIRE(m != nullptr);
    arp->on_frame(iface, rx_port, m, now_ms, now_tsc);
  }
  void reply_from(uint8_t iface, uint32_t sender, const rte_ether_addr& sender_mac,
                  uint64_t now_ms) {
    const bool inside = iface == kInside;
    const auto& ours = inside ? kInsideMac : kOutsideMac;
    frame(iface,
          Frame()
              .to(ours)
              .from_mac(sender_mac)
              .arp(RTE_ARP_OP_REPLY, sender_mac, sender, ours, ifaces[iface].address),
          now_ms);
  }
  // A packet a worker could not send: data at the IPv4 header, next hop set.
  void unresolved(uint8_t iface, uint32_t next_hop_ip, uint16_t id, uint64_t now_ms) {
    rte_mbuf* m = Frame().src("198.51.100.7").dst(next_hop_ip).id(id).l3_mbuf();
    REQUIRE(m != nullptr);
    meta(m).punt = Punt::resolve;
    meta(m).iface = iface == kInside ? kOutside : kInside;
    meta(m).next_hop =
        next_hop::via(iface, static_cast<uint16_t>(next_hop_ip - ifaces[iface].network));
    arp->on_unresolved(m, now_ms);
  }

  LeakCheck leaks;  // first: checked last
  Interfaces ifaces = reference_interfaces(kInsidePort, kOutsidePort);
  CaptureTx tx;
  ControlCounters counters;
  std::unique_ptr<Arp> arp;
};

TEST_CASE("Arp: a gateway is resolved from start-up, retried, failed, restarted", "[arp]") {
  Rig rig;  // retry 1000 ms, 3 retries
  rig.arp->add_gateway(kOutside, kGateway, 0);
  CHECK(rig.state(kOutside, kGateway) == Arp::State::incomplete);

  rig.arp->tick(0);
  auto sent = rig.tx.take();
  REQUIRE(sent.size() == 1);
  check_request(sent[0], kOutside, kGateway);

  rig.arp->tick(999);
  CHECK(rig.tx.take().empty());
  rig.arp->tick(1000);
  sent = rig.tx.take();
  REQUIRE(sent.size() == 1);
  check_request(sent[0], kOutside, kGateway);
  rig.arp->tick(2000);
  CHECK(rig.tx.take().size() == 1);
  CHECK(rig.state(kOutside, kGateway) == Arp::State::incomplete);
  CHECK(rig.slot(kOutside, kGateway) == 0);

  rig.arp->tick(3000);  // three requests unanswered
  CHECK(rig.tx.take().empty());
  CHECK(rig.state(kOutside, kGateway) == Arp::State::failed);
  CHECK(rig.slot(kOutside, kGateway) == NeighbourTable::kFailed);
  CHECK(rig.counters.neighbours_failed.read() == 1);
  CHECK(rig.counters.arp_requests_out.read() == 3);

  rig.arp->tick(5999);
  CHECK(rig.tx.take().empty());
  rig.arp->tick(6000);  // retries * retry-ms later: a gateway starts again
  sent = rig.tx.take();
  REQUIRE(sent.size() == 1);
  check_request(sent[0], kOutside, kGateway);
  CHECK(rig.state(kOutside, kGateway) == Arp::State::incomplete);
  CHECK(rig.slot(kOutside, kGateway) == 0);  // workers punt again, not drop

  rig.reply_from(kOutside, kGateway, kGatewayMac, 6500);
  CHECK(rig.state(kOutside, kGateway) == Arp::State::reachable);
  CHECK(rig.slot_has(kOutside, kGateway, kGatewayMac));
}

TEST_CASE("Arp: a reply makes the neighbour reachable", "[arp]") {
  Rig rig;
  rig.arp->add_gateway(kOutside, kGateway, 0);
  rig.arp->tick(0);
  rig.tx.take();
  rig.reply_from(kOutside, kGateway, kGatewayMac, 10);
  CHECK(rig.state(kOutside, kGateway) == Arp::State::reachable);
  CHECK(rig.slot_has(kOutside, kGateway, kGatewayMac));
  CHECK(rig.counters.neighbours_resolved.read() == 1);
  CHECK(rig.counters.arp_replies_in.read() == 1);
  // No more requests while it is trusted.
  for (uint64_t t = 1000; t < 30000; t += 1000)
    rig.arp->tick(t);
  CHECK(rig.tx.take().empty());
}

TEST_CASE("Arp: reachable -> probe by unicast after reachable-ms", "[arp]") {
  Rig rig;
  rig.arp->add_gateway(kOutside, kGateway, 0);
  rig.arp->tick(0);
  rig.tx.take();
  rig.reply_from(kOutside, kGateway, kGatewayMac, 0);

  rig.arp->tick(29999);
  CHECK(rig.tx.take().empty());
  rig.arp->tick(30000);
  auto sent = rig.tx.take();
  REQUIRE(sent.size() == 1);
  check_request(sent[0], kOutside, kGateway, &kGatewayMac);
  CHECK(rig.state(kOutside, kGateway) == Arp::State::probe);
  CHECK(rig.slot_has(kOutside, kGateway, kGatewayMac));  // still used while probing

  SECTION("an answer keeps it") {
    rig.reply_from(kOutside, kGateway, kGatewayMac, 30100);
    CHECK(rig.state(kOutside, kGateway) == Arp::State::reachable);
    CHECK(rig.slot_has(kOutside, kGateway, kGatewayMac));
    rig.arp->tick(60099);
    CHECK(rig.tx.take().empty());
    rig.arp->tick(60100);
    CHECK(rig.tx.take().size() == 1);  // the next probe
  }
  SECTION("an answer with a new MAC moves it") {
    rig.reply_from(kOutside, kGateway, kOtherMac, 30100);
    CHECK(rig.state(kOutside, kGateway) == Arp::State::reachable);
    CHECK(rig.slot_has(kOutside, kGateway, kOtherMac));
  }
  SECTION("no answer: unicast retries, then failed") {
    rig.arp->tick(31000);
    sent = rig.tx.take();
    REQUIRE(sent.size() == 1);
    check_request(sent[0], kOutside, kGateway, &kGatewayMac);
    rig.arp->tick(32000);
    sent = rig.tx.take();
    REQUIRE(sent.size() == 1);
    check_request(sent[0], kOutside, kGateway, &kGatewayMac);
    CHECK(rig.state(kOutside, kGateway) == Arp::State::probe);
    rig.arp->tick(33000);
    CHECK(rig.tx.take().empty());
    CHECK(rig.state(kOutside, kGateway) == Arp::State::failed);
    CHECK(rig.slot(kOutside, kGateway) == NeighbourTable::kFailed);
    CHECK(rig.counters.neighbours_failed.read() == 1);
  }
}

TEST_CASE("Arp: packets held while resolving are sent in order with their L2 header", "[arp]") {
  Rig rig;
  const uint32_t host = ip("10.16.1.77");
  SECTION("untagged") {}
  SECTION("on a VLAN") {
    rig.ifaces[kInside].vlan = 42;
  }
  const uint16_t vlan = rig.ifaces[kInside].vlan;

  rig.unresolved(kInside, host, 1, 0);
  // The first packet starts resolution at once: a broadcast request.
  auto sent = rig.tx.take();
  REQUIRE(sent.size() == 1);
  CHECK(decode(sent[0].m).vlan == vlan);
  check_request(sent[0], kInside, host);
  CHECK(rig.state(kInside, host) == Arp::State::incomplete);
  rig.unresolved(kInside, host, 2, 10);
  rig.unresolved(kInside, host, 3, 20);
  CHECK(rig.tx.take().empty());

  rig.reply_from(kInside, host, kHostMac, 100);
  sent = rig.tx.take();
  REQUIRE(sent.size() == 3);
  const uint16_t l2 = vlan ? 18 : 14;
  for (uint16_t i = 0; i < 3; i++) {
    INFO("held packet " << i);
    CHECK(sent[i].port == kInsidePort);
    const auto* eth = rte_pktmbuf_mtod(sent[i].m, const rte_ether_hdr*);
    CHECK(same(eth->dst_addr, kHostMac));
    CHECK(same(eth->src_addr, kInsideMac));
    if (vlan) {
      CHECK(eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN));
      const auto* vh = reinterpret_cast<const rte_vlan_hdr*>(eth + 1);
      CHECK(rte_be_to_cpu_16(vh->vlan_tci) == vlan);
      CHECK(vh->eth_proto == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
    } else {
      CHECK(eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
    }
    const auto* h = ipv4_at(sent[i].m, l2);
    CHECK(rte_be_to_cpu_16(h->packet_id) == i + 1);
    CHECK(ip_dst(h) == host);
  }
  CHECK(rig.counters.resolve_sent.read() == 3);
  CHECK(rig.counters.resolve_dropped.read() == 0);

  // Resolved now: a late punt (worker raced the slot update) goes straight out.
  rig.unresolved(kInside, host, 4, 200);
  sent = rig.tx.take();
  REQUIRE(sent.size() == 1);
  CHECK(rte_be_to_cpu_16(ipv4_at(sent[0].m, l2)->packet_id) == 4);
}

TEST_CASE("Arp: the hold queue keeps the newest arp.queue packets", "[arp]") {
  const uint32_t host = ip("10.16.1.77");
  SECTION("queue 3, five packets: the two oldest dropped") {
    Rig rig;
    for (uint16_t id = 1; id <= 5; id++)
      rig.unresolved(kInside, host, id, id);
    CHECK(rig.counters.resolve_dropped.read() == 2);
    rig.tx.take();
    rig.reply_from(kInside, host, kHostMac, 100);
    auto sent = rig.tx.take();
    REQUIRE(sent.size() == 3);
    for (uint16_t i = 0; i < 3; i++)
      CHECK(rte_be_to_cpu_16(ipv4_at(sent[i].m, 14)->packet_id) == i + 3);
    CHECK(rig.counters.resolve_sent.read() == 3);
  }
  SECTION("queue 0: nothing is held") {
    ArpTimers t;
    t.queue = 0;
    Rig rig(t);
    rig.unresolved(kInside, host, 1, 0);
    rig.unresolved(kInside, host, 2, 0);
    CHECK(rig.counters.resolve_dropped.read() == 2);
    CHECK(rig.tx.take().size() == 1);  // the request still goes out
    rig.reply_from(kInside, host, kHostMac, 100);
    CHECK(rig.tx.take().empty());
  }
}

// A flood to many unanswered addresses held arp.queue packets for each, with
// no bound over all of them: enough addresses emptied the mbuf pool, and
// the ports stopped receiving for every client until they failed.
TEST_CASE("Arp: at most arp.held packets wait in all, over every address", "[arp]") {
  ArpTimers t;
  t.queue = 4;
  t.held = 10;
  Rig rig(t);
  // Five addresses, four packets each: 20 wanted, 10 held.
  for (uint32_t a = 0; a < 5; a++) {
    for (uint16_t id = 1; id <= 4; id++)
      rig.unresolved(kInside, ip("10.16.1.100") + a, static_cast<uint16_t>(a * 4 + id), 0);
  }
  CHECK(rig.arp->held() == 10);
  CHECK(rig.counters.resolve_dropped.read() == 10);
  rig.tx.take();
  // The first address answers: its four go out and make room again.
  rig.reply_from(kInside, ip("10.16.1.100"), kHostMac, 100);
  CHECK(rig.tx.take().size() == 4);
  CHECK(rig.arp->held() == 6);
  rig.unresolved(kInside, ip("10.16.1.110"), 99, 100);
  CHECK(rig.arp->held() == 7);
  // The rest fail: their packets go, nothing is held.
  for (uint64_t ms = 100; ms <= 5000; ms += 100)
    rig.arp->tick(ms);
  CHECK(rig.arp->held() == 0);
  CHECK(rig.counters.resolve_dropped.read() == 10 + 7);
}

TEST_CASE("Arp: an address made on demand fails, drops its queue, then is forgotten", "[arp]") {
  Rig rig;
  const uint32_t host = ip("10.16.1.77");
  rig.unresolved(kInside, host, 1, 0);
  rig.unresolved(kInside, host, 2, 0);
  rig.arp->tick(1000);
  rig.arp->tick(2000);
  CHECK(rig.tx.take().size() == 3);
  rig.arp->tick(3000);
  CHECK(rig.state(kInside, host) == Arp::State::failed);
  CHECK(rig.slot(kInside, host) == NeighbourTable::kFailed);
  CHECK(rig.counters.resolve_dropped.read() == 2);

  rig.unresolved(kInside, host, 3, 3500);  // punted before the worker saw kFailed
  CHECK(rig.counters.resolve_dropped.read() == 3);
  CHECK(rig.tx.take().empty());

  const size_t before = rig.arp->entries();
  rig.arp->tick(6000);
  CHECK(rig.arp->entries() == before - 1);
  CHECK_FALSE(rig.state(kInside, host).has_value());
  CHECK(rig.slot(kInside, host) == 0);  // the next packet is punted and starts again
  CHECK(rig.tx.take().empty());
}

TEST_CASE("Arp: a request for our address is answered on the port it came in on", "[arp]") {
  Rig rig;
  const uint32_t client = ip("10.16.1.10");
  SECTION("untagged") {}
  SECTION("on a VLAN") {
    rig.ifaces[kInside].vlan = 42;
  }
  const uint16_t vlan = rig.ifaces[kInside].vlan;
  Frame request = Frame()
                      .to(kBroadcast)
                      .from_mac(kHostMac)
                      .arp(RTE_ARP_OP_REQUEST, kHostMac, client, kZeroMac, ip("10.16.1.1"));
  if (vlan) request.vlan(vlan);
  rig.frame(kInside, request, 0);

  auto sent = rig.tx.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].port == kRxPort);
  const ArpSeen a = decode(sent[0].m);
  CHECK(same(a.eth_dst, kHostMac));
  CHECK(same(a.eth_src, kInsideMac));
  CHECK(a.vlan == vlan);
  CHECK(a.op == RTE_ARP_OP_REPLY);
  CHECK(same(a.sha, kInsideMac));
  CHECK(a.sip == ip("10.16.1.1"));
  CHECK(same(a.tha, kHostMac));
  CHECK(a.tip == client);
  CHECK(rig.counters.arp_requests_in.read() == 1);
  CHECK(rig.counters.arp_replies_out.read() == 1);
  // The requester is learned (RFC 826: merge the sender).
  CHECK(rig.state(kInside, client) == Arp::State::reachable);
  CHECK(rig.slot_has(kInside, client, kHostMac));
}

// A NIC may hand over a frame with its 802.1Q tag stripped
// (RTE_MBUF_F_RX_VLAN_STRIPPED, vlan_tci). parse_stage puts the tag back on
// what it punts, so control, which answers from the frame as received,
// replies on the VLAN.
TEST_CASE("Arp: a request whose VLAN tag the NIC stripped is answered on the VLAN",
          "[arp][parse]") {
  Rig rig;
  rig.ifaces[kInside].vlan = 42;
  rig.ifaces[kInside].lag.publish({kInsidePort, kRxPort});
  rte_mbuf* m = Frame()
                    .to(kBroadcast)
                    .from_mac(kHostMac)
                    .arp(RTE_ARP_OP_REQUEST, kHostMac, ip("10.16.1.10"), kZeroMac, ip("10.16.1.1"))
                    .mbuf();
  REQUIRE(m != nullptr);
  m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
  m->vlan_tci = 42;
  WorkerCounters counters;
  rte_ring* ring =
      rte_ring_create("vlan_strip_punt", 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  REQUIRE(ring != nullptr);
  PacketSink sink{counters, ring};
  rte_mbuf* pkts[1] = {m};
  CHECK(parse_stage(rig.ifaces, ParseConfig{}, kInside, kRxPort, pkts, 1, sink) == 0);
  void* punted = nullptr;
  REQUIRE(rte_ring_sc_dequeue(ring, &punted) == 0);
  rte_ring_free(ring);
  rig.arp->on_frame(kInside, kRxPort, static_cast<rte_mbuf*>(punted), 0, 0);
  auto sent = rig.tx.take();
  REQUIRE(sent.size() == 1);
  const ArpSeen a = decode(sent[0].m);
  CHECK(a.op == RTE_ARP_OP_REPLY);
  CHECK(a.vlan == 42);
}

TEST_CASE("Arp: replies are rate limited", "[arp]") {
  Rig rig(ArpTimers{}, TokenBucket(1, 1, kTscHz));  // one reply per second
  auto request = [&](uint64_t tsc) {
    rig.frame(kInside,
              Frame()
                  .to(kBroadcast)
                  .arp(RTE_ARP_OP_REQUEST, kHostMac, ip("10.16.1.10"), kZeroMac, ip("10.16.1.1")),
              0, tsc);
  };
  request(5000);
  CHECK(rig.tx.take().size() == 1);
  request(5000);
  request(5500);
  CHECK(rig.tx.take().empty());
  CHECK(rig.counters.arp_rate_limited.read() == 2);
  request(6000);
  CHECK(rig.tx.take().size() == 1);
  CHECK(rig.counters.arp_requests_in.read() == 4);
  CHECK(rig.counters.arp_replies_out.read() == 2);
}

TEST_CASE("Arp: gratuitous ARP only updates entries we already have", "[arp]") {
  Rig rig;
  const uint32_t known = ip("10.16.1.20");
  const uint32_t stranger = ip("10.16.1.50");
  rig.unresolved(kInside, known, 1, 0);
  rig.reply_from(kInside, known, kHostMac, 10);
  rig.tx.take();
  REQUIRE(rig.slot_has(kInside, known, kHostMac));
  const size_t entries = rig.arp->entries();

  auto gratuitous = [&](uint32_t addr, const rte_ether_addr& m, uint16_t op) {
    rig.frame(kInside, Frame().to(kBroadcast).from_mac(m).arp(op, m, addr, kZeroMac, addr), 20);
  };
  SECTION("request form") {
    gratuitous(stranger, kOtherMac, RTE_ARP_OP_REQUEST);
    gratuitous(known, kOtherMac, RTE_ARP_OP_REQUEST);
  }
  SECTION("reply form") {
    gratuitous(stranger, kOtherMac, RTE_ARP_OP_REPLY);
    gratuitous(known, kOtherMac, RTE_ARP_OP_REPLY);
  }
  CHECK(rig.arp->entries() == entries);
  CHECK_FALSE(rig.state(kInside, stranger).has_value());
  CHECK(rig.slot(kInside, stranger) == 0);
  CHECK(rig.slot_has(kInside, known, kOtherMac));
  CHECK(rig.tx.take().empty());  // never answered
}

TEST_CASE("Arp: senders that are not hosts of the subnet are not learned", "[arp]") {
  Rig rig;
  const size_t entries = rig.arp->entries();
  struct Case {
    const char* description;
    uint32_t sender;
    rte_ether_addr sender_mac;
  };
  const std::vector<Case> cases = {
      {"off-subnet sender", ip("10.99.0.5"), kOtherMac},
      {"the subnet's broadcast address", ip("10.16.1.255"), kOtherMac},
      {"the subnet's network address", ip("10.16.1.0"), kOtherMac},
      {"a multicast sender MAC", ip("10.16.1.60"), mac(0x01, 0, 0x5e, 0, 0, 1)},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.description) {
      // As a request for our address and as a reply.
      rig.frame(kInside,
                Frame()
                    .to(kBroadcast)
                    .arp(RTE_ARP_OP_REQUEST, c.sender_mac, c.sender, kZeroMac, ip("10.16.1.1")),
                0);
      rig.reply_from(kInside, c.sender, c.sender_mac, 0);
      CHECK(rig.arp->entries() == entries);
      CHECK_FALSE(rig.state(kInside, c.sender).has_value());
    }
  }
}

TEST_CASE("Arp: someone else claiming our address is counted as a conflict", "[arp]") {
  Rig rig;
  SECTION("another MAC") {
    rig.frame(kInside,
              Frame()
                  .to(kBroadcast)
                  .arp(RTE_ARP_OP_REQUEST, kOtherMac, ip("10.16.1.1"), kZeroMac, ip("10.16.1.1")),
              0);
    CHECK(rig.counters.arp_conflicts.read() == 1);
  }
  SECTION("our own announcement looped back") {
    rig.frame(kInside,
              Frame()
                  .to(kBroadcast)
                  .arp(RTE_ARP_OP_REQUEST, kInsideMac, ip("10.16.1.1"), kZeroMac, ip("10.16.1.1")),
              0);
    CHECK(rig.counters.arp_conflicts.read() == 0);
  }
  CHECK(rig.tx.take().empty());
  CHECK(rig.arp->entries() == 0);
}

TEST_CASE("Arp: static entries never change", "[arp]") {
  Rig rig;
  const uint32_t s = ip("10.16.1.5");
  const rte_ether_addr smac = mac(0x02, 0x55, 0, 0, 0, 5);
  rig.arp->add_static(kInside, s, smac);
  CHECK(rig.state(kInside, s) == Arp::State::permanent);
  CHECK(rig.slot_has(kInside, s, smac));
  rig.arp->add_gateway(kInside, s, 0);  // a route via a static neighbour

  rig.reply_from(kInside, s, kOtherMac, 10);
  rig.frame(kInside, Frame().to(kBroadcast).arp(RTE_ARP_OP_REQUEST, kOtherMac, s, kZeroMac, s), 20);
  rig.frame(kInside,
            Frame().to(kBroadcast).arp(RTE_ARP_OP_REQUEST, kOtherMac, s, kZeroMac, ip("10.16.1.1")),
            30);
  for (uint64_t t = 0; t <= 200'000; t += 1000)
    rig.arp->tick(t);
  CHECK(rig.state(kInside, s) == Arp::State::permanent);
  CHECK(rig.slot_has(kInside, s, smac));

  auto sent = rig.tx.take();  // only the reply to the request for our address
  REQUIRE(sent.size() == 1);
  CHECK(decode(sent[0].m).op == RTE_ARP_OP_REPLY);

  rig.unresolved(kInside, s, 9, 300'000);
  sent = rig.tx.take();
  REQUIRE(sent.size() == 1);
  CHECK(same(rte_pktmbuf_mtod(sent[0].m, const rte_ether_hdr*)->dst_addr, smac));
}

TEST_CASE("Arp: announce sends a gratuitous request on every interface", "[arp]") {
  Rig rig;
  rig.arp->announce();
  auto sent = rig.tx.take();
  REQUIRE(sent.size() == 2);
  check_request(sent[0], kInside, ip("10.16.1.1"));
  check_request(sent[1], kOutside, ip("192.0.2.1"));
}

}  // namespace
}  // namespace sluice::test
