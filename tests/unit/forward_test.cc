// Ip4Forward (dataplane/ip4_forward.h) end to end on net_ring ports: packets
// go in as parse_stage leaves them (data at the IPv4 header) and come out of
// the ring behind TX queue 0 (worker 0) of the egress port, or as punts, or
// as counted drops.
//
// Topology: inside 10.16.1.1/24 (client 10.16.1.10 resolved), outside
// 192.0.2.1/24, default route via 192.0.2.2 (resolved).
#include <catch2/catch.hpp>

#include <rte_icmp.h>

#include <memory>
#include <string>
#include <vector>

#include "arp.h"
#include "forward.h"
#include "icmp.h"
#include "ip4_forward.h"
#include "packet_builder.h"
#include "route.h"
#include "support.h"
#include "tables.h"
#include "worker.h"

namespace sluice::test {
namespace {

constexpr uint8_t kInside = 0;
constexpr uint8_t kOutside = 1;
constexpr uint16_t kRxPort = 9;
constexpr uint64_t kHz = 1'000'000;  // the injected clock: microseconds
constexpr uint64_t kNow = 5 * kHz;

const rte_ether_addr kClientMac = mac(0x02, 0xaa, 0, 0, 0, 0x10);
const rte_ether_addr kGatewayMac = mac(0x02, 0xbb, 0, 0, 0, 0x02);
constexpr uint16_t kClientHost = 10;  // 10.16.1.10
constexpr uint16_t kGatewayHost = 2;  // 192.0.2.2

struct Rig {
  explicit Rig(bool default_route = true) {
    REQUIRE(routes.ok());
    std::string error;
    for (uint8_t i = 0; i < kInterfaces; i++) {
      REQUIRE(routes.add(ifaces[i].network, ifaces[i].prefix_len, next_hop::connected(i), &error));
    }
    if (default_route) {
      REQUIRE(routes.add(0, 0, next_hop::via(kOutside, kGatewayHost), &error));
    }
    ifaces[kInside].neighbours.set_mac(kClientHost, kClientMac);
    ifaces[kOutside].neighbours.set_mac(kGatewayHost, kGatewayMac);
    REQUIRE(worker.tx.add_port(inside_port()));
    REQUIRE(worker.tx.add_port(outside_port()));
    worker.icmp_limit = TokenBucket(1000, 100, kHz);
    REQUIRE(rte_ring_count(inside_tx) == 0);
    REQUIRE(rte_ring_count(outside_tx) == 0);
  }
  ~Rig() {
    auto left = drain(inside_tx);
    free_all(left);
    left = drain(outside_tx);
    free_all(left);
  }

  void run(std::vector<rte_mbuf*> pkts, uint8_t in = kInside, uint64_t now = kNow) {
    for (rte_mbuf* m : pkts)
      REQUIRE(m != nullptr);
    forward.process(in, kRxPort, pkts.data(), static_cast<uint16_t>(pkts.size()), now);
    worker.tx.flush();
  }
  void run(rte_mbuf* m, uint8_t in = kInside, uint64_t now = kNow) {
    run(std::vector<rte_mbuf*>{m}, in, now);
  }

  std::vector<rte_mbuf*> sent_inside() { return drain(inside_tx); }
  std::vector<rte_mbuf*> sent_outside() { return drain(outside_tx); }

