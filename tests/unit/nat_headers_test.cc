// NAT header work (dataplane/nat_headers.h): what a packet means to the NAT
// (its tuple), and rewriting it. Every rewritten packet is compared byte for
// byte with the same packet built from scratch by the test builder, whose
// checksums are plain RFC 1071 sums: an incremental update that is off by
// one bit anywhere shows up as a byte difference.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <rte_tcp.h>

#include <cstdint>
#include <string>
#include <vector>

#include "nat_headers.h"
#include "packet.h"
#include "packet_builder.h"
#include "support.h"

namespace sluice::test {
namespace {

using Bytes = std::vector<uint8_t>;

// The reference addresses: a client, its public endpoint, a remote host on
// the Internet and a router on the way.
const uint32_t kClient = ip("10.16.1.10");
const uint32_t kPublic = ip("198.51.100.1");
const uint32_t kRemote = ip("203.0.113.5");
const uint32_t kRouter = ip("192.0.2.99");
constexpr uint16_t kPublicPort = 61031;
constexpr uint16_t kRemotePort = 53;

constexpr uint8_t SYN = RTE_TCP_SYN_FLAG;
constexpr uint8_t ACK = RTE_TCP_ACK_FLAG;
constexpr uint8_t FIN = RTE_TCP_FIN_FLAG;
constexpr uint8_t PSH = RTE_TCP_PSH_FLAG;

const char* kind_name(NatKind k) {
  switch (k) {
    case NatKind::flow:
      return "flow";
    case NatKind::tail:
      return "tail";
    case NatKind::icmp_error:
      return "icmp_error";
    case NatKind::unsupported:
      return "unsupported";
    case NatKind::truncated:
      return "truncated";
  }
  return "?";
}

// What a packet's bytes say, read independently of the code under test.
uint32_t ihl_of(const Bytes& b) {
  return (b[0] & 0xfu) * 4;
}
uint16_t be16(const Bytes& b, size_t at) {
  return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

// The transport checksum of the datagram at b[at..] (its IP header first),
// verified over the whole datagram with the pseudo header; a UDP checksum of
// zero (none) verifies.
bool l4_checksum_ok(const uint8_t* d, size_t len) {
  const uint32_t ihl = (d[0] & 0xfu) * 4;
  const uint8_t proto = d[9];
  const uint8_t* l4 = d + ihl;
  const size_t l4_len = len - ihl;
  if (proto == IPPROTO_ICMP) return checksum_ok(l4, l4_len);
  if (proto == IPPROTO_UDP && l4[6] == 0 && l4[7] == 0) return true;
  uint8_t pseudo[12] = {d[12], d[13], d[14], d[15], d[16], d[17], d[18], d[19], 0, proto};
  pseudo[10] = static_cast<uint8_t>(l4_len >> 8);
  pseudo[11] = static_cast<uint8_t>(l4_len);
  return fold_complement(sum16(l4, l4_len, sum16(pseudo, 12))) == 0;
}

bool ip_checksum_ok(const uint8_t* d) {
  return checksum_ok(d, (d[0] & 0xfu) * 4);
}

rte_mbuf* packet(const Bytes& b) {
  rte_mbuf* m = Frame::to_mbuf(b);
  REQUIRE(m != nullptr);
  return m;
}

// A later fragment whose first fragment taught frag_track its ports.
rte_mbuf* tail_packet(const Bytes& b, uint16_t sport, uint16_t dport) {
  rte_mbuf* m = packet(b);
  meta(m).flags = kMetaFragTail;
  meta(m).l4_src = sport;
  meta(m).l4_dst = dport;
  return m;
}

// The first fragment of a datagram: its first `payload` bytes after the IP
// header, MF set, length and header checksum fixed; the transport checksum
// still covers the whole datagram.
Bytes first_fragment(const Frame& whole, uint16_t payload) {
  Bytes d = whole.l3_bytes();
  const uint32_t ihl = ihl_of(d);
  d.resize(ihl + payload);
  d[2] = static_cast<uint8_t>(d.size() >> 8);
  d[3] = static_cast<uint8_t>(d.size());
  d[6] |= 0x20;
  d[10] = d[11] = 0;
  const uint16_t c = fold_complement(sum16(d.data(), ihl));
  d[10] = static_cast<uint8_t>(c >> 8);
  d[11] = static_cast<uint8_t>(c);
  return d;
}

// The UDP source port that makes f's checksum compute to zero (sent as
// 0xffff): with port 0 the checksum is C, and adding C to the sum makes it
// 0xffff.
uint16_t zero_sum_source_port(Frame f, uint16_t dport) {
  const Bytes b = f.udp(0, dport).l3_bytes();
  return be16(b, ihl_of(b) + 6);
}

// ---------------------------------------------------------------- nat_tuple

struct TupleCase {
  const char* description;
  Bytes packet;
  NatTuple want;  // kind always; the rest only where the kind gives it meaning
  bool tail = false;
  uint16_t tail_sport = 0;
  uint16_t tail_dport = 0;
};

Frame client() {
  return Frame().src(kClient).dst(kRemote);
}

// What the remote host sent back towards the public endpoint.
Frame to_public() {
  return Frame().src(kRemote).dst(kPublic);
}

// An ICMP error from a router about a datagram we sent from the public endpoint.
Frame error_about(uint8_t type, uint8_t code, const Frame& quoted, size_t bytes = 28) {
  return Frame().src(kRouter).dst(kPublic).icmp_error(type, code, quoted, bytes);
}

Frame sent_udp() {
  return Frame().src(kPublic).dst(kRemote).udp(kPublicPort, kRemotePort);
}
Frame sent_tcp() {
  return Frame().src(kPublic).dst(kRemote).tcp(kPublicPort, 443);
}
Frame sent_echo() {
  return Frame().src(kPublic).dst(kRemote).echo_request(kPublicPort);
}

using enum NatKind;

// A tuple of which only the kind matters.
NatTuple only(NatKind kind) {
  return NatTuple{kind, 0, 0, 0, 0, 0, 0, 0};
}

std::vector<TupleCase> tuple_cases() {
  const uint8_t tcp = IPPROTO_TCP;
  const uint8_t udp = IPPROTO_UDP;
  const uint8_t icmp = IPPROTO_ICMP;
  return {
      // Flows: TCP and UDP ports, ICMP queries with the identifier as both ports.
      {"TCP SYN",
       client().tcp(40000, 443).l3_bytes(),
       {flow, tcp, SYN, 0, kClient, kRemote, 40000, 443}},
      {"TCP FIN+ACK",
       client().tcp(40001, 80).tcp_flags(FIN | ACK).l3_bytes(),
       {flow, tcp, FIN | ACK, 0, kClient, kRemote, 40001, 80}},
      {"UDP", client().udp(40000, 53).l3_bytes(), {flow, udp, 0, 0, kClient, kRemote, 40000, 53}},
      {"UDP from outside",
       to_public().udp(53, kPublicPort).l3_bytes(),
       {flow, udp, 0, 0, kRemote, kPublic, 53, kPublicPort}},
      {"ICMP echo request",
       client().echo_request(0x1234, 7).l3_bytes(),
       {flow, icmp, 0, kIcmpEchoRequest, kClient, kRemote, 0x1234, 0x1234}},
      {"ICMP echo reply",
       to_public().icmp(kIcmpEchoReply, 0, kPublicPort, 7).l3_bytes(),
       {flow, icmp, 0, kIcmpEchoReply, kRemote, kPublic, kPublicPort, kPublicPort}},
      {"ICMP timestamp request",
       client().icmp(kIcmpTimestampRequest, 0, 0x55, 1).l3_bytes(),
       {flow, icmp, 0, kIcmpTimestampRequest, kClient, kRemote, 0x55, 0x55}},
      {"ICMP timestamp reply",
       to_public().icmp(kIcmpTimestampReply, 0, 0x66, 1).l3_bytes(),
       {flow, icmp, 0, kIcmpTimestampReply, kRemote, kPublic, 0x66, 0x66}},
      {"first fragment (offset 0, MF): a flow with its ports",
       first_fragment(client().udp(40000, 53).payload(200), 64),
       {flow, udp, 0, 0, kClient, kRemote, 40000, 53}},

      // Later fragments: the ports frag_track learnt, or nothing to go on.
      {"later fragment, ports learnt from its first",
       client().raw(udp).payload(16).frag_offset(3).l3_bytes(),
       {tail, udp, 0, 0, kClient, kRemote, 40000, 53},
       true,
       40000,
       53},
      {"later ICMP fragment: the identifier in both ports",
       client().raw(icmp).payload(16).frag_offset(3).l3_bytes(),
       {tail, icmp, 0, 0, kClient, kRemote, 0x1234, 0x1234},
       true,
       0x1234,
       0x1234},
      {"later fragment, ports never learnt",
       client().raw(udp).payload(16).frag_offset(3).l3_bytes(), only(unsupported)},

      // ICMP errors: the tuple of the datagram they quote.
      {"destination unreachable quoting UDP",
       error_about(3, 3, sent_udp()).l3_bytes(),
       {icmp_error, udp, 0, 0, kPublic, kRemote, kPublicPort, kRemotePort}},
      {"time exceeded quoting TCP (IP header + 8 bytes)",
       error_about(11, 0, sent_tcp()).l3_bytes(),
       {icmp_error, tcp, 0, 0, kPublic, kRemote, kPublicPort, 443}},
      {"parameter problem quoting a whole TCP segment",
       error_about(12, 0, sent_tcp(), SIZE_MAX).l3_bytes(),
       {icmp_error, tcp, 0, 0, kPublic, kRemote, kPublicPort, 443}},
      {"destination unreachable quoting an echo request",
       error_about(3, 1, sent_echo()).l3_bytes(),
       {icmp_error, icmp, 0, kIcmpEchoRequest, kPublic, kRemote, kPublicPort, kPublicPort}},
      {"error from the inside about a datagram from outside",
       client().icmp_error(3, 3, Frame().src(kRemote).dst(kClient).udp(53, 40000)).l3_bytes(),
       {icmp_error, udp, 0, 0, kRemote, kClient, 53, 40000}},
      {"error quoting GRE",
       error_about(3, 3, Frame().src(kPublic).dst(kRemote).raw(47).payload(8)).l3_bytes(),
       only(unsupported)},
      {"error quoting a later fragment",
       error_about(3, 3, Frame(sent_udp()).frag_offset(8)).l3_bytes(), only(unsupported)},
      {"error quoting an ICMP error",
       error_about(3, 3, Frame().src(kPublic).dst(kRemote).icmp_error(3, 3, sent_udp()), SIZE_MAX)
           .l3_bytes(),
       only(unsupported)},
      {"error quoting IP header + 7 bytes", error_about(3, 3, sent_udp(), 27).l3_bytes(),
       only(truncated)},
      {"error quoting half an IP header", error_about(3, 3, sent_udp(), 12).l3_bytes(),
       only(truncated)},

      // What NAT does not translate.
      {"GRE", client().raw(47).payload(24).l3_bytes(), only(unsupported)},
      {"ICMP redirect", client().icmp(5, 1).l3_bytes(), only(unsupported)},
      {"ICMP router solicitation", client().icmp(10, 0).l3_bytes(), only(unsupported)},

      // Transport headers cut short.
      {"TCP header of 19 bytes", client().raw(tcp).payload(19).l3_bytes(), only(truncated)},
      {"TCP header cut by the IP total length (the rest is padding)",
       client().tcp().payload(0).total_length(20 + 12).l3_bytes(), only(truncated)},
      {"UDP header of 7 bytes", client().raw(udp).payload(7).l3_bytes(), only(truncated)},
      {"ICMP header of 4 bytes", client().raw(icmp).payload(4).l3_bytes(), only(truncated)},
  };
}

TEST_CASE("nat_tuple: what each packet is to the NAT", "[nat]") {
  LeakCheck leaks;
  for (const TupleCase& c : tuple_cases()) {
    DYNAMIC_SECTION(c.description) {
      rte_mbuf* m = c.tail ? tail_packet(c.packet, c.tail_sport, c.tail_dport) : packet(c.packet);
      const NatTuple t = nat_tuple(m);
      rte_pktmbuf_free(m);
      CHECK(std::string(kind_name(t.kind)) == kind_name(c.want.kind));
      if (c.want.kind == unsupported || c.want.kind == truncated) continue;
      CHECK(int{t.proto} == int{c.want.proto});
      CHECK(ip_text(t.src) == ip_text(c.want.src));
      CHECK(ip_text(t.dst) == ip_text(c.want.dst));
      CHECK(t.sport == c.want.sport);
      CHECK(t.dport == c.want.dport);
      if (c.want.kind == flow && c.want.proto == IPPROTO_TCP) {
        CHECK(int{t.tcp_flags} == int{c.want.tcp_flags});
      }
      if (c.want.proto == IPPROTO_ICMP && c.want.kind != tail) {
        CHECK(int{t.icmp_type} == int{c.want.icmp_type});
      }
    }
  }
}

// ------------------------------------------------- rewrite_source/destination

struct RewriteCase {
  const char* description;
  Bytes before;
  bool source;  // rewrite_source, else rewrite_destination
  uint32_t ip;
  uint16_t port;
  Bytes after;  // built from scratch
  bool tail = false;
  uint16_t tail_sport = 0;
  uint16_t tail_dport = 0;
};

std::vector<RewriteCase> rewrite_cases() {
  constexpr bool source = true;
  constexpr bool destination = false;
  const Frame from_public = Frame().src(kPublic).dst(kRemote);
  const Frame to_client = Frame().src(kRemote).dst(kClient);
  const uint16_t zero_port = zero_sum_source_port(Frame(from_public).payload(18), kRemotePort);
  const Frame big_udp = client().udp(40000, 53).payload(300, 7);
  return {
      {"UDP source (in to out)", client().udp(40000, 53).l3_bytes(), source, kPublic, kPublicPort,
       Frame(from_public).udp(kPublicPort, 53).l3_bytes()},
      {"UDP destination (out to in)", to_public().udp(53, kPublicPort).payload(33).l3_bytes(),
       destination, kClient, 40000, Frame(to_client).udp(53, 40000).payload(33).l3_bytes()},
      {"UDP without a checksum keeps none", client().udp(40000, 53).no_udp_checksum().l3_bytes(),
       source, kPublic, kPublicPort,
       Frame(from_public).udp(kPublicPort, 53).no_udp_checksum().l3_bytes()},
      {"UDP whose new checksum computes to zero: sent as 0xffff",
       client().udp(40000, 53).payload(18).l3_bytes(), source, kPublic, zero_port,
       Frame(from_public).udp(zero_port, 53).payload(18).l3_bytes()},
      {"TCP source, odd payload",
       client().tcp(40000, 443).tcp_flags(ACK | PSH).payload(101).l3_bytes(), source, kPublic,
       kPublicPort,
       Frame(from_public).tcp(kPublicPort, 443).tcp_flags(ACK | PSH).payload(101).l3_bytes()},
      {"TCP destination", to_public().tcp(443, kPublicPort).tcp_flags(SYN | ACK).l3_bytes(),
       destination, kClient, 40000,
       Frame(to_client).tcp(443, 40000).tcp_flags(SYN | ACK).l3_bytes()},
      {"ICMP echo request: source and identifier", client().echo_request(0x1234, 9).l3_bytes(),
       source, kPublic, kPublicPort, Frame(from_public).echo_request(kPublicPort, 9).l3_bytes()},
      {"ICMP echo reply: destination and identifier",
       to_public().icmp(kIcmpEchoReply, 0, kPublicPort, 9).l3_bytes(), destination, kClient, 0x1234,
       Frame(to_client).icmp(kIcmpEchoReply, 0, 0x1234, 9).l3_bytes()},
      {"ICMP timestamp request",
       client().icmp(kIcmpTimestampRequest, 0, 0x55, 2).payload(12).l3_bytes(), source, kPublic,
       kPublicPort,
       Frame(from_public).icmp(kIcmpTimestampRequest, 0, kPublicPort, 2).payload(12).l3_bytes()},
      {"UDP after IP options", client().options(8).udp(40000, 53).l3_bytes(), source, kPublic,
       kPublicPort, Frame(from_public).options(8).udp(kPublicPort, 53).l3_bytes()},
      {"first fragment: its checksum covers the whole datagram", first_fragment(big_udp, 96),
       source, kPublic, kPublicPort,
       first_fragment(Frame(big_udp).src(kPublic).udp(kPublicPort, 53), 96)},
      {"later fragment: the IP header only",
       client().raw(IPPROTO_UDP).payload(24).frag_offset(3).l3_bytes(), source, kPublic,
       kPublicPort, Frame(from_public).raw(IPPROTO_UDP).payload(24).frag_offset(3).l3_bytes(), true,
       40000, 53},
      {"later fragment inward", to_public().raw(IPPROTO_TCP).payload(24).frag_offset(9).l3_bytes(),
       destination, kClient, 40000,
       Frame(to_client).raw(IPPROTO_TCP).payload(24).frag_offset(9).l3_bytes(), true, 443,
       kPublicPort},
  };
}

rte_mbuf* packet_of(const RewriteCase& c) {
  return c.tail ? tail_packet(c.before, c.tail_sport, c.tail_dport) : packet(c.before);
}

void rewrite(rte_mbuf* m, const RewriteCase& c) {
  if (c.source) {
    rewrite_source(m, c.ip, c.port);
  } else {
    rewrite_destination(m, c.ip, c.port);
  }
}

TEST_CASE("rewrite_source/rewrite_destination: the packet as if built with the new endpoint",
          "[nat]") {
  LeakCheck leaks;
  for (const RewriteCase& c : rewrite_cases()) {
    DYNAMIC_SECTION(c.description) {
      rte_mbuf* m = packet_of(c);
      const NatTuple before = nat_tuple(m);
      rewrite(m, c);
      const Bytes got = contents(m);
      const PacketMeta pm = meta(m);
      rte_pktmbuf_free(m);

      CHECK(got == c.after);
      CHECK(ip_checksum_ok(got.data()));
      const bool fragment = (got[6] & 0x3f) != 0 || got[7] != 0;
      if (!fragment) CHECK(l4_checksum_ok(got.data(), got.size()));
      // The original endpoints, for an ICMP error about the packet.
      CHECK((pm.flags & kMetaTranslated) != 0);
      CHECK(ip_text(pm.orig_src) == ip_text(before.src));
      CHECK(ip_text(pm.orig_dst) == ip_text(before.dst));
      CHECK(pm.orig_sport == before.sport);
      CHECK(pm.orig_dport == before.dport);
    }
  }
}

TEST_CASE("rewrite: the zero-sum case really is one", "[nat]") {
  LeakCheck leaks;
  const Frame f = Frame().src(kPublic).dst(kRemote).payload(18);
  const Bytes b = Frame(f).udp(zero_sum_source_port(f, kRemotePort), kRemotePort).l3_bytes();
  CHECK(be16(b, 26) == 0xffff);
  CHECK(l4_checksum_ok(b.data(), b.size()));
}

TEST_CASE("restore_original: the packet exactly as received", "[nat]") {
  LeakCheck leaks;
  for (const RewriteCase& c : rewrite_cases()) {
    DYNAMIC_SECTION(c.description) {
      SECTION("after one rewrite") {
        rte_mbuf* m = packet_of(c);
        rewrite(m, c);
        restore_original(m);
        CHECK(contents(m) == c.before);
        CHECK((meta(m).flags & kMetaTranslated) == 0);
        CHECK((meta(m).flags & kMetaFragTail) == (c.tail ? kMetaFragTail : 0));
        rte_pktmbuf_free(m);
      }
      SECTION("after both endpoints were rewritten (a hairpin): the first original is kept") {
        rte_mbuf* m = packet_of(c);
        rewrite(m, c);
        rewrite_source(m, ip("198.51.100.4"), 62000);
        rewrite_destination(m, ip("198.51.100.3"), 63000);
        restore_original(m);
        CHECK(contents(m) == c.before);
        rte_pktmbuf_free(m);
      }
    }
  }
  SECTION("a packet never translated is left alone") {
    const Bytes b = client().udp(40000, 53).l3_bytes();
    rte_mbuf* m = packet(b);
    restore_original(m);
    CHECK(contents(m) == b);
    rte_pktmbuf_free(m);
  }
}

// ------------------------------------------------------ translate_icmp_error

enum class Quoted : uint8_t { udp, udp_no_checksum, udp_zero_sum, tcp, echo };

// The datagram an ICMP error quotes, from src to dst. to_client: it travelled
// inward (for echo, a reply with the client's identifier in dport).
Frame datagram(Quoted q, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport,
               bool to_client) {
  Frame f = Frame().src(src).dst(dst).id(0x77).ttl(3);
  switch (q) {
    case Quoted::udp:
      return f.udp(sport, dport).payload(40, 3);
    case Quoted::udp_no_checksum:
      return f.udp(sport, dport).payload(40, 3).no_udp_checksum();
    case Quoted::udp_zero_sum:
      return f.udp(sport, dport).payload(18);
    case Quoted::tcp:
      return f.tcp(sport, dport).tcp_flags(ACK | PSH).payload(60, 5);
    case Quoted::echo:
      // A request carries the sender's identifier, a reply the receiver's.
      return to_client ? f.icmp(kIcmpEchoReply, 0, dport, 4).payload(24)
                       : f.icmp(kIcmpEchoRequest, 0, sport, 4).payload(24);
  }
  return f;
}

struct ErrorCase {
  const char* description;
  Quoted quoted;
  size_t quote_bytes;  // of the quoted datagram
};

const std::vector<ErrorCase> kErrorCases = {
    {"UDP, whole datagram quoted", Quoted::udp, SIZE_MAX},
    {"UDP, IP header + 8 bytes", Quoted::udp, 28},
    {"UDP without a checksum", Quoted::udp_no_checksum, SIZE_MAX},
    {"UDP whose quoted checksum computes to zero: 0xffff", Quoted::udp_zero_sum, SIZE_MAX},
    {"TCP, whole segment quoted", Quoted::tcp, SIZE_MAX},
    {"TCP, quote reaching the checksum (IP header + 18 bytes)", Quoted::tcp, 38},
    {"TCP, IP header + 8 bytes: no checksum to update", Quoted::tcp, 28},
    {"ICMP echo, whole message quoted", Quoted::echo, SIZE_MAX},
    {"ICMP echo, IP header + 8 bytes", Quoted::echo, 28},
};

// Checks every checksum of an ICMP error that can be checked: the outer IP
// header, the ICMP message, the quoted IP header and, when the quote holds
// the whole datagram, the quoted transport checksum.
void check_error_checksums(const Bytes& b) {
  const uint32_t ihl = ihl_of(b);
  CHECK(ip_checksum_ok(b.data()));
  CHECK(checksum_ok(b.data() + ihl, be16(b, 2) - ihl));
  const uint8_t* q = b.data() + ihl + 8;
  const size_t qlen = b.size() - ihl - 8;
  CHECK(ip_checksum_ok(q));
  if (qlen == (size_t{q[2]} << 8 | q[3])) CHECK(l4_checksum_ok(q, qlen));
}

TEST_CASE("translate_icmp_error: both ways, every checksum verifies", "[nat]") {
  LeakCheck leaks;
  for (const ErrorCase& c : kErrorCases) {
    // The zero-sum case picks the client port so that the translated quote's
    // checksum computes to zero.
    const bool zero = c.quoted == Quoted::udp_zero_sum;
    DYNAMIC_SECTION("outward: the client's error about a datagram from outside; "
                    << c.description) {
      // The client got R:53 -> C:cport (translated in) and answers with an
      // error; it goes out from the public endpoint, quoting R:53 -> P:pport.
      const uint16_t pport =
          zero ? zero_sum_source_port(Frame().src(kPublic).dst(kRemote).payload(18), 53)
               : kPublicPort;
      // The quote's ports run R -> P: the zero-sum port must be its destination.
      const Frame in_quote = datagram(c.quoted, kRemote, kClient, 53, 40000, true);
      const Frame out_quote = datagram(c.quoted, kRemote, kPublic, 53, pport, true);
      const Bytes before =
          Frame().src(kClient).dst(kRemote).icmp_error(3, 3, in_quote, c.quote_bytes).l3_bytes();
      const Bytes want =
          Frame().src(kPublic).dst(kRemote).icmp_error(3, 3, out_quote, c.quote_bytes).l3_bytes();
      rte_mbuf* m = packet(before);
      translate_icmp_error(m, true, kPublic, pport);
      const Bytes got = contents(m);
      const NatTuple t = nat_tuple(m);
      rte_pktmbuf_free(m);
      CHECK(got == want);
      check_error_checksums(got);
      CHECK(t.kind == NatKind::icmp_error);
      CHECK(ip_text(t.dst) == ip_text(kPublic));
      CHECK(t.dport == pport);
    }
    DYNAMIC_SECTION("inward: a router's error about our datagram; " << c.description) {
      const uint16_t cport =
          zero ? zero_sum_source_port(Frame().src(kClient).dst(kRemote).payload(18), 53) : 40000;
      const Frame out_quote = datagram(c.quoted, kPublic, kRemote, kPublicPort, 53, false);
      const Frame in_quote = datagram(c.quoted, kClient, kRemote, cport, 53, false);
      const Bytes before =
          Frame().src(kRouter).dst(kPublic).icmp_error(11, 0, out_quote, c.quote_bytes).l3_bytes();
      const Bytes want =
          Frame().src(kRouter).dst(kClient).icmp_error(11, 0, in_quote, c.quote_bytes).l3_bytes();
      rte_mbuf* m = packet(before);
      translate_icmp_error(m, false, kClient, cport);
      const Bytes got = contents(m);
      const NatTuple t = nat_tuple(m);
      rte_pktmbuf_free(m);
      CHECK(got == want);
      check_error_checksums(got);
      CHECK(t.kind == NatKind::icmp_error);
      CHECK(ip_text(t.src) == ip_text(kClient));
      CHECK(t.sport == cport);
    }
  }
}

TEST_CASE("icmp_error_checksums_ok: the ICMP checksum and the quoted IP header's", "[nat]") {
  LeakCheck leaks;
  const Bytes good = error_about(3, 3, sent_udp(), SIZE_MAX).l3_bytes();
  Bytes bad_icmp = good;
  bad_icmp[22] ^= 0x5a;  // the ICMP checksum
  Bytes bad_byte = good;
  bad_byte.back() ^= 0x01;  // a quoted byte the ICMP checksum covers
  struct Case {
    const char* description;
    Bytes packet;
    bool ok;
  };
  const std::vector<Case> cases = {
      {"a whole datagram quoted", good, true},
      {"IP header + 8 bytes quoted", error_about(3, 3, sent_udp()).l3_bytes(), true},
      {"quoting an echo request", error_about(11, 0, sent_echo()).l3_bytes(), true},
      {"the ICMP checksum is wrong", bad_icmp, false},
      {"a covered byte changed on the way", bad_byte, false},
      {"the quoted IP header's checksum is wrong",
       error_about(3, 3, Frame(sent_udp()).bad_checksum()).l3_bytes(), false},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.description) {
      rte_mbuf* m = packet(c.packet);
      CHECK(icmp_error_checksums_ok(m) == c.ok);
      rte_pktmbuf_free(m);
    }
  }
}

TEST_CASE("translate_icmp_error: a fragmentation-needed error keeps its MTU", "[nat]") {
  LeakCheck leaks;
  // Path MTU discovery through the NAT: the next-hop MTU is in the word the
  // other errors leave unused, and must survive the translation.
  const Frame out_quote = Frame(sent_tcp()).df().payload(1400);
  const Frame in_quote = Frame().src(kClient).dst(kRemote).tcp(40000, 443).df().payload(1400);
  const auto first_548 = [](const Frame& f) {
    Bytes b = f.l3_bytes();
    b.resize(548);
    return b;
  };
  const Bytes before = Frame()
                           .src(kRouter)
                           .dst(kPublic)
                           .icmp(3, 4, 0, 1280)
                           .payload_bytes(first_548(out_quote))
                           .l3_bytes();
  const Bytes want = Frame()
                         .src(kRouter)
                         .dst(kClient)
                         .icmp(3, 4, 0, 1280)
                         .payload_bytes(first_548(in_quote))
                         .l3_bytes();
  rte_mbuf* m = packet(before);
  translate_icmp_error(m, false, kClient, 40000);
  CHECK(contents(m) == want);
  check_error_checksums(contents(m));
  rte_pktmbuf_free(m);
}

}  // namespace
}  // namespace sluice::test
