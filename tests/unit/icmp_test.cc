// ICMP messages sluice originates (dataplane/icmp.h): which packets may be
// answered with an error, what the error quotes (RFC 1812 4.3.2.3: as much
// as fits in 576 bytes), and echo replies.
#include <catch2/catch.hpp>

#include <rte_icmp.h>

#include <random>
#include <vector>

#include "icmp.h"
#include "packet.h"
#include "packet_builder.h"
#include "support.h"

namespace sluice::test {
namespace {

const uint32_t kRouter = ip("10.16.1.1");

struct Error {
  std::vector<uint8_t> ip_header;
  std::vector<uint8_t> icmp_header;
  std::vector<uint8_t> quote;
};

// Splits an ICMP error (data at its IPv4 header) after checking both checksums.
Error split_error(const rte_mbuf* m) {
  const auto b = contents(m);
  REQUIRE(b.size() >= 28);
  CHECK(checksum_ok(b.data(), 20));
  CHECK(checksum_ok(b.data() + 20, b.size() - 20));
  return {{b.begin(), b.begin() + 20}, {b.begin() + 20, b.begin() + 28}, {b.begin() + 28, b.end()}};
}

TEST_CASE("make_icmp_error: headers of the error", "[icmp]") {
  LeakCheck leaks;
  const Frame f = Frame().src("10.16.1.10").dst("198.51.100.7").udp().payload(32).ttl(1).tos(0x10);
  rte_mbuf* m = f.l3_mbuf();
  REQUIRE(make_icmp_error(m, kIcmpTimeExceeded, 0, kRouter, 0));
  const auto* h = ipv4_at(m);
  CHECK(h->version_ihl == 0x45);
  CHECK(h->type_of_service == 0xc0);  // internetwork control
  CHECK(rte_be_to_cpu_16(h->total_length) == 20 + 8 + f.l3_bytes().size());
  CHECK(rte_pktmbuf_pkt_len(m) == 20 + 8 + f.l3_bytes().size());
  CHECK(h->fragment_offset == 0);
  CHECK(h->time_to_live == 64);
  CHECK(h->next_proto_id == IPPROTO_ICMP);
  CHECK(ip_src(h) == kRouter);
  CHECK(ip_dst(h) == ip("10.16.1.10"));
  const Error e = split_error(m);
  CHECK(e.icmp_header ==
        std::vector<uint8_t>{11, 0, e.icmp_header[2], e.icmp_header[3], 0, 0, 0, 0});
  CHECK(e.quote == f.l3_bytes());
  CHECK((m->ol_flags & RTE_MBUF_F_TX_OFFLOAD_MASK) == 0);
  rte_pktmbuf_free(m);
}

TEST_CASE("make_icmp_error: fragmentation needed carries the next-hop MTU", "[icmp]") {
  LeakCheck leaks;
  rte_mbuf* m = Frame().df().payload(100).l3_mbuf();
  REQUIRE(make_icmp_error(m, kIcmpDestUnreachable, kIcmpCodeFragNeeded, kRouter, 1280));
  const Error e = split_error(m);
  CHECK(e.icmp_header[0] == 3);
  CHECK(e.icmp_header[1] == 4);
  CHECK(e.icmp_header[4] == 0);  // unused
  CHECK(e.icmp_header[5] == 0);
  CHECK(e.icmp_header[6] == 1280 >> 8);  // next-hop MTU, RFC 1191
  CHECK(e.icmp_header[7] == (1280 & 0xff));
  rte_pktmbuf_free(m);
}

struct QuoteCase {
  const char* description;
  uint16_t datagram;  // bytes of the offending datagram
  uint16_t quoted;    // bytes of it the error carries
};

TEST_CASE("make_icmp_error: quotes as much as fits in 576 bytes", "[icmp]") {
  const std::vector<QuoteCase> cases = {
      {"minimum UDP datagram", 28, 28},
      {"small datagram, quoted whole", 100, 100},
      {"547 bytes", 547, 547},
      {"548 bytes: error exactly 576", 548, 548},
      {"549 bytes: one byte left out", 549, 548},
      {"1500 bytes", 1500, 548},
  };
  for (const QuoteCase& c : cases) {
    DYNAMIC_SECTION(c.description) {
      LeakCheck leaks;
      const Frame f = Frame().ttl(1).udp().payload(static_cast<uint16_t>(c.datagram - 28));
      const auto original = f.l3_bytes();
      REQUIRE(original.size() == c.datagram);
      rte_mbuf* m = f.l3_mbuf();
      REQUIRE(make_icmp_error(m, kIcmpTimeExceeded, 0, kRouter, 0));
      CHECK(rte_pktmbuf_pkt_len(m) == 28u + c.quoted);
      CHECK(rte_be_to_cpu_16(ipv4_at(m)->total_length) == 28u + c.quoted);
      const Error e = split_error(m);
      CHECK(e.quote == std::vector<uint8_t>(original.begin(), original.begin() + c.quoted));
      rte_pktmbuf_free(m);
    }
  }
}

TEST_CASE("make_icmp_error: a quoted header with options is quoted whole", "[icmp]") {
  LeakCheck leaks;
  const Frame f = Frame().options(12).payload(20);
  rte_mbuf* m = f.l3_mbuf();
  REQUIRE(make_icmp_error(m, kIcmpTimeExceeded, 0, kRouter, 0));
  CHECK(rte_ipv4_hdr_len(ipv4_at(m)) == 20);  // the error itself has no options
  CHECK(split_error(m).quote == f.l3_bytes());
  rte_pktmbuf_free(m);
}

struct AllowedCase {
  const char* description;
  Frame frame;
  bool allowed;
};

TEST_CASE("make_icmp_error: refuses where RFC 1812 4.3.2.7 forbids, leaving m untouched",
          "[icmp]") {
  const std::vector<AllowedCase> cases = {
      {"UDP", Frame().udp(), true},
      {"TCP", Frame().tcp(), true},
      {"ICMP echo request", Frame().echo_request(), true},
      {"ICMP echo reply", Frame().icmp(0), true},
      {"ICMP timestamp", Frame().icmp(13), true},
      {"ICMP timestamp reply", Frame().icmp(14), true},
      {"ICMP information request", Frame().icmp(15), true},
      {"first fragment", Frame().mf(), true},
      {"ICMP destination unreachable", Frame().icmp(3, 3), false},
      {"ICMP source quench", Frame().icmp(4), false},
      {"ICMP redirect", Frame().icmp(5, 1), false},
      {"ICMP time exceeded", Frame().icmp(11), false},
      {"ICMP parameter problem", Frame().icmp(12), false},
      {"ICMP without even a type byte", Frame().raw(IPPROTO_ICMP).payload(0), false},
      {"non-first fragment", Frame().frag_offset(1), false},
      {"last fragment", Frame().frag_offset(185), false},
      {"non-first fragment of an echo request", Frame().echo_request().frag_offset(3), false},
  };
  for (const AllowedCase& c : cases) {
    DYNAMIC_SECTION(c.description) {
      LeakCheck leaks;
      rte_mbuf* m = c.frame.l3_mbuf();
      CHECK(icmp_error_allowed(ipv4_at(m)) == c.allowed);
      CHECK(make_icmp_error(m, kIcmpTimeExceeded, 0, kRouter, 0) == c.allowed);
      if (!c.allowed) CHECK(contents(m) == c.frame.l3_bytes());
      rte_pktmbuf_free(m);
    }
  }
}

TEST_CASE("make_icmp_error: no headroom for the new headers", "[icmp]") {
  LeakCheck leaks;
  const Frame f = Frame().payload(40);
  const auto bytes = f.l3_bytes();
  rte_mbuf* m = rte_pktmbuf_alloc(pool());
  REQUIRE(m != nullptr);
  m->data_off = 20;  // less than the 28 bytes of IPv4 + ICMP headers
  std::memcpy(rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size())), bytes.data(),
              bytes.size());
  CHECK_FALSE(make_icmp_error(m, kIcmpTimeExceeded, 0, kRouter, 0));
  CHECK(contents(m) == bytes);
  rte_pktmbuf_free(m);
}