  LeakCheck leaks;  // first: checked after everything below is released
  Interfaces ifaces = reference_interfaces();
  RouteTable routes;
  PuntRing punts;
  WorkerContext worker{0, punts.get()};
  Ip4Forward forward{ifaces, routes, worker.tx, worker.sink, worker.icmp_limit};
  rte_ring* inside_tx = tx_ring(inside_port(), 0);
  rte_ring* outside_tx = tx_ring(outside_port(), 0);
};

Frame from_client() {
  return Frame().src("10.16.1.10").dst("198.51.100.7").udp().ttl(64);
}
Frame from_internet() {
  return Frame().src("198.51.100.7").dst("10.16.1.10").tcp().ttl(50);
}

const rte_ether_hdr* eth_of(const rte_mbuf* m) {
  return rte_pktmbuf_mtod(m, const rte_ether_hdr*);
}

bool ip_checksum_ok(const rte_ipv4_hdr* ip) {
  return checksum_ok(ip, rte_ipv4_hdr_len(ip)) && rte_ipv4_cksum(ip) == 0;
}

// The datagram as the forwarder should send it: TTL - 1, checksum recomputed.
std::vector<uint8_t> routed(const Frame& f) {
  auto b = f.l3_bytes();
  b[8]--;
  b[10] = b[11] = 0;
  const uint16_t c = fold_complement(sum16(b.data(), (b[0] & 0xf) * 4));
  b[10] = static_cast<uint8_t>(c >> 8);
  b[11] = static_cast<uint8_t>(c);
  return b;
}

std::vector<uint8_t> l3_of(const rte_mbuf* m, uint16_t l2) {
  auto b = contents(m);
  return std::vector<uint8_t>(b.begin() + l2, b.end());
}

TEST_CASE("Ip4Forward: a client packet leaves by the default route, TTL - 1, new L2", "[forward]") {
  Rig rig;
  const Frame f = from_client().payload(100);
  rig.run(f.l3_mbuf());

  CHECK(rig.sent_inside().empty());
  auto out = rig.sent_outside();
  REQUIRE(out.size() == 1);
  const rte_mbuf* m = out[0];
  CHECK(rte_is_same_ether_addr(&eth_of(m)->dst_addr, &kGatewayMac));
  CHECK(rte_is_same_ether_addr(&eth_of(m)->src_addr, &kOutsideMac));
  CHECK(eth_of(m)->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
  const auto* ip = ipv4_at(m, sizeof(rte_ether_hdr));
  CHECK(ip->time_to_live == 63);
  CHECK(ip_checksum_ok(ip));
  CHECK(l3_of(m, sizeof(rte_ether_hdr)) == routed(f));

  CHECK(rig.worker.counters.forwarded() == 1);
  CHECK(rig.worker.counters.tx_packets.read() == 1);
  CHECK(total_drops(rig.worker.counters) == 0);
  free_all(out);
}

TEST_CASE("Ip4Forward: Internet to a connected client, on the inside", "[forward]") {
  Rig rig;
  const Frame f = from_internet();
  rig.run(f.l3_mbuf(), kOutside);
  CHECK(rig.sent_outside().empty());
  auto out = rig.sent_inside();
  REQUIRE(out.size() == 1);
  CHECK(rte_is_same_ether_addr(&eth_of(out[0])->dst_addr, &kClientMac));
  CHECK(rte_is_same_ether_addr(&eth_of(out[0])->src_addr, &kInsideMac));
  CHECK(l3_of(out[0], sizeof(rte_ether_hdr)) == routed(f));
  free_all(out);
}

TEST_CASE("Ip4Forward: the egress VLAN tag is pushed", "[forward]") {
  Rig rig;
  rig.ifaces[kOutside].vlan = 300;
  const Frame f = from_client();
  rig.run(f.l3_mbuf());
  auto out = rig.sent_outside();
  REQUIRE(out.size() == 1);
  const rte_mbuf* m = out[0];
  CHECK(rte_is_same_ether_addr(&eth_of(m)->dst_addr, &kGatewayMac));
  CHECK(rte_is_same_ether_addr(&eth_of(m)->src_addr, &kOutsideMac));
  CHECK(eth_of(m)->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_VLAN));
  const auto* vh = rte_pktmbuf_mtod_offset(m, const rte_vlan_hdr*, sizeof(rte_ether_hdr));
  CHECK(rte_be_to_cpu_16(vh->vlan_tci) == 300);
  CHECK(vh->eth_proto == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
  CHECK(rte_pktmbuf_pkt_len(m) == 18 + f.l3_bytes().size());
  CHECK(l3_of(m, 18) == routed(f));
  free_all(out);
}

TEST_CASE("Ip4Forward: a burst keeps its order on each port", "[forward]") {
  Rig rig;
  std::vector<rte_mbuf*> in;
  for (uint16_t i = 0; i < kBurst; i++)
    in.push_back(from_client().id(i).l3_mbuf());
  rig.run(in);
  auto out = rig.sent_outside();
  REQUIRE(out.size() == kBurst);
  for (uint16_t i = 0; i < kBurst; i++)
    CHECK(rte_be_to_cpu_16(ipv4_at(out[i], 14)->packet_id) == i);
  CHECK(rig.worker.counters.forwarded() == kBurst);
  free_all(out);
}

TEST_CASE("Ip4Forward: no route is a counted drop", "[forward]") {
  Rig rig(false);
  rig.run(from_client().l3_mbuf());
  CHECK(rig.sent_outside().empty());
  CHECK(rig.sent_inside().empty());
  CHECK(rig.worker.counters.dropped(Drop::no_route) == 1);
  CHECK(total_drops(rig.worker.counters) == 1);
}

TEST_CASE("Ip4Forward: an unresolved next hop is punted for ARP", "[forward]") {
  Rig rig;
  SECTION("connected destination") {
    const Frame f = from_internet().dst("10.16.1.77");
    rig.run(f.l3_mbuf(), kOutside);
    auto punted = rig.punts.drain();
    REQUIRE(punted.size() == 1);
    const PacketMeta& pm = meta(punted[0]);
    CHECK(pm.punt == Punt::resolve);
    CHECK(pm.next_hop == next_hop::via(kInside, 77));
    CHECK(next_hop::iface(pm.next_hop) == kInside);
    CHECK(next_hop::host(pm.next_hop) == 77);
    CHECK(pm.iface == kOutside);
    CHECK(pm.rx_port == kRxPort);
    // Data at the IPv4 header: control adds L2 once the neighbour answers.
    CHECK(rte_pktmbuf_pkt_len(punted[0]) == f.l3_bytes().size());
    CHECK(ip_dst(ipv4_at(punted[0])) == ip("10.16.1.77"));
    CHECK(ip_checksum_ok(ipv4_at(punted[0])));
    free_all(punted);
  }
  SECTION("gateway") {
    rig.ifaces[kOutside].neighbours.clear(kGatewayHost);
    rig.run(from_client().l3_mbuf());
    auto punted = rig.punts.drain();
    REQUIRE(punted.size() == 1);
    CHECK(meta(punted[0]).punt == Punt::resolve);
    CHECK(meta(punted[0]).next_hop == next_hop::via(kOutside, kGatewayHost));
    CHECK(meta(punted[0]).iface == kInside);
    free_all(punted);
  }
  CHECK(rig.worker.counters.punted.read() == 1);
  CHECK(total_drops(rig.worker.counters) == 0);
  CHECK(rig.sent_outside().empty());
  CHECK(rig.sent_inside().empty());
}

TEST_CASE("Ip4Forward: a failed neighbour is dropped, not punted", "[forward]") {
  Rig rig;
  rig.ifaces[kInside].neighbours.set_failed(77);
  rig.run(from_internet().dst("10.16.1.77").l3_mbuf(), kOutside);
  CHECK(rig.worker.counters.dropped(Drop::neighbour_failed) == 1);
  CHECK(total_drops(rig.worker.counters) == 1);
  CHECK(rig.worker.counters.punted.read() == 0);
  CHECK(rig.punts.drain().empty());
}

// Checks an ICMP error in frame m (L2 of l2 bytes) and returns its quote.
std::vector<uint8_t> check_icmp_error(const rte_mbuf* m, uint16_t l2, uint32_t src, uint32_t dst,
                                      uint8_t type, uint8_t code) {
  const auto* ip = ipv4_at(m, l2);
  CHECK(rte_ipv4_hdr_len(ip) == 20);
  CHECK(ip->next_proto_id == IPPROTO_ICMP);
  CHECK(ip_src(ip) == src);
  CHECK(ip_dst(ip) == dst);
  CHECK(ip->time_to_live > 1);
  CHECK(ip_checksum_ok(ip));
  const uint16_t total = rte_be_to_cpu_16(ip->total_length);
  CHECK(total == rte_pktmbuf_pkt_len(m) - l2);
  CHECK(total <= 576);
  const auto bytes = l3_of(m, l2);
  CHECK(checksum_ok(bytes.data() + 20, total - 20));
  const auto* icmp = reinterpret_cast<const rte_icmp_hdr*>(ip + 1);
  CHECK(icmp->icmp_type == type);
  CHECK(icmp->icmp_code == code);
  return std::vector<uint8_t>(bytes.begin() + 28, bytes.end());
}

TEST_CASE("Ip4Forward: TTL 1 becomes an ICMP time exceeded to the source", "[forward]") {
  Rig rig;
  SECTION("from a client, answered from the inside address") {
    const Frame f = from_client().ttl(1).payload(40);
    rig.run(f.l3_mbuf());
    CHECK(rig.sent_outside().empty());
    auto out = rig.sent_inside();
    REQUIRE(out.size() == 1);
    CHECK(rte_is_same_ether_addr(&eth_of(out[0])->dst_addr, &kClientMac));
    CHECK(rte_is_same_ether_addr(&eth_of(out[0])->src_addr, &kInsideMac));
    const auto quote =
        check_icmp_error(out[0], 14, ip("10.16.1.1"), ip("10.16.1.10"), kIcmpTimeExceeded, 0);
    // The whole original datagram, as received (TTL 1), fits in 576 bytes.
    CHECK(quote == f.l3_bytes());
    const auto* icmp = rte_pktmbuf_mtod_offset(out[0], const rte_icmp_hdr*, 14 + 20);
    CHECK(icmp->icmp_ident == 0);
    CHECK(icmp->icmp_seq_nb == 0);
    free_all(out);
  }
  SECTION("from the Internet, answered from the outside address via the gateway") {
    const Frame f = from_internet().ttl(1);
    rig.run(f.l3_mbuf(), kOutside);
    auto out = rig.sent_outside();
    REQUIRE(out.size() == 1);
    CHECK(rte_is_same_ether_addr(&eth_of(out[0])->dst_addr, &kGatewayMac));
    const auto quote =
        check_icmp_error(out[0], 14, ip("192.0.2.1"), ip("198.51.100.7"), kIcmpTimeExceeded, 0);
    CHECK(quote == f.l3_bytes());
    free_all(out);
  }
  SECTION("TTL 0 too") {
    rig.run(from_client().ttl(0).l3_mbuf());
    auto out = rig.sent_inside();
    REQUIRE(out.size() == 1);
    check_icmp_error(out[0], 14, ip("10.16.1.1"), ip("10.16.1.10"), kIcmpTimeExceeded, 0);
    free_all(out);
  }
  SECTION("an echo request (not an error) gets one") {
    rig.run(from_client().echo_request().ttl(1).l3_mbuf());
    auto out = rig.sent_inside();
    REQUIRE(out.size() == 1);
    check_icmp_error(out[0], 14, ip("10.16.1.1"), ip("10.16.1.10"), kIcmpTimeExceeded, 0);
    free_all(out);
  }
  CHECK(rig.worker.counters.dropped(Drop::ttl_expired) == 1);
  CHECK(rig.worker.counters.icmp_errors_sent.read() == 1);
  CHECK(rig.worker.counters.forwarded() == 1);  // the ICMP error
  CHECK(total_drops(rig.worker.counters) == 1);
}

TEST_CASE("Ip4Forward: TTL 2 is forwarded with TTL 1", "[forward]") {
  Rig rig;
  rig.run(from_client().ttl(2).l3_mbuf());
  auto out = rig.sent_outside();
  REQUIRE(out.size() == 1);
  CHECK(ipv4_at(out[0], 14)->time_to_live == 1);
  CHECK(ip_checksum_ok(ipv4_at(out[0], 14)));
  free_all(out);
}

TEST_CASE("Ip4Forward: no ICMP error about an ICMP error or a later fragment", "[forward]") {
  Rig rig;
  struct Case {
    const char* description;
    Frame frame;
  };
  const std::vector<Case> cases = {
      {"destination unreachable", from_client().icmp(3, 1).ttl(1)},
      {"time exceeded", from_client().icmp(11, 0).ttl(1)},
      {"redirect", from_client().icmp(5, 1).ttl(1)},
      {"non-first fragment", from_client().frag_offset(185).ttl(1)},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.description) {
      rig.run(c.frame.l3_mbuf());
      CHECK(rig.sent_inside().empty());
      CHECK(rig.sent_outside().empty());
      CHECK(rig.worker.counters.dropped(Drop::ttl_expired) == 1);
      CHECK(rig.worker.counters.icmp_errors_sent.read() == 0);
      CHECK(total_drops(rig.worker.counters) == 1);
    }
  }
}

TEST_CASE("Ip4Forward: ICMP errors are rate limited", "[forward]") {
  Rig rig;
  SECTION("rate 0 sends none") {
    rig.worker.icmp_limit = TokenBucket(0, 10, kHz);
    rig.run(from_client().ttl(1).l3_mbuf());
    CHECK(rig.sent_inside().empty());
    CHECK(rig.worker.counters.icmp_errors_suppressed.read() == 1);
    CHECK(total_drops(rig.worker.counters) == 1);  // one packet, one reason
    CHECK(rig.worker.counters.dropped(Drop::ttl_expired) == 1);
    CHECK(rig.worker.counters.icmp_errors_sent.read() == 0);
  }
  SECTION("a burst of 2, then one per second") {
    rig.worker.icmp_limit = TokenBucket(1, 2, kHz);
    std::vector<rte_mbuf*> in;
    for (int i = 0; i < 5; i++)
      in.push_back(from_client().ttl(1).l3_mbuf());
    rig.run(in);
    auto out = rig.sent_inside();
    CHECK(out.size() == 2);
    free_all(out);
    CHECK(rig.worker.counters.icmp_errors_suppressed.read() == 3);
    CHECK(total_drops(rig.worker.counters) == 5);
    rig.run(from_client().ttl(1).l3_mbuf(), kInside, kNow + kHz / 2);
    CHECK(rig.sent_inside().empty());
    rig.run(from_client().ttl(1).l3_mbuf(), kInside, kNow + kHz);
    out = rig.sent_inside();
    CHECK(out.size() == 1);
    free_all(out);
    CHECK(rig.worker.counters.icmp_errors_sent.read() == 3);
    CHECK(rig.worker.counters.dropped(Drop::ttl_expired) == 7);
  }
}

// One packet, one drop reason: a suppressed ICMP error is counted apart
// (icmp_errors_suppressed), not as a second drop.
TEST_CASE("Ip4Forward: a packet whose ICMP error is rate limited is one drop", "[forward]") {
  Rig rig;
  rig.worker.icmp_limit = TokenBucket(0, 10, kHz);
  rig.run(from_client().ttl(1).l3_mbuf());
  CHECK(total_drops(rig.worker.counters) == 1);
}

TEST_CASE("Ip4Forward: larger than the egress MTU", "[forward]") {
  Rig rig;
  rig.ifaces[kOutside].mtu = 1000;
  // 20 + 8 + 972 = 1000 bytes: fits exactly.
  const Frame fits = from_client().payload(972);
  const Frame big = from_client().payload(973);
  REQUIRE(fits.l3_bytes().size() == 1000);

  SECTION("exactly the MTU is forwarded") {
    rig.run(Frame(fits).df().l3_mbuf());
    auto out = rig.sent_outside();
    CHECK(out.size() == 1);
    free_all(out);
    CHECK(total_drops(rig.worker.counters) == 0);
  }
  SECTION("DF set: ICMP fragmentation needed with the next-hop MTU") {
    const Frame f = Frame(big).df();
    rig.run(f.l3_mbuf());
    CHECK(rig.sent_outside().empty());
    auto out = rig.sent_inside();
    REQUIRE(out.size() == 1);
    CHECK(rte_is_same_ether_addr(&eth_of(out[0])->dst_addr, &kClientMac));
    const auto quote = check_icmp_error(out[0], 14, ip("10.16.1.1"), ip("10.16.1.10"),
                                        kIcmpDestUnreachable, kIcmpCodeFragNeeded);
    const auto* icmp = rte_pktmbuf_mtod_offset(out[0], const rte_icmp_hdr*, 14 + 20);
    CHECK(icmp->icmp_ident == 0);                        // unused
    CHECK(rte_be_to_cpu_16(icmp->icmp_seq_nb) == 1000);  // next-hop MTU (RFC 1191)
    // Capped at 576 bytes: the first 548 bytes of the datagram as it arrived.
    CHECK(rte_be_to_cpu_16(ipv4_at(out[0], 14)->total_length) == 576);
    const auto arrived = f.l3_bytes();
    CHECK(quote == std::vector<uint8_t>(arrived.begin(), arrived.begin() + 548));
    CHECK(rig.worker.counters.dropped(Drop::too_big) == 1);
    CHECK(rig.worker.counters.icmp_errors_sent.read() == 1);
    CHECK(total_drops(rig.worker.counters) == 1);
    free_all(out);
  }
  SECTION("DF clear: fragmented in order, the pieces reassemble to the datagram") {
    // The smallest MTU: pieces of 552 data bytes (a multiple of 8) + header.
    rig.ifaces[kOutside].mtu = 576;
    const Frame f = from_client().id(0x4242).payload(1900, 7);  // 1908 bytes of UDP
    const auto sent = routed(f);                                // as it should leave, TTL - 1
    rig.run(f.l3_mbuf());
    auto out = rig.sent_outside();
    REQUIRE(out.size() == 4);
    std::vector<uint8_t> data;
    for (size_t k = 0; k < out.size(); k++) {
      const rte_ipv4_hdr* ip = ipv4_at(out[k], 14);
      const uint16_t field = rte_be_to_cpu_16(ip->fragment_offset);
      INFO("piece " << k);
      CHECK(ip_checksum_ok(ip));
      CHECK(rte_be_to_cpu_16(ip->packet_id) == 0x4242);
      CHECK(ip->time_to_live == 63);
      CHECK(rte_pktmbuf_data_len(out[k]) == 14 + rte_be_to_cpu_16(ip->total_length));
      CHECK(rte_be_to_cpu_16(ip->total_length) <= 576);
      CHECK((field & RTE_IPV4_HDR_OFFSET_MASK) * 8u == data.size());
      CHECK(((field & RTE_IPV4_HDR_MF_FLAG) != 0) == (k + 1 < out.size()));
      CHECK(rte_is_same_ether_addr(&eth_of(out[k])->dst_addr, &kGatewayMac));
      const auto l3 = l3_of(out[k], 14);
      data.insert(data.end(), l3.begin() + 20, l3.end());
    }
    CHECK(data == std::vector<uint8_t>(sent.begin() + 20, sent.end()));
    CHECK(rig.worker.counters.fragments_made.read() == 3);
    CHECK(rig.worker.counters.tx_packets.read() == 4);
    CHECK(total_drops(rig.worker.counters) == 0);
    free_all(out);
  }
  SECTION("a fragment split again keeps its offset, and its MF on the last piece") {
    const Frame f = from_client().udp().payload(1492).mf().frag_offset(100);
    rig.run(f.l3_mbuf());
    auto out = rig.sent_outside();
    REQUIRE(out.size() == 2);
    const uint16_t first = rte_be_to_cpu_16(ipv4_at(out[0], 14)->fragment_offset);
    const uint16_t second = rte_be_to_cpu_16(ipv4_at(out[1], 14)->fragment_offset);
    CHECK(first == (100 | RTE_IPV4_HDR_MF_FLAG));
    CHECK(second == ((100 + 976 / 8) | RTE_IPV4_HDR_MF_FLAG));
    free_all(out);
  }
  SECTION("DF clear with IP options: dropped (too-big), not fragmented") {
    rig.run(Frame(big).options(4).l3_mbuf());
    CHECK(rig.sent_outside().empty());
    CHECK(rig.sent_inside().empty());
    CHECK(rig.worker.counters.dropped(Drop::too_big) == 1);
    CHECK(rig.worker.counters.fragments_made.read() == 0);
    CHECK(total_drops(rig.worker.counters) == 1);
  }
}

// Control's transmit side, captured.
class CaptureTx final : public ControlTx {
 public:
  ~CaptureTx() override { free_all(sent); }
  rte_mbuf* alloc() noexcept override { return rte_pktmbuf_alloc(pool()); }
  void send(uint16_t, rte_mbuf* m) noexcept override { sent.push_back(m); }
  std::vector<rte_mbuf*> sent;
};

// RFC 1812 5.3.1: a packet that waited for its next hop's MAC is still one
// hop: it leaves with TTL - 1 like one sent at once.
TEST_CASE("Ip4Forward + Arp: a packet that waited for ARP leaves with TTL - 1", "[forward][arp]") {
  Rig rig;
  CaptureTx control_tx;
  ControlCounters control_counters;
  Arp arp(rig.ifaces, ArpTimers{}, control_tx, control_counters, TokenBucket(1000, 100, kHz));

  const Frame f = from_internet().dst("10.16.1.77").ttl(50);
  rig.run(f.l3_mbuf(), kOutside);
  auto punted = rig.punts.drain();
  REQUIRE(punted.size() == 1);
  REQUIRE(meta(punted[0]).punt == Punt::resolve);
  arp.on_unresolved(punted[0], 0);
  REQUIRE(control_tx.sent.size() == 1);  // the ARP request
  const rte_ether_addr host_mac = mac(0x02, 0xaa, 0, 0, 0, 77);
  arp.on_frame(kInside, inside_port(),
               Frame()
                   .to(kInsideMac)
                   .from_mac(host_mac)
                   .arp(RTE_ARP_OP_REPLY, host_mac, ip("10.16.1.77"), kInsideMac, ip("10.16.1.1"))
                   .mbuf(),
               10, 0);
  REQUIRE(control_tx.sent.size() == 2);
  const rte_mbuf* m = control_tx.sent[1];
  REQUIRE(eth_of(m)->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4));
  CHECK(rte_is_same_ether_addr(&eth_of(m)->dst_addr, &host_mac));
  CHECK(ip_checksum_ok(ipv4_at(m, 14)));
  CHECK(int{ipv4_at(m, 14)->time_to_live} == 49);
  CHECK(l3_of(m, 14) == routed(f));
}

TEST_CASE("forward pipeline: parse, anti-spoof and forward in one burst", "[forward][pipeline]") {
  LeakCheck leaks;
  Tables tables = reference_tables("unit_pipeline_clients");
  tables.ifaces[kInside].neighbours.set_mac(kClientHost, kClientMac);
  tables.ifaces[kOutside].neighbours.set_mac(kGatewayHost, kGatewayMac);

  PuntRing punts;
  WorkerContext worker(0, punts.get());
  REQUIRE(worker.tx.add_port(inside_port()));
  REQUIRE(worker.tx.add_port(outside_port()));
  worker.icmp_limit = TokenBucket(1000, 100, kHz);
  auto pipeline = make_forward_pipeline(tables, worker);

  std::vector<rte_mbuf*> in = {
      from_client().id(1).mbuf(),                                  // forwarded
      from_client().id(2).src("10.99.0.1").mbuf(),                 // spoofed
      from_client().id(3).bad_checksum().mbuf(),                   // bad checksum
      from_client().id(4).ttl(1).mbuf(),                           // ICMP time exceeded
      from_client().id(5).dst("10.16.1.1").echo_request().mbuf(),  // punted
      from_client().id(6).mbuf(),                                  // forwarded
  };
  pipeline->process(kInside, inside_port(), in.data(), static_cast<uint16_t>(in.size()), kNow);
  worker.tx.flush();

  auto out = drain(tx_ring(outside_port(), 0));
  REQUIRE(out.size() == 2);
  CHECK(rte_be_to_cpu_16(ipv4_at(out[0], 14)->packet_id) == 1);
  CHECK(rte_be_to_cpu_16(ipv4_at(out[1], 14)->packet_id) == 6);
  auto back = drain(tx_ring(inside_port(), 0));
  REQUIRE(back.size() == 1);
  check_icmp_error(back[0], 14, ip("10.16.1.1"), ip("10.16.1.10"), kIcmpTimeExceeded, 0);
  auto punted = punts.drain();
  REQUIRE(punted.size() == 1);
  CHECK(meta(punted[0]).punt == Punt::icmp_echo);
  CHECK(meta(punted[0]).rx_port == inside_port());

  const WorkerCounters& c = worker.counters;
  CHECK(c.dropped(Drop::spoofed_source) == 1);
  CHECK(c.dropped(Drop::ip_bad_checksum) == 1);
  CHECK(c.dropped(Drop::ttl_expired) == 1);
  CHECK(total_drops(c) == 3);
  CHECK(c.forwarded() == 3);
  CHECK(c.punted.read() == 1);
  free_all(out);
  free_all(back);
  free_all(punted);
}

}  // namespace
}  // namespace sluice::test
