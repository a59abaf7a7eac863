// Per-client microflow policing (dataplane/policer.h): the meters' exact
// decisions on an injected microsecond clock, written as tables of steps
// (RFC 2697 srTCM with EBS = 0, RFC 2698 trTCM), the colour actions on real
// packets, and the prefix table of profiles. Policing through the NAT (one
// budget per client, directions and clients independent) is in nat_test.cc.
#include <catch2/catch.hpp>

#include <rte_ip.h>

#include <cstdint>
#include <vector>

#include "packet.h"
#include "packet_builder.h"
#include "policer.h"
#include "support.h"

namespace sluice::test {
namespace {

constexpr uint64_t kUs = 1'000'000;  // the clock: microseconds

PolicerSpec one_rate(uint64_t cir = 8'000'000, uint64_t cbs = 250'000) {
  PolicerSpec s;
  s.name = "clients";
  s.cir = cir;
  s.cbs = cbs;
  s.prefixes = {{ip("10.16.0.0"), 12}};
  return s;
}

PolicerSpec two_rate() {
  PolicerSpec s = one_rate();
  s.pir = 16'000'000;
  s.pbs = 500'000;
  return s;
}

struct Step {
  const char* what;
  uint64_t at_us;
  uint32_t bytes;
  unsigned count;  // packets of `bytes` at the same instant
  PolicerColour expect;
};

const char* name(PolicerColour c) {
  return c == PolicerColour::conform  ? "conform"
         : c == PolicerColour::exceed ? "exceed"
                                      : "violate";
}

// Runs the steps on one fresh meter of the profile's first spec.
void run(const PolicerSpec& spec, const std::vector<Step>& steps) {
  PolicerProfiles profiles({spec}, kUs);
  REQUIRE(profiles.ok());
  ClientMeters meters;
  profiles.reset(meters, 1);
  const uint64_t start = 5 * kUs;  // any reading: the first packet fills the buckets
  for (const Step& s : steps) {
    for (unsigned i = 0; i < s.count; i++) {
      INFO(s.what << " (packet " << i + 1 << " of " << s.count << ")");
      CHECK(name(police(meters.dir[0], profiles.profile(1), start + s.at_us, s.bytes)) ==
            std::string(name(s.expect)));
    }
  }
}

constexpr auto C = PolicerColour::conform;
constexpr auto E = PolicerColour::exceed;
constexpr auto V = PolicerColour::violate;

TEST_CASE("Policer: srTCM, EBS 0: a burst of exactly CBS conforms, then it exceeds", "[policer]") {
  // CIR 8 Mbit/s = 1000 bytes per ms; CBS 250,000 bytes.
  run(one_rate(),
      {
          {"250 x 1000 bytes: exactly CBS", 0, 1000, 250, C},
          {"one more small packet: the bucket is empty", 0, 64, 1, E},
          {"an exceeding packet takes no tokens: still empty, still exceed", 0, 64, 3, E},
      });
}

TEST_CASE("Policer: srTCM around CBS: what fits conforms, one byte more exceeds", "[policer]") {
  run(one_rate(), {
                      {"166 x 1500 bytes = 249,000", 0, 1500, 166, C},
                      {"1001 bytes > the 1000 left", 0, 1001, 1, E},
                      {"1000 bytes = the 1000 left", 0, 1000, 1, C},
                      {"1 byte, the bucket empty", 0, 1, 1, E},
                  });
}

TEST_CASE("Policer: srTCM refills at CIR and never above CBS", "[policer]") {
  run(one_rate(), {
                      {"drain the bucket", 0, 1000, 250, C},
                      {"1 ms later: 1000 bytes came in", 1000, 1000, 1, C},
                      {"and no more", 1000, 100, 1, E},
                      // 1000 bytes/ms is one byte per microsecond.
                      {"99 us later: 99 bytes, too few for 100", 1099, 100, 1, E},
                      {"100 us later: exactly 100 bytes", 1100, 100, 1, C},
                      {"then none", 1100, 1, 1, E},
                      {"1 us later: one byte", 1101, 1, 1, C},
                      {"10 s idle: full again, CBS and no more", 10'001'100, 1000, 250, C},
                      {"after CBS: exceed", 10'001'100, 64, 1, E},
                  });
}

TEST_CASE("Policer: srTCM at twice the rate, only CIR conforms", "[policer]") {
  // A 1500-byte packet every 750 us is 16 Mbit/s; for 10 s after the
  // bucket was drained (1000 bytes left: 250,000 - 166 x 1500), what
  // conforms is those 1000 and CIR x 10 s, less what is left at the end
  // (under one packet).
  PolicerProfiles profiles({one_rate()}, kUs);
  REQUIRE(profiles.ok());
  ClientMeters meters;
  profiles.reset(meters, 1);
  ClientMeter& m = meters.dir[0];
  const PolicerProfile& p = profiles.profile(1);
  while (police(m, p, 0, 1500) == C) {
  }
  uint64_t conformed = 0;
  for (uint64_t t = 750; t <= 10'000'000; t += 750) {
    if (police(m, p, t, 1500) == C) conformed += 1500;
  }
  CHECK(conformed <= 10'001'000);
  CHECK(conformed > 10'001'000 - 1500);
}

TEST_CASE("Policer: exact on a GHz clock too (the TSC in the daemon)", "[policer]") {
  // 2.6 GHz: 1,000,000 bytes/s is 0.000385 bytes per tick, held in 32.32
  // fixed point. Over 100 s at twice CIR, what conforms is within one
  // packet of CBS + CIR x 100 s.
  constexpr uint64_t hz = 2'600'000'000;
  PolicerProfiles profiles({one_rate()}, hz);
  REQUIRE(profiles.ok());
  ClientMeters meters;
  profiles.reset(meters, 1);
  uint64_t conformed = 0;
  const uint64_t gap = hz * 1500 / 2'000'000;  // 1500 bytes at 2 Mbyte/s
  for (uint64_t t = hz; t < 101 * hz; t += gap) {
    if (police(meters.dir[0], profiles.profile(1), t, 1500) == C) conformed += 1500;
  }
  CHECK(conformed <= 250'000 + 100'000'000);
  CHECK(conformed > 250'000 + 100'000'000 - 1500 - 1500);
}

TEST_CASE("Policer: trTCM, conform to CIR, exceed to PIR, violate above", "[policer]") {
  // CIR 8 Mbit/s (1000 B/ms), CBS 250,000; PIR 16 Mbit/s (2000 B/ms), PBS 500,000.
  run(two_rate(), {
                      {"CBS conforms", 0, 1000, 250, C},
                      {"the rest of PBS exceeds", 0, 1000, 250, E},
                      {"above PBS violates", 0, 64, 1, V},
                      {"1 ms: 1000 more committed", 1000, 1000, 1, C},
                      {"and 1000 more peak", 1000, 1000, 1, E},
                      {"then nothing", 1000, 64, 1, V},
                  });
}

TEST_CASE("Policer: the longest prefix picks the profile; no prefix, no policing", "[policer]") {
  PolicerSpec clients = one_rate();
  PolicerSpec staff = one_rate(20'000'000, 625'000);
  staff.name = "staff";
  staff.prefixes = {{ip("10.20.0.0"), 16}};
  PolicerSpec servers;
  servers.name = "servers";
  servers.policed = false;
  servers.prefixes = {{ip("10.20.5.0"), 24}, {ip("10.30.0.0"), 16}};
  PolicerProfiles profiles({clients, staff, servers}, kUs);
  REQUIRE(profiles.ok());
  CHECK(profiles.profile_of(ip("10.16.1.2")) == 1);
  CHECK(profiles.profile_of(ip("10.20.4.255")) == 2);
  CHECK(profiles.profile_of(ip("10.20.5.7")) == 3);
  CHECK(profiles.profile_of(ip("10.30.200.1")) == 3);
  CHECK(profiles.profile_of(ip("10.32.0.1")) == 0);
  CHECK(profiles.profile_of(ip("192.0.2.1")) == 0);
  CHECK_FALSE(profiles.profile(0).spec.policed);
  CHECK(profiles.profile(2).spec.name == "staff");

  // An unpoliced profile lets anything through.
  ClientMeters meters;
  profiles.reset(meters, 3);
  for (int i = 0; i < 1000; i++)
    REQUIRE(police(meters.dir[0], profiles.profile(3), 0, 1500) == C);
}

TEST_CASE("Policer: actions and counters on real packets", "[policer]") {
  LeakCheck leaks;
  PolicerSpec drop = one_rate(8'000'000, 3000);
  PolicerSpec remark = one_rate(8'000'000, 3000);
  remark.name = "remark";
  remark.prefixes = {{ip("10.20.0.0"), 16}};
  remark.exceed = {PolicerAction::remark, 10};  // AF11
  PolicerSpec count = one_rate(8'000'000, 3000);
  count.name = "count";
  count.prefixes = {{ip("10.21.0.0"), 16}};
  count.exceed = {PolicerAction::transmit, 0};
  PolicerProfiles profiles({drop, remark, count}, kUs);
  REQUIRE(profiles.ok());
  Policer policer(profiles);

  // Three packets of 1028 bytes (IPv4 total length) against a 3000-byte
  // bucket: two conform, the third exceeds.
  struct Case {
    const char* what;
    uint16_t profile;
    bool third_goes_on;
    uint8_t third_tos;
  };
  const Case cases[] = {
      {"exceed = drop", 1, false, 0x1},
      {"exceed = remark DSCP 10, ECN kept", 2, true, (10 << 2) | 0x1},
      {"exceed = transmit (count only)", 3, true, 0x1},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    ClientMeters meters;
    profiles.reset(meters, c.profile);
    for (int i = 0; i < 3; i++) {
      rte_mbuf* m =
          Frame().src("10.16.1.2").dst("192.0.2.2").tos(0x1).udp().payload(1000).l3_mbuf();
      REQUIRE(rte_pktmbuf_data_len(m) == 1028);
      PolicerColour colour;
      const bool on = policer.pass(m, meters, c.profile, Direction::upload, 10, &colour);
      const auto* ip = rte_pktmbuf_mtod(m, const rte_ipv4_hdr*);
      if (i < 2) {
        CHECK(on);
        CHECK(colour == C);
        CHECK(ip->type_of_service == 0x1);
      } else {
        CHECK(on == c.third_goes_on);
        CHECK(colour == E);
        CHECK(ip->type_of_service == c.third_tos);
      }
      CHECK(checksum_ok(ip, 20));
      rte_pktmbuf_free(m);
    }
    const ClientMeter& up = meters.dir[0];
    CHECK(up.conformed_packets.read() == 2);
    CHECK(up.conformed_bytes.read() == 2056);
    CHECK(up.exceeded_packets.read() == 1);
    CHECK(up.exceeded_bytes.read() == 1028);
    const ClientMeter& down = meters.dir[1];
    CHECK(down.conformed_packets.read() + down.exceeded_packets.read() == 0);
    const PolicerCounters& pc = policer.counters(c.profile);
    CHECK(pc.packets[0][0].read() == 2);
    CHECK(pc.bytes[0][0].read() == 2056);
    CHECK(pc.packets[0][1].read() == 1);
    CHECK(pc.bytes[0][1].read() == 1028);
    CHECK(pc.packets[1][0].read() + pc.packets[1][1].read() == 0);
  }
}

}  // namespace
}  // namespace sluice::test