// Two-segment mbuf holding `bytes`, the first segment `first` bytes long.
rte_mbuf* chained(const std::vector<uint8_t>& bytes, uint16_t first) {
  rte_mbuf* a = rte_pktmbuf_alloc(pool());
  rte_mbuf* b = rte_pktmbuf_alloc(pool());
  REQUIRE((a && b));
  std::memcpy(rte_pktmbuf_append(a, first), bytes.data(), first);
  const auto rest = static_cast<uint16_t>(bytes.size() - first);
  std::memcpy(rte_pktmbuf_append(b, rest), bytes.data() + first, rest);
  REQUIRE(rte_pktmbuf_chain(a, b) == 0);
  return a;
}

TEST_CASE("make_icmp_error: chained mbufs", "[icmp]") {
  LeakCheck leaks;
  const Frame f = Frame().payload(572);  // 600-byte datagram
  const auto bytes = f.l3_bytes();
  SECTION("trim within the last segment: checksum covers both segments") {
    rte_mbuf* m = chained(bytes, 300);
    REQUIRE(make_icmp_error(m, kIcmpTimeExceeded, 0, kRouter, 0));
    CHECK(rte_pktmbuf_pkt_len(m) == 576);
    const Error e = split_error(m);
    CHECK(e.quote == std::vector<uint8_t>(bytes.begin(), bytes.begin() + 548));
    rte_pktmbuf_free(m);
  }
  SECTION("trim that would span segments: refused, untouched") {
    rte_mbuf* m = chained(bytes, 580);  // 20 bytes in the last segment, 52 to cut
    CHECK_FALSE(make_icmp_error(m, kIcmpTimeExceeded, 0, kRouter, 0));
    CHECK(contents(m) == bytes);
    rte_pktmbuf_free(m);
  }
}

