// parse_stage (dataplane/parse.h): what is accepted, what is punted to
// control, and under which drop reason everything else is counted.
#include <catch2/catch.hpp>

#include <rte_arp.h>

#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "counters.h"
#include "packet_builder.h"
#include "parse.h"
#include "support.h"

namespace sluice::test {
namespace {

constexpr uint8_t kInside = 0;
constexpr uint8_t kOutside = 1;
constexpr uint16_t kRxPort = 7;

enum class Outcome { forward, drop, punt };

struct Expect {
  Outcome outcome;
  Drop drop = Drop::count;
  Punt punt = Punt::none;
};
Expect forwarded() {
  return {Outcome::forward};
}
Expect dropped(Drop d) {
  return {Outcome::drop, d};
}
Expect punted(Punt p) {
  return {Outcome::punt, Drop::count, p};
}

struct Case {
  const char* description;
  Frame frame;
  Expect expect;
  uint8_t in = kInside;
  uint16_t vlan = 0;  // of the receiving interface
  bool allow_options = false;
};

std::string drop_name(Drop d) {
  return d == Drop::count ? "none" : std::string(kDropInfo[static_cast<size_t>(d)].name);
}

// Whatever the subnet layout, a client talking to the Internet.
Frame client() {
  return Frame().to(kInsideMac).src("10.16.1.10").dst("198.51.100.7").udp();
}
Frame arp_request() {
  return Frame()
      .to(kBroadcast)
      .arp(RTE_ARP_OP_REQUEST, mac(0x02, 0xaa, 0, 0, 0, 0x10), ip("10.16.1.10"),
           mac(0, 0, 0, 0, 0, 0), ip("10.16.1.1"));
}

std::vector<Case> cases() {
  const auto ours = kInsideMac;
  return {
      // Ethernet
      {"13-byte frame", client().truncate(13), dropped(Drop::eth_truncated)},
      {"802.1Q frame cut inside its tag", client().vlan(100).truncate(16),
       dropped(Drop::eth_truncated), kInside, 100},
      {"tagged frame on an untagged interface", client().vlan(100), dropped(Drop::vlan_mismatch)},
      {"untagged frame on a VLAN interface", client(), dropped(Drop::vlan_mismatch), kInside, 100},
      {"frame tagged for another VLAN", client().vlan(200), dropped(Drop::vlan_mismatch), kInside,
       100},
      {"unicast frame for another MAC", client().to(mac(0x02, 0, 0, 0, 9, 9)),
       dropped(Drop::not_for_us)},
      {"IPv6 EtherType", client().ether_type(RTE_ETHER_TYPE_IPV6), dropped(Drop::not_ipv4)},
      {"LLDP EtherType", client().ether_type(RTE_ETHER_TYPE_LLDP), dropped(Drop::not_ipv4)},
      // ARP
      {"ARP request", arp_request(), punted(Punt::arp)},
      {"ARP reply to our MAC",
       Frame().to(ours).arp(RTE_ARP_OP_REPLY, mac(0x02, 0xaa, 0, 0, 0, 0x10), ip("10.16.1.10"),
                            ours, ip("10.16.1.1")),
       punted(Punt::arp)},
      {"ARP request on the VLAN", arp_request().vlan(100), punted(Punt::arp), kInside, 100},
      {"ARP truncated", arp_request().truncate(14 + 20), dropped(Drop::arp_invalid)},
      // Slow protocols (LACP, marker): untagged, to control whatever their body
      {"LACPDU to the slow protocols address",
       client().to(mac(0x01, 0x80, 0xc2, 0, 0, 2)).ether_type(RTE_ETHER_TYPE_SLOW),
       punted(Punt::slow_protocols)},
      {"LACPDU, untagged, on a VLAN interface",
       client().to(mac(0x01, 0x80, 0xc2, 0, 0, 2)).ether_type(RTE_ETHER_TYPE_SLOW),
       punted(Punt::slow_protocols), kInside, 100},
      {"slow protocols frame for another host's MAC",
       client().to(mac(0x02, 0xaa, 0, 0, 0, 0x10)).ether_type(RTE_ETHER_TYPE_SLOW),
       dropped(Drop::not_for_us)},
      {"ARP for IEEE 802 hardware", arp_request().arp_hardware(6), dropped(Drop::arp_invalid)},
      // IPv4 header
      {"IPv4 frame shorter than 20 bytes of header", client().truncate(14 + 19),
       dropped(Drop::ip_truncated)},
      {"IP version 6 in an IPv4 EtherType", client().version(6), dropped(Drop::ip_bad_version)},
      {"IHL 4", client().ihl(4), dropped(Drop::ip_bad_ihl)},
      {"IHL 15 beyond the end of the frame", client().ihl(15).payload(0),
       dropped(Drop::ip_bad_ihl)},
      {"total length below the header", client().total_length(19), dropped(Drop::ip_bad_length)},
      {"total length beyond the frame", client().total_length(1000), dropped(Drop::ip_bad_length)},
      {"total length one byte beyond the frame", client().payload(18).total_length(47),
       dropped(Drop::ip_bad_length)},
      {"bad header checksum", client().bad_checksum(), dropped(Drop::ip_bad_checksum)},
      {"options, dropped by default", client().options(4), dropped(Drop::ip_options)},
      {"options, forwarded when allowed", client().options(8), forwarded(), kInside, 0, true},
      // Martians
      {"source 0.1.2.3", client().src("0.1.2.3"), dropped(Drop::martian_source)},
      {"source 127.0.0.1", client().src("127.0.0.1"), dropped(Drop::martian_source)},
      {"source multicast 224.0.0.5", client().src("224.0.0.5"), dropped(Drop::martian_source)},
      {"source class E 240.0.0.1", client().src("240.0.0.1"), dropped(Drop::martian_source)},
      {"source 255.255.255.255", client().src("255.255.255.255"), dropped(Drop::martian_source)},
      {"source is our inside address", client().src("10.16.1.1"), dropped(Drop::martian_source)},
      {"source is our outside address", client().to(kOutsideMac).src("192.0.2.1").dst("10.16.1.10"),
       dropped(Drop::martian_source), kOutside},
      {"destination 0.0.0.0", client().dst("0.0.0.0"), dropped(Drop::martian_destination)},
      {"destination 127.0.0.1", client().dst("127.0.0.1"), dropped(Drop::martian_destination)},
      {"destination multicast 239.1.1.1", client().dst("239.1.1.1"),
       dropped(Drop::martian_destination)},
      {"destination 255.255.255.255", client().to(kBroadcast).dst("255.255.255.255"),
       dropped(Drop::martian_destination)},
      {"destination the inside directed broadcast", client().dst("10.16.1.255"),
       dropped(Drop::martian_destination)},
      {"destination the inside network address", client().dst("10.16.1.0"),
       dropped(Drop::martian_destination)},
      {"destination the outside directed broadcast", client().dst("192.0.2.255"),
       dropped(Drop::martian_destination)},
      // To us
      {"ICMP echo request to our inside address", client().dst("10.16.1.1").echo_request(),
       punted(Punt::icmp_echo)},
      {"ICMP echo request to our outside address, from the inside",
       client().dst("192.0.2.1").echo_request(), punted(Punt::icmp_echo)},
      {"ICMP echo request from the Internet to our outside address",
       client().to(kOutsideMac).src("198.51.100.7").dst("192.0.2.1").echo_request(),
       punted(Punt::icmp_echo), kOutside},
      {"ICMP echo reply to our address", client().dst("10.16.1.1").icmp(RTE_IP_ICMP_ECHO_REPLY),
       dropped(Drop::local_unsupported)},
      {"fragmented ICMP echo request to our address", client().dst("10.16.1.1").echo_request().mf(),
       dropped(Drop::local_unsupported)},
      {"UDP to our address", client().dst("10.16.1.1").udp(40000, 161),
       dropped(Drop::local_unsupported)},
      {"TCP to our address", client().dst("10.16.1.1").tcp(40000, 22),
       dropped(Drop::local_unsupported)},
      // Good
      {"UDP to the Internet", client(), forwarded()},
      {"TCP to the Internet", client().tcp(), forwarded()},
      {"ICMP echo request through us", client().echo_request(), forwarded()},
      {"broadcast MAC, unicast IPv4", client().to(kBroadcast), forwarded()},
      {"multicast MAC, unicast IPv4", client().to(mac(0x01, 0, 0x5e, 0, 0, 1)), forwarded()},
      {"TTL 1 (expiry is the forwarder's business)", client().ttl(1), forwarded()},
      {"DF set", client().df(), forwarded()},
      {"first fragment", client().mf(), forwarded()},
      {"later fragment", client().frag_offset(100), forwarded()},
      {"Internet to a client on the outside",
       client().to(kOutsideMac).src("198.51.100.7").dst("10.16.1.10"), forwarded(), kOutside},
      {"frame tagged for our VLAN", client().vlan(100), forwarded(), kInside, 100},
      {"frame tagged for our VLAN with priority 5", client().vlan(0xa000 | 100), forwarded(),
       kInside, 100},
  };
}

TEST_CASE("parse_stage: one frame in, one verdict out, one counter", "[parse]") {
  for (const Case& c : cases()) {
    DYNAMIC_SECTION(c.description) {
      LeakCheck leaks;
      Interfaces ifaces = reference_interfaces(kRxPort, kRxPort);
      ifaces[c.in].vlan = c.vlan;
      ParseConfig cfg;
      cfg.allow_ip_options = c.allow_options;
      WorkerCounters counters;
      PuntRing punts;
      PacketSink sink{counters, punts.get()};

      rte_mbuf* pkts[1] = {c.frame.mbuf()};
      REQUIRE(pkts[0] != nullptr);
      const uint16_t kept = parse_stage(ifaces, cfg, c.in, kRxPort, pkts, 1, sink);
      auto punted_pkts = punts.drain();

      switch (c.expect.outcome) {
        case Outcome::drop: {
          CHECK(kept == 0);
          INFO("expected drop " << drop_name(c.expect.drop));
          CHECK(counters.dropped(c.expect.drop) == 1);
          CHECK(total_drops(counters) == 1);
          CHECK(punted_pkts.empty());
          CHECK(counters.punted.read() == 0);
          break;
        }
        case Outcome::punt:
          CHECK(kept == 0);
          CHECK(total_drops(counters) == 0);
          CHECK(counters.punted.read() == 1);
          REQUIRE(punted_pkts.size() == 1);
          CHECK(meta(punted_pkts[0]).punt == c.expect.punt);
          CHECK(meta(punted_pkts[0]).iface == c.in);
          CHECK(meta(punted_pkts[0]).rx_port == kRxPort);
          // Control gets the frame as it arrived, L2 header included.
          CHECK(contents(punted_pkts[0]) == c.frame.bytes());
          break;
        case Outcome::forward: {
          INFO("dropped as: " << [&] {
            std::string s;
            for (size_t i = 0; i < kDropCount; i++)
              if (counters.drops[i].read()) s += std::string(kDropInfo[i].name) + " ";
            return s;
          }());
          REQUIRE(kept == 1);
          CHECK(total_drops(counters) == 0);
          CHECK(punted_pkts.empty());
          // L2 gone: the mbuf holds exactly the IPv4 datagram.
          CHECK(contents(pkts[0]) == c.frame.l3_bytes());
          rte_pktmbuf_free(pkts[0]);
          break;
        }
      }
      free_all(punted_pkts);
    }
  }
}

TEST_CASE("parse_stage: survivors are compacted in order, L2 stripped, padding trimmed",
          "[parse]") {
  LeakCheck leaks;
  Interfaces ifaces = reference_interfaces(kRxPort, kRxPort);
  WorkerCounters counters;
  PuntRing punts;
  PacketSink sink{counters, punts.get()};

  const std::vector<Frame> frames = {
      client().id(1),                                    // forward
      client().id(2).bad_checksum(),                     // drop
      client().id(3).payload(2).pad(16),                 // forward, 16 bytes of padding
      arp_request(),                                     // punt
      client().id(5).dst("10.16.1.1").udp(1, 2),         // drop (local)
      client().id(6).tcp().payload(100),                 // forward
      client().id(7).to(mac(0x02, 0, 0, 0, 9, 9)),       // drop
      client().id(8).dst("10.16.1.1").echo_request(),    // punt
      client().id(9).echo_request().payload(0).pad(20),  // forward, padded to 60 bytes
  };
  std::vector<rte_mbuf*> pkts;
  for (const Frame& f : frames)
    pkts.push_back(f.mbuf());
  REQUIRE(rte_pktmbuf_pkt_len(pkts[2]) == 14 + 20 + 8 + 2 + 16);

  const uint16_t kept = parse_stage(ifaces, ParseConfig{}, kInside, kRxPort, pkts.data(),
                                    static_cast<uint16_t>(pkts.size()), sink);
  REQUIRE(kept == 4);
  const std::vector<int> survivors = {0, 2, 5, 8};
  for (uint16_t i = 0; i < kept; i++) {
    INFO("survivor " << i);
    const Frame& f = frames[survivors[i]];
    CHECK(contents(pkts[i]) == f.l3_bytes());
    CHECK(rte_pktmbuf_pkt_len(pkts[i]) == rte_be_to_cpu_16(ipv4_at(pkts[i])->total_length));
    CHECK(rte_pktmbuf_data_len(pkts[i]) == rte_pktmbuf_pkt_len(pkts[i]));
    rte_pktmbuf_free(pkts[i]);
  }
  CHECK(counters.dropped(Drop::ip_bad_checksum) == 1);
  CHECK(counters.dropped(Drop::local_unsupported) == 1);
  CHECK(counters.dropped(Drop::not_for_us) == 1);
  CHECK(total_drops(counters) == 3);
  CHECK(counters.punted.read() == 2);

  auto punted_pkts = punts.drain();
  REQUIRE(punted_pkts.size() == 2);
  CHECK(meta(punted_pkts[0]).punt == Punt::arp);
  CHECK(meta(punted_pkts[1]).punt == Punt::icmp_echo);
  free_all(punted_pkts);
}

TEST_CASE("parse_stage: a full burst of 32 good frames passes untouched in order", "[parse]") {
  LeakCheck leaks;
  Interfaces ifaces = reference_interfaces(kRxPort, kRxPort);
  WorkerCounters counters;
  PuntRing punts;
  PacketSink sink{counters, punts.get()};
  rte_mbuf* pkts[kBurst];
  for (uint16_t i = 0; i < kBurst; i++)
    pkts[i] = client().id(i).payload(i * 10).mbuf();
  REQUIRE(parse_stage(ifaces, ParseConfig{}, kInside, kRxPort, pkts, kBurst, sink) == kBurst);
  for (uint16_t i = 0; i < kBurst; i++) {
    CHECK(rte_be_to_cpu_16(ipv4_at(pkts[i])->packet_id) == i);
    rte_pktmbuf_free(pkts[i]);
  }
  CHECK(total_drops(counters) == 0);
}

TEST_CASE("parse_stage: VLAN stripped by the NIC and checksum offload flags", "[parse]") {
  LeakCheck leaks;
  Interfaces ifaces = reference_interfaces(kRxPort, kRxPort);
  WorkerCounters counters;
  PuntRing punts;
  PacketSink sink{counters, punts.get()};

  auto parse_one = [&](rte_mbuf* m) {
    rte_mbuf* pkts[1] = {m};
    const uint16_t kept = parse_stage(ifaces, ParseConfig{}, kInside, kRxPort, pkts, 1, sink);
    if (kept == 1) {
      // The VLAN flags are consumed with the L2 header.
      CHECK((pkts[0]->ol_flags & (RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED)) == 0);
      rte_pktmbuf_free(pkts[0]);
    }
    return kept;
  };
  auto stripped = [](uint16_t tci) {
    rte_mbuf* m = client().mbuf();
    m->ol_flags |= RTE_MBUF_F_RX_VLAN | RTE_MBUF_F_RX_VLAN_STRIPPED;
    m->vlan_tci = tci;
    return m;
  };

  SECTION("stripped tag for our VLAN is accepted") {
    ifaces[kInside].vlan = 100;
    CHECK(parse_one(stripped(100)) == 1);
    CHECK(total_drops(counters) == 0);
  }
  SECTION("stripped tag for another VLAN") {
    ifaces[kInside].vlan = 100;
    CHECK(parse_one(stripped(200)) == 0);
    CHECK(counters.dropped(Drop::vlan_mismatch) == 1);
  }
  SECTION("stripped tag on an untagged interface") {
    CHECK(parse_one(stripped(100)) == 0);
    CHECK(counters.dropped(Drop::vlan_mismatch) == 1);
  }
  SECTION("NIC says the IP checksum is bad") {
    rte_mbuf* m = client().mbuf();
    m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_BAD;
    CHECK(parse_one(m) == 0);
    CHECK(counters.dropped(Drop::ip_bad_checksum) == 1);
  }
  SECTION("NIC says the IP checksum is good: not verified again") {
    rte_mbuf* m = client().bad_checksum().mbuf();
    m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_GOOD;
    CHECK(parse_one(m) == 1);
    CHECK(total_drops(counters) == 0);
  }
}

TEST_CASE("parse_stage: a full punt ring is a counted drop", "[parse]") {
  LeakCheck leaks;
  Interfaces ifaces = reference_interfaces(kRxPort, kRxPort);
  WorkerCounters counters;
  PuntRing punts(4);  // 3 usable slots
  PacketSink sink{counters, punts.get()};
  rte_mbuf* pkts[5];
  for (auto& m : pkts)
    m = arp_request().mbuf();
  CHECK(parse_stage(ifaces, ParseConfig{}, kInside, kRxPort, pkts, 5, sink) == 0);
  CHECK(counters.punted.read() == 3);
  CHECK(counters.dropped(Drop::punt_ring_full) == 2);
  auto punted_pkts = punts.drain();
  CHECK(punted_pkts.size() == 3);
  free_all(punted_pkts);
}

// 802.1AX 6.2.11: a member that is not collecting (LACP has not agreed, or
// its link is down or within up-delay) passes on LACPDUs and markers only.
TEST_CASE("parse_stage: a member that is not collecting takes only slow protocols frames",
          "[parse][lag]") {
  LeakCheck leaks;
  constexpr uint16_t kCollecting = 3;
  constexpr uint16_t kIdle = 4;
  Interfaces ifaces = reference_interfaces(kCollecting, kRxPort);
  ifaces[kInside].members = {kCollecting, kIdle};
  // kIdle collects nothing and distributes nothing; then it collects only.
  ifaces[kInside].lag.publish({kCollecting}, {kCollecting});
  WorkerCounters counters;
  PuntRing punts;
  PacketSink sink{counters, punts.get()};
  const Frame lacpdu = client().to(mac(0x01, 0x80, 0xc2, 0, 0, 2)).ether_type(RTE_ETHER_TYPE_SLOW);
  auto burst = [&](uint16_t port) {
    rte_mbuf* pkts[4] = {client().id(1).mbuf(), arp_request().mbuf(), lacpdu.mbuf(),
                         client().id(4).dst("10.16.1.1").echo_request().mbuf()};
    const uint16_t kept = parse_stage(ifaces, ParseConfig{}, kInside, port, pkts, 4, sink);
    for (uint16_t i = 0; i < kept; i++)
      rte_pktmbuf_free(pkts[i]);
    auto punted_pkts = punts.drain();
    std::vector<Punt> why;
    for (rte_mbuf* m : punted_pkts)
      why.push_back(meta(m).punt);
    free_all(punted_pkts);
    return std::pair{kept, why};
  };

  auto [kept, why] = burst(kIdle);
  CHECK(kept == 0);
  CHECK(why == std::vector<Punt>{Punt::slow_protocols});
  CHECK(counters.dropped(Drop::not_collecting) == 3);
  CHECK(total_drops(counters) == 3);

  std::tie(kept, why) = burst(kCollecting);
  CHECK(kept == 1);
  CHECK(why == std::vector<Punt>{Punt::arp, Punt::slow_protocols, Punt::icmp_echo});
  CHECK(counters.dropped(Drop::not_collecting) == 3);

  // Collecting before distributing (the partner is in sync, not yet
  // collecting): frames are taken, nothing is sent there yet.
  ifaces[kInside].lag.publish({kCollecting}, {kCollecting, kIdle});
  std::tie(kept, why) = burst(kIdle);
  CHECK(kept == 1);
  CHECK(why.size() == 3);
  CHECK(counters.dropped(Drop::not_collecting) == 3);
  CHECK(total_drops(counters) == 3);
}

// The network and broadcast addresses of our subnets are martian as a
// source as well as a destination.
TEST_CASE("parse_stage: a directed broadcast of our subnet is a martian source", "[parse]") {
  LeakCheck leaks;
  Interfaces ifaces = reference_interfaces(kRxPort, kRxPort);
  WorkerCounters counters;
  PuntRing punts;
  PacketSink sink{counters, punts.get()};
  rte_mbuf* pkts[1] = {client().src("10.16.1.255").mbuf()};
  const uint16_t kept = parse_stage(ifaces, ParseConfig{}, kInside, kRxPort, pkts, 1, sink);
  if (kept == 1) rte_pktmbuf_free(pkts[0]);
  CHECK(kept == 0);
  CHECK(counters.dropped(Drop::martian_source) == 1);
}

}  // namespace
}  // namespace sluice::test
