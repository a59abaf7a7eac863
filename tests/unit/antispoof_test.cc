// antispoof_stage (dataplane/antispoof.h): on the inside only sources of the
// client prefixes pass; everything else is dropped as spoofed-source.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "antispoof.h"
#include "packet_builder.h"
#include "route.h"
#include "support.h"

namespace sluice::test {
namespace {

struct SourceCase {
  const char* source;
  bool allowed;
};

TEST_CASE("antispoof_stage: only client prefixes pass, order kept", "[antispoof]") {
  LeakCheck leaks;
  PrefixSet clients("unit_clients");
  REQUIRE(clients.ok());
  std::string error;
  REQUIRE(clients.insert(ip("10.16.0.0"), 12, &error));
  REQUIRE(clients.insert(ip("100.64.0.0"), 28, &error));
  REQUIRE(clients.insert(ip("192.168.7.0"), 24, &error));
  REQUIRE(clients.insert(ip("172.20.1.9"), 32, &error));

  const std::vector<SourceCase> table = {
      {"10.16.0.0", true},        // first address of the /12
      {"10.16.1.10", true},       //
      {"10.31.255.255", true},    // last address of the /12
      {"10.15.255.255", false},   // just below
      {"10.32.0.0", false},       // just above
      {"100.64.0.0", true},       // the /28
      {"100.64.0.15", true},      //
      {"100.64.0.16", false},     // one past the /28
      {"100.63.255.255", false},  //
      {"192.168.7.200", true},    //
      {"192.168.8.1", false},     //
      {"172.20.1.9", true},       // the /32
      {"172.20.1.8", false},      //
      {"172.20.1.10", false},     //
      {"198.51.100.7", false},    // somewhere on the Internet
      {"10.0.0.1", false},        // RFC 1918 but not ours
  };
  for (const auto& c : table) {
    INFO(c.source);
    CHECK(clients.contains(ip(c.source)) == c.allowed);
  }

  WorkerCounters counters;
  PuntRing punts;
  PacketSink sink{counters, punts.get()};
  std::vector<rte_mbuf*> pkts;
  std::vector<uint16_t> expected_ids;
  for (uint16_t i = 0; i < table.size(); i++) {
    pkts.push_back(Frame().src(table[i].source).id(i).l3_mbuf());
    if (table[i].allowed) expected_ids.push_back(i);
  }
  const uint16_t kept =
      antispoof_stage(clients, pkts.data(), static_cast<uint16_t>(pkts.size()), sink);
  REQUIRE(kept == expected_ids.size());
  for (uint16_t i = 0; i < kept; i++) {
    CHECK(rte_be_to_cpu_16(ipv4_at(pkts[i])->packet_id) == expected_ids[i]);
    rte_pktmbuf_free(pkts[i]);
  }
  CHECK(counters.dropped(Drop::spoofed_source) == table.size() - expected_ids.size());
  CHECK(counters.punted.read() == 0);
}

TEST_CASE("antispoof_stage: empty burst and all-spoofed burst", "[antispoof]") {
  LeakCheck leaks;
  PrefixSet clients("unit_clients2");
  REQUIRE(clients.ok());
  REQUIRE(clients.insert(ip("10.16.0.0"), 12, nullptr));
  WorkerCounters counters;
  PuntRing punts;
  PacketSink sink{counters, punts.get()};

  CHECK(antispoof_stage(clients, nullptr, 0, sink) == 0);

  rte_mbuf* pkts[kBurst];
  for (auto& m : pkts)
    m = Frame().src("203.0.113.9").l3_mbuf();
  CHECK(antispoof_stage(clients, pkts, kBurst, sink) == 0);
  CHECK(counters.dropped(Drop::spoofed_source) == kBurst);
}

}  // namespace
}  // namespace sluice::test