// icmp.h: no ICMP error about a packet from a martian source.
TEST_CASE("make_icmp_error: refuses errors about martian sources", "[icmp]") {
  LeakCheck leaks;
  for (const char* src : {"127.0.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255"}) {
    INFO(src);
    rte_mbuf* m = Frame().src(src).l3_mbuf();
    CHECK_FALSE(make_icmp_error(m, kIcmpTimeExceeded, 0, kRouter, 0));
    rte_pktmbuf_free(m);
  }
}

TEST_CASE("make_echo_reply: addresses swapped, type 0, checksums valid", "[icmp]") {
  LeakCheck leaks;
  std::mt19937 rng(1812);
  for (int i = 0; i < 500; i++) {
    INFO("iteration " << i);
    const auto ident = static_cast<uint16_t>(rng());
    const auto seq = static_cast<uint16_t>(rng());
    const auto len = static_cast<uint16_t>(rng() % 1400);
    const uint8_t options = (i % 5 == 0) ? 8 : 0;
    const Frame f = Frame()
                        .src("198.51.100.7")
                        .dst("192.0.2.1")
                        .echo_request(ident, seq)
                        .payload(len, static_cast<uint8_t>(rng()))
                        .ttl(static_cast<uint8_t>(1 + rng() % 255))
                        .id(static_cast<uint16_t>(rng()))
                        .options(options);
    const auto request = f.l3_bytes();
    rte_mbuf* m = f.l3_mbuf();
    make_echo_reply(m);
    const auto reply = contents(m);
    REQUIRE(reply.size() == request.size());
    const auto* h = ipv4_at(m);
    CHECK(ip_src(h) == ip("192.0.2.1"));
    CHECK(ip_dst(h) == ip("198.51.100.7"));
    CHECK(h->time_to_live == 64);
    const size_t ihl = 20 + options;
    CHECK(checksum_ok(reply.data(), ihl));
    CHECK(checksum_ok(reply.data() + ihl, reply.size() - ihl));
    CHECK(reply[ihl] == RTE_IP_ICMP_ECHO_REPLY);
    CHECK(reply[ihl + 1] == 0);
    // Identifier, sequence number and data come back unchanged.
    CHECK(std::vector<uint8_t>(reply.begin() + ihl + 4, reply.end()) ==
          std::vector<uint8_t>(request.begin() + ihl + 4, request.end()));
    rte_pktmbuf_free(m);
  }
}

}  // namespace
}  // namespace sluice::test
