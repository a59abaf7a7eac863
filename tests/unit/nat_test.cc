// NAT44 (dataplane/nat44.h over dataplane/nat_table.h) from packets in to
// packets out: bursts of datagrams as parse leaves them (data at the IPv4
// header) go through in2out() or out2in(), and what comes out is read back
// from its bytes (addresses, ports, every checksum) or found as the drop
// counter that rose. Each test names the RFC rule it checks.
//
// The rig: one worker of one (unless said), a pool of 198.51.100.1-4, small
// capacities and timeouts in seconds (the expiry wheel ticks in seconds), and
// a millisecond clock the test moves by hand (Nat44Options.hz = 1000, so
// `now` is in ms for both the stage and the table).
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <rte_tcp.h>

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "counters.h"
#include "icmp.h"
#include "nat44.h"
#include "nat_headers.h"
#include "nat_table.h"
#include "packet.h"
#include "packet_builder.h"
#include "sink.h"
#include "steering.h"
#include "support.h"
#include "token_bucket.h"

namespace sluice::test {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint8_t kTcp = IPPROTO_TCP;
constexpr uint8_t kUdp = IPPROTO_UDP;
constexpr uint8_t kIcmp = IPPROTO_ICMP;
constexpr uint8_t SYN = RTE_TCP_SYN_FLAG;
constexpr uint8_t ACK = RTE_TCP_ACK_FLAG;
constexpr uint8_t FIN = RTE_TCP_FIN_FLAG;
constexpr uint8_t RST = RTE_TCP_RST_FLAG;
constexpr uint8_t PSH = RTE_TCP_PSH_FLAG;

constexpr uint64_t kStart = 10'000'000;  // ms on the injected clock
constexpr uint64_t kTick = 1000;         // the expiry wheel's tick: a session goes within one
constexpr uint32_t kUdpTimeout = 30'000;
constexpr uint32_t kTransitory = 60'000;
constexpr uint32_t kEstablished = 600'000;
constexpr uint32_t kIcmpTimeout = 20'000;
constexpr uint32_t kHoldDown = 120'000;

const uint32_t kInsideAddress = ip("10.16.1.1");
const uint32_t kClientA = ip("10.16.1.10");
const uint32_t kClientB = ip("10.16.1.20");
const uint32_t kClientC = ip("10.16.1.30");
const uint32_t kRemote1 = ip("203.0.113.1");
const uint32_t kRemote2 = ip("203.0.113.2");
const uint32_t kRemote3 = ip("203.0.113.3");
const uint32_t kRouter = ip("192.0.2.99");

struct Endpoint {
  uint32_t ip;
  uint16_t port;  // an ICMP query's identifier
  bool operator==(const Endpoint&) const = default;
  auto operator<=>(const Endpoint&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Endpoint& e) {
  return os << ip_text(e.ip) << ":" << e.port;
}

PoolConfig pool_of(unsigned addresses, uint16_t port_min, uint16_t block_size) {
  return test::pool_of(ip("198.51.100.1"), addresses, port_min, block_size, kHoldDown);
}

NatParams small_nat() {
  NatParams p;
  p.pool = pool_of(4, 1024, 64);
  p.sessions = 256;
  p.clients = 32;
  p.max_blocks = 4;
  p.udp_timeout_ms = kUdpTimeout;
  p.tcp_established_timeout_ms = kEstablished;
  p.tcp_transitory_timeout_ms = kTransitory;
  p.icmp_timeout_ms = kIcmpTimeout;
  p.seed = 7;
  return p;
}

NatParams endpoint_independent() {
  NatParams p = small_nat();
  p.endpoint_independent_filtering = true;
  return p;
}

Nat44Options nat_options(bool exhausted_icmp = true) {
  Nat44Options o;
  o.exhausted_icmp = exhausted_icmp;
  o.inside_address = kInsideAddress;
  o.hz = 1000;
  return o;
}

// ------------------------------------------------------------ reading packets

bool l4_checksum_ok(const uint8_t* d, size_t len) {
  const uint32_t ihl = (d[0] & 0xfu) * 4;
  const uint8_t proto = d[9];
  const uint8_t* l4 = d + ihl;
  const size_t l4_len = len - ihl;
  if (proto == kIcmp) return checksum_ok(l4, l4_len);
  if (proto == kUdp && l4[6] == 0 && l4[7] == 0) return true;
  uint8_t pseudo[12] = {d[12], d[13], d[14], d[15], d[16], d[17], d[18], d[19], 0, proto};
  pseudo[10] = static_cast<uint8_t>(l4_len >> 8);
  pseudo[11] = static_cast<uint8_t>(l4_len);
  return fold_complement(sum16(l4, l4_len, sum16(pseudo, 12))) == 0;
}

uint32_t be32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
uint16_t be16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

bool is_query(uint8_t type) {
  return type == kIcmpEchoRequest || type == kIcmpEchoReply || type == kIcmpTimestampRequest ||
         type == kIcmpTimestampReply;
}

// A packet as the test reads it from its bytes, independently of the NAT.
struct Seen {
  Endpoint src;  // ICMP query: the identifier as both ports; ICMP error: port 0
  Endpoint dst;
  uint8_t proto = 0;
  uint8_t icmp_type = 0;
  uint8_t icmp_code = 0;
  uint8_t meta_flags = 0;
  bool checksums_ok = false;  // IP header, transport (ICMP error: and the quoted IP header)
  Bytes bytes;
};

Seen seen(const rte_mbuf* m) {
  Seen s;
  s.bytes = contents(m);
  const uint8_t* d = s.bytes.data();
  const uint32_t ihl = (d[0] & 0xfu) * 4;
  const uint8_t* l4 = d + ihl;
  s.proto = d[9];
  s.src = {be32(d + 12), 0};
  s.dst = {be32(d + 16), 0};
  s.meta_flags = meta(m).flags;
  s.checksums_ok = checksum_ok(d, ihl) && l4_checksum_ok(d, s.bytes.size());
  if (s.proto == kTcp || s.proto == kUdp) {
    s.src.port = be16(l4);
    s.dst.port = be16(l4 + 2);
  } else if (s.proto == kIcmp) {
    s.icmp_type = l4[0];
    s.icmp_code = l4[1];
    if (is_query(s.icmp_type)) {
      s.src.port = s.dst.port = be16(l4 + 4);
    } else {
      s.checksums_ok = s.checksums_ok && checksum_ok(l4 + 8, (l4[8] & 0xfu) * 4);
    }
  }
  return s;
}

// What a NAT call let through, freed at the end of the test.
struct Out {
  Out() = default;
  Out(Out&&) = default;
  Out& operator=(Out&&) = default;
  Out(const Out&) = delete;
  Out& operator=(const Out&) = delete;
  ~Out() {
    free_all(pkts);
    free_all(hairpin);
  }
  size_t size() const { return pkts.size(); }
  Seen operator[](size_t i) const { return seen(pkts.at(i)); }

  std::vector<rte_mbuf*> pkts;
  std::vector<rte_mbuf*> hairpin;
};

// ------------------------------------------------------------- building them

// The packet that opens a session of `proto` (a TCP SYN, an echo request).
Frame flow(uint8_t proto, Endpoint from, Endpoint to) {
  Frame f = Frame().src(from.ip).dst(to.ip);
  switch (proto) {
    case kTcp:
      return f.tcp(from.port, to.port);
    case kUdp:
      return f.udp(from.port, to.port);
    default:
      return f.echo_request(from.port);
  }
}

// The remote's answer to a public endpoint (a SYN-ACK, an echo reply).
Frame reply(uint8_t proto, Endpoint remote, Endpoint to) {
  Frame f = Frame().src(remote.ip).dst(to.ip);
  switch (proto) {
    case kTcp:
      return f.tcp(remote.port, to.port).tcp_flags(SYN | ACK);
    case kUdp:
      return f.udp(remote.port, to.port);
    default:
      return f.icmp(kIcmpEchoReply, 0, to.port);
  }
}

Frame udp(Endpoint from, Endpoint to) {
  return flow(kUdp, from, to);
}
Frame tcp(Endpoint from, Endpoint to, uint8_t flags) {
  return flow(kTcp, from, to).tcp_flags(flags);
}

// ------------------------------------------------------------------- the rig

struct Rig {
  explicit Rig(const NatParams& params = small_nat(), const Nat44Options& options = nat_options(),
               unsigned worker = 0, unsigned workers = 1)
      : table(params, worker, workers, kStart), nat(table, options, worker, workers, sink, limit) {
    REQUIRE(table.ok());
  }

  Out in2out_mbufs(std::vector<rte_mbuf*> burst) {
    for (rte_mbuf* m : burst)
      REQUIRE(m != nullptr);
    REQUIRE(burst.size() <= kBurst);
    rte_mbuf* hairpin[kBurst];
    uint16_t hairpins = 0;
    const uint16_t n =
        nat.in2out(burst.data(), static_cast<uint16_t>(burst.size()), now, hairpin, &hairpins);
    REQUIRE(n <= burst.size());
    Out out;
    out.pkts.assign(burst.begin(), burst.begin() + n);
    out.hairpin.assign(hairpin, hairpin + hairpins);
    return out;
  }
  Out out2in_mbufs(std::vector<rte_mbuf*> burst) {
    for (rte_mbuf* m : burst)
      REQUIRE(m != nullptr);
    REQUIRE(burst.size() <= kBurst);
    const uint16_t n = nat.out2in(burst.data(), static_cast<uint16_t>(burst.size()), now);
    REQUIRE(n <= burst.size());
    Out out;
    out.pkts.assign(burst.begin(), burst.begin() + n);
    return out;
  }
  static std::vector<rte_mbuf*> mbufs(const std::vector<Frame>& frames) {
    std::vector<rte_mbuf*> v;
    for (const Frame& f : frames)
      v.push_back(f.l3_mbuf());
    return v;
  }
  Out in2out(const Frame& f) { return in2out_mbufs({f.l3_mbuf()}); }
  Out out2in(const Frame& f) { return out2in_mbufs({f.l3_mbuf()}); }
  Out in2out(const std::vector<Frame>& burst) { return in2out_mbufs(mbufs(burst)); }
  Out out2in(const std::vector<Frame>& burst) { return out2in_mbufs(mbufs(burst)); }

  // Opens a session from inside to remote and returns the public endpoint it
  // left from; the packet must come out, to remote, checksums right.
  Endpoint open(uint8_t proto, Endpoint inside, Endpoint remote) {
    Out out = in2out(flow(proto, inside, remote));
    REQUIRE(out.size() == 1);
    const Seen s = out[0];
    CHECK(s.checksums_ok);
    CHECK(ip_text(s.dst.ip) == ip_text(remote.ip));
    if (proto != kIcmp) CHECK(s.dst.port == remote.port);
    return s.src;
  }
  Endpoint open_udp(Endpoint inside, Endpoint remote) { return open(kUdp, inside, remote); }

  // The session of inside with remote, by its inside view; nullptr if none.
  const Session* session(uint8_t proto, Endpoint inside, Endpoint remote) {
    const SessionKey k{
        inside.ip, remote.ip, inside.port, proto == kIcmp ? uint16_t{0} : remote.port, proto, 0, 0};
    const uint32_t i = table.lookup(k);
    return i == kNoIndex ? nullptr : &table.session(i);
  }

  void expire() { table.expire(now, ~0u); }
  uint64_t dropped(Drop why) const { return counters.dropped(why); }
  uint64_t drops() const { return total_drops(counters); }

  // Which block of this worker's share holds a public port, for stats.
  uint32_t block_of(Endpoint pub) const {
    const auto& a = table.params().pool.addresses;
    for (uint32_t i = 0; i < a.size(); i++) {
      if (a[i] == pub.ip) return table.blocks().block_of(i, pub.port);
    }
    return kNoBlock;
  }

  LeakCheck leaks;  // first: checked after everything below is released
  PuntRing punts;
  WorkerCounters counters;
  PacketSink sink{counters, punts.get()};
  TokenBucket limit{1000, 100, 1000};
  NatTable table;
  Nat44 nat;
  uint64_t now = kStart;
};

// ------------------------------------------- RFC 4787 REQ-1, RFC 6888 REQ-2

TEST_CASE("NAT: endpoint-independent mapping, one public address per client", "[nat]") {
  Rig rig;
  struct Step {
    const char* description;
    uint8_t proto;
    Endpoint inside;
    Endpoint remote;
    char mapping;  // steps with the same letter share a public endpoint
  };
  const Endpoint a40000{kClientA, 40000};
  const Endpoint a40001{kClientA, 40001};
  const std::vector<Step> steps = {
      {"UDP to a first remote", kUdp, a40000, {kRemote1, 53}, 'u'},
      {"same inside endpoint, another remote", kUdp, a40000, {kRemote2, 53}, 'u'},
      {"same inside endpoint, same remote, another port", kUdp, a40000, {kRemote1, 5353}, 'u'},
      {"another inside port", kUdp, a40001, {kRemote1, 53}, 'v'},
      {"another inside port, another remote", kUdp, a40001, {kRemote3, 123}, 'v'},
      {"TCP from the same inside port", kTcp, a40000, {kRemote1, 443}, 't'},
      {"TCP, another remote", kTcp, a40000, {kRemote2, 443}, 't'},
      {"ICMP echo, identifier 7", kIcmp, {kClientA, 7}, {kRemote1, 0}, 'i'},
      {"ICMP echo, identifier 7, another remote", kIcmp, {kClientA, 7}, {kRemote2, 0}, 'i'},
  };
  std::map<char, Endpoint> mapped;
  std::set<uint32_t> addresses;
  std::set<uint32_t> blocks;
  for (const Step& s : steps) {
    INFO(s.description);
    const Endpoint pub = rig.open(s.proto, s.inside, s.remote);
    CHECK(pub == mapped.try_emplace(s.mapping, pub).first->second);
    addresses.insert(pub.ip);
    CHECK(pub.port >= rig.table.params().pool.port_min);
    blocks.insert(rig.block_of(pub));
  }
  // Different inside endpoints of one protocol never share a public port.
  CHECK(mapped.at('u') != mapped.at('v'));
  // Paired pooling (RFC 4787 REQ-2, RFC 6888 REQ-3): one public address.
  CHECK(addresses.size() == 1);
  // All of it from the client's one block.
  REQUIRE(blocks.size() == 1);
  const uint32_t block = *blocks.begin();
  REQUIRE(block != kNoBlock);
  CHECK_FALSE(rig.table.blocks().is_free(block));
  CHECK(rig.table.blocks().ports_in_use(block) == 4);  // u, v, t, i
  CHECK(rig.table.mappings_in_use() == 4);
  CHECK(rig.table.sessions_in_use() == steps.size());
  CHECK(rig.table.clients_in_use() == 1);
  CHECK(rig.table.counters().blocks_allocated.read() == 1);
  CHECK(rig.drops() == 0);
}

TEST_CASE("NAT: a client's ports in blocks of its own, all on one public address", "[nat]") {
  NatParams p = small_nat();
  p.pool.block_size = 8;
  Rig rig(p);
  std::set<Endpoint> pubs;
  std::set<uint32_t> blocks;
  for (uint16_t i = 0; i < 20; i++) {
    const Endpoint pub = rig.open_udp({kClientA, static_cast<uint16_t>(40000 + i)}, {kRemote1, 53});
    pubs.insert(pub);
    const uint32_t block = rig.block_of(pub);
    REQUIRE(block != kNoBlock);
    CHECK(rig.table.blocks().client(block) ==
          rig.table.blocks().client(rig.block_of(*pubs.begin())));
    const uint16_t first = rig.table.blocks().first_port(block);
    CHECK(pub.port >= first);
    CHECK(pub.port < first + 8);
    blocks.insert(block);
  }
  CHECK(pubs.size() == 20);  // 20 inside endpoints, 20 public ports
  std::set<uint32_t> addresses;
  for (const Endpoint& e : pubs)
    addresses.insert(e.ip);
  CHECK(addresses.size() == 1);
  CHECK(blocks.size() == 3);  // 8 + 8 + 4
  CHECK(rig.table.counters().blocks_allocated.read() == 3);
}

// RFC 6888 REQ-1 (no port overloading): a public (address, port, protocol)
// belongs to one client, and replies find their way back to it.
TEST_CASE("NAT: no two clients share a public port", "[nat]") {
  Rig rig;
  struct Mapped {
    uint32_t client;
    uint8_t proto;
    Endpoint inside;
    Endpoint remote;
    Endpoint pub;
  };
  std::vector<Mapped> all;
  for (uint32_t c = 0; c < 12; c++) {
    const uint32_t client = kClientA + c;
    const std::vector<std::tuple<uint8_t, Endpoint, Endpoint>> opens = {
        {kUdp, {client, 40000}, {kRemote1, 53}},
        {kUdp, {client, 40001}, {kRemote1, 53}},
        {kTcp, {client, 40000}, {kRemote1, 443}},
        {kIcmp, {client, 1}, {kRemote1, 0}},
    };
    for (const auto& [proto, inside, remote] : opens)
      all.push_back({client, proto, inside, remote, rig.open(proto, inside, remote)});
  }
  std::set<std::pair<uint8_t, Endpoint>> taken;
  std::map<uint32_t, uint32_t> address_of;
  for (const Mapped& m : all) {
    INFO(ip_text(m.client) << " proto " << int{m.proto} << " public " << m.pub);
    CHECK(taken.emplace(m.proto, m.pub).second);
    CHECK(ip_text(address_of.try_emplace(m.client, m.pub.ip).first->second) == ip_text(m.pub.ip));
  }
  // Each reply reaches the inside endpoint that was mapped.
  for (const Mapped& m : all) {
    INFO(ip_text(m.client) << " proto " << int{m.proto} << " public " << m.pub);
    const Endpoint remote{m.remote.ip, m.proto == kIcmp ? m.pub.port : m.remote.port};
    Out in = rig.out2in(reply(m.proto, remote, m.pub));
    REQUIRE(in.size() == 1);
    CHECK(in[0].dst == m.inside);
    CHECK(in[0].checksums_ok);
  }
  CHECK(rig.drops() == 0);
}

// ------------------------------------------------------- RFC 4787 REQ-8

TEST_CASE("NAT: filtering of inbound packets", "[nat]") {
  struct Case {
    const char* description;
    bool endpoint_independent;
    Endpoint from;
    bool passes;
    Drop why;
  };
  const Endpoint contacted{kRemote1, 3478};
  const std::vector<Case> cases = {
      {"the contacted remote endpoint", false, contacted, true, {}},
      {"another port of the contacted remote", false, {kRemote1, 9999}, true, {}},
      {"another remote", false, {kRemote2, 3478}, false, Drop::nat_filtered},
      {"another remote, endpoint-independent filtering", true, {kRemote2, 3478}, true, {}},
      {"another port of the contacted remote, endpoint-independent", true, {kRemote1, 1}, true, {}},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.description) {
      Rig rig(c.endpoint_independent ? endpoint_independent() : small_nat());
      const Endpoint inside{kClientA, 40000};
      const Endpoint pub = rig.open_udp(inside, contacted);
      Out in = rig.out2in(udp(c.from, pub).payload(31));
      if (c.passes) {
        REQUIRE(in.size() == 1);
        // Exactly what the remote sent, to the inside endpoint.
        CHECK(in[0].bytes == udp(c.from, inside).payload(31).l3_bytes());
        CHECK(rig.drops() == 0);
        CHECK(rig.table.sessions_in_use() == (c.from == contacted ? 1u : 2u));
        CHECK(rig.session(kUdp, inside, c.from) != nullptr);
      } else {
        CHECK(in.size() == 0);
        CHECK(rig.dropped(c.why) == 1);
        CHECK(rig.drops() == 1);
        CHECK(rig.table.sessions_in_use() == 1);
      }
    }
  }
}

TEST_CASE("NAT: address-dependent filtering follows the sessions", "[nat]") {
  Rig rig;
  const Endpoint inside{kClientA, 40000};
  const Endpoint pub = rig.open_udp(inside, {kRemote1, 53});
  // R2 is let in once the client has talked to it, from any of its ports.
  Out before = rig.out2in(udp({kRemote2, 53}, pub));
  CHECK(before.size() == 0);
  CHECK(rig.dropped(Drop::nat_filtered) == 1);
  CHECK(rig.open_udp(inside, {kRemote2, 53}) == pub);
  Out after = rig.out2in(udp({kRemote2, 80}, pub));
  REQUIRE(after.size() == 1);
  CHECK(after[0].dst == inside);
}

// ------------------------------------------------------- unsolicited inbound

// A later fragment of a datagram frag_track knows, towards us.
rte_mbuf* later_fragment(const Frame& f, uint16_t sport, uint16_t dport) {
  rte_mbuf* m = f.l3_mbuf();
  REQUIRE(m != nullptr);
  meta(m).flags = kMetaFragTail;
  meta(m).l4_src = sport;
  meta(m).l4_dst = dport;
  return m;
}

TEST_CASE("NAT: unsolicited or untranslatable packets from outside", "[nat]") {
  Rig rig;
  const Endpoint pub = rig.open_udp({kClientA, 40000}, {kRemote1, 53});
  const uint32_t other_pool =
      pub.ip == ip("198.51.100.2") ? ip("198.51.100.3") : ip("198.51.100.2");
  struct Case {
    const char* description;
    Frame frame;
    Drop why;
  };
  const Frame from_r1 = Frame().src(kRemote1).dst(pub.ip);
  const std::vector<Case> cases = {
      {"UDP to a mapped address, a port nobody mapped",
       Frame(from_r1).udp(53, static_cast<uint16_t>(pub.port ^ 1)), Drop::nat_no_mapping},
      {"UDP to another pool address", Frame(from_r1).dst(other_pool).udp(53, pub.port),
       Drop::nat_no_mapping},
      {"TCP SYN to the mapped UDP port", Frame(from_r1).tcp(443, pub.port), Drop::nat_no_mapping},
      {"ICMP echo request to a pool address", Frame(from_r1).echo_request(pub.port),
       Drop::nat_no_mapping},
      {"ICMP echo reply nobody asked for", Frame(from_r1).icmp(kIcmpEchoReply, 0, pub.port),
       Drop::nat_no_mapping},
      {"UDP to an address outside the pool", Frame(from_r1).dst(ip("192.0.2.77")).udp(53, pub.port),
       Drop::nat_not_pool},
      {"ICMP error quoting a datagram we never sent",
       Frame(from_r1).icmp_error(
           3, 3, udp({pub.ip, static_cast<uint16_t>(pub.port ^ 1)}, {kRemote1, 53})),
       Drop::nat_icmp_no_session},
      {"ICMP error to another pool address than the session's",
       Frame(from_r1).dst(other_pool).icmp_error(3, 3, udp(pub, {kRemote1, 53})),
       Drop::nat_icmp_no_session},
      {"ICMP error quoting our datagram with a bad IP header checksum (RFC 5508 REQ-3)",
       Frame(from_r1).icmp_error(3, 3, udp(pub, {kRemote1, 53}).bad_checksum()),
       Drop::icmp_bad_checksum},
      {"GRE to a pool address", Frame(from_r1).raw(47).payload(24), Drop::nat_unsupported},
      {"ICMP redirect", Frame(from_r1).icmp(5, 1), Drop::nat_unsupported},
      {"UDP header cut short", Frame(from_r1).raw(kUdp).payload(6), Drop::nat_truncated},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.description) {
      Out in = rig.out2in(c.frame);
      CHECK(in.size() == 0);
      CHECK(rig.dropped(c.why) == 1);
      CHECK(rig.drops() == 1);
      CHECK(rig.table.sessions_in_use() == 1);
    }
  }
  SECTION("a later fragment of a datagram without session") {
    Out in = rig.out2in_mbufs(
        {later_fragment(Frame(from_r1).raw(kUdp).payload(16).frag_offset(3), 53, 4444)});
    CHECK(in.size() == 0);
    CHECK(rig.dropped(Drop::nat_frag_no_session) == 1);
  }
  SECTION("endpoint-independent filtering does not make mappings up") {
    Rig eif(endpoint_independent());
    Out in = eif.out2in(Frame(from_r1).udp(53, 5000));
    CHECK(in.size() == 0);
    CHECK(eif.dropped(Drop::nat_no_mapping) == 1);
  }
}

TEST_CASE("NAT: what a client's packet may not open", "[nat]") {
  Rig rig;
  struct Case {
    const char* description;
    Frame frame;
    Drop why;
  };
  const Endpoint a{kClientA, 40000};
  const Endpoint r{kRemote1, 443};
  const std::vector<Case> cases = {
      {"TCP ACK without a session", tcp(a, r, ACK), Drop::nat_tcp_not_syn},
      {"TCP FIN without a session", tcp(a, r, FIN | ACK), Drop::nat_tcp_not_syn},
      {"TCP RST without a session", tcp(a, r, RST), Drop::nat_tcp_not_syn},
      {"TCP SYN+RST", tcp(a, r, SYN | RST), Drop::nat_tcp_not_syn},
      {"ICMP error about nothing we translated",
       Frame().src(kClientA).dst(kRemote1).icmp_error(3, 3, udp(r, a)), Drop::nat_icmp_no_session},
      {"GRE", Frame().src(kClientA).dst(kRemote1).raw(47).payload(24), Drop::nat_unsupported},
      {"ICMP redirect", Frame().src(kClientA).dst(kRemote1).icmp(5, 1), Drop::nat_unsupported},
      {"TCP header cut short", Frame().src(kClientA).dst(kRemote1).raw(kTcp).payload(12),
       Drop::nat_truncated},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.description) {
      Out out = rig.in2out(c.frame);
      CHECK(out.size() == 0);
      CHECK(out.hairpin.empty());
      CHECK(rig.dropped(c.why) == 1);
      CHECK(rig.drops() == 1);
      CHECK(rig.table.sessions_in_use() == 0);
      CHECK(rig.table.clients_in_use() == 0);
    }
  }
  SECTION("a later fragment of a datagram without session") {
    Out out = rig.in2out_mbufs({later_fragment(
        Frame().src(kClientA).dst(kRemote1).raw(kUdp).payload(16).frag_offset(3), 40000, 53)});
    CHECK(out.size() == 0);
    CHECK(rig.dropped(Drop::nat_frag_no_session) == 1);
    CHECK(rig.table.sessions_in_use() == 0);
  }
}

// ------------------------------------------------------------ RFC 5382 TCP

TEST_CASE("NAT: TCP opens only on a SYN, in both directions", "[nat]") {
  SECTION("inbound non-SYN from the contacted remote's other port") {
    Rig rig;
    const Endpoint pub = rig.open(kTcp, {kClientA, 40000}, {kRemote1, 443});
    Out in = rig.out2in(tcp({kRemote1, 444}, pub, ACK));
    CHECK(in.size() == 0);
    CHECK(rig.dropped(Drop::nat_tcp_not_syn) == 1);
    CHECK(rig.table.sessions_in_use() == 1);
  }
  SECTION("inbound non-SYN from anyone, endpoint-independent filtering") {
    Rig rig(endpoint_independent());
    const Endpoint pub = rig.open(kTcp, {kClientA, 40000}, {kRemote1, 443});
    Out in = rig.out2in(tcp({kRemote2, 443}, pub, ACK | PSH));
    CHECK(in.size() == 0);
    CHECK(rig.dropped(Drop::nat_tcp_not_syn) == 1);
    // A SYN from that remote may open (RFC 5382 REQ-4 leaves it to filtering).
    Out syn = rig.out2in(tcp({kRemote2, 443}, pub, SYN));
    REQUIRE(syn.size() == 1);
    CHECK(syn[0].dst == Endpoint{kClientA, 40000});
    CHECK(rig.session(kTcp, {kClientA, 40000}, {kRemote2, 443})->tcp == TcpState::syn_in);
  }
}

TEST_CASE("NAT: a TCP handshake through the NAT, every segment translated", "[nat]") {
  Rig rig;
  const Endpoint a{kClientA, 40000};
  const Endpoint r{kRemote1, 443};
  const Endpoint pub = rig.open(kTcp, a, r);
  CHECK(rig.session(kTcp, a, r)->tcp == TcpState::syn_out);
  Out synack = rig.out2in(tcp(r, pub, SYN | ACK).payload(0));
  REQUIRE(synack.size() == 1);
  CHECK(synack[0].bytes == tcp(r, a, SYN | ACK).payload(0).l3_bytes());
  CHECK(rig.session(kTcp, a, r)->tcp == TcpState::established);
  Out ack = rig.in2out(tcp(a, r, ACK).payload(100, 9));
  REQUIRE(ack.size() == 1);
  CHECK(ack[0].bytes == tcp(pub, r, ACK).payload(100, 9).l3_bytes());
  CHECK(rig.session(kTcp, a, r)->tcp == TcpState::established);
  CHECK(rig.drops() == 0);
}

TEST_CASE("NAT: TCP timeouts: established survives, closed goes after the transitory timeout",
          "[nat]") {
  constexpr bool in = true;
  constexpr bool out = false;
  struct Segment {
    bool from_inside;
    uint8_t flags;
  };
  struct Closing {
    const char* description;
    std::vector<Segment> segments;
    TcpState state;
    bool transitory;  // the session now has the transitory timeout
  };
  const std::vector<Closing> closings = {
      {"FIN from the inside, then from the outside",
       {{in, FIN | ACK}, {out, ACK}, {out, FIN | ACK}, {in, ACK}},
       TcpState::fin_both,
       true},
      {"FIN from the outside, then from the inside",
       {{out, FIN | ACK}, {in, FIN | ACK}, {out, ACK}},
       TcpState::fin_both,
       true},
      {"RST from the inside", {{in, RST}}, TcpState::transitory, true},
      {"RST from the outside", {{out, RST | ACK}}, TcpState::transitory, true},
      {"half closed: FIN from the inside only",
       {{in, FIN | ACK}, {out, ACK}},
       TcpState::fin_out,
       false},
  };
  for (const Closing& c : closings) {
    DYNAMIC_SECTION(c.description) {
      Rig rig;
      const Endpoint a{kClientA, 40000};
      const Endpoint r{kRemote1, 443};
      const Endpoint pub = rig.open(kTcp, a, r);
      Out synack = rig.out2in(tcp(r, pub, SYN | ACK));
      Out ack = rig.in2out(tcp(a, r, ACK));
      REQUIRE(rig.session(kTcp, a, r)->tcp == TcpState::established);

      // Established and idle for longer than the transitory timeout.
      rig.now += kTransitory + kTick;
      rig.expire();
      REQUIRE(rig.table.sessions_in_use() == 1);
      Out data = rig.out2in(tcp(r, pub, ACK | PSH));
      CHECK(data.size() == 1);

      rig.now += kTick;
      const uint64_t closed_at = rig.now;
      for (const Segment& s : c.segments) {
        Out o = s.from_inside ? rig.in2out(tcp(a, r, s.flags)) : rig.out2in(tcp(r, pub, s.flags));
        CHECK(o.size() == 1);
      }
      REQUIRE(rig.session(kTcp, a, r) != nullptr);
      CHECK(rig.session(kTcp, a, r)->tcp == c.state);

      rig.now = closed_at + kTransitory - 1;
      rig.expire();
      CHECK(rig.table.sessions_in_use() == 1);
      rig.now = closed_at + kTransitory + kTick;
      rig.expire();
      if (c.transitory) {
        CHECK(rig.table.sessions_in_use() == 0);
        CHECK(rig.table.mappings_in_use() == 0);
        Out late = rig.out2in(tcp(r, pub, ACK));
        CHECK(late.size() == 0);
        CHECK(rig.dropped(Drop::nat_no_mapping) == 1);
      } else {
        CHECK(rig.table.sessions_in_use() == 1);
        Out late = rig.out2in(tcp(r, pub, ACK));
        CHECK(late.size() == 1);
      }
    }
  }
  SECTION("a SYN never answered goes after the transitory timeout") {
    Rig rig;
    rig.open(kTcp, {kClientA, 40000}, {kRemote1, 443});
    rig.now += kTransitory - 1;
    rig.expire();
    CHECK(rig.table.sessions_in_use() == 1);
    rig.now += 1 + kTick;
    rig.expire();
    CHECK(rig.table.sessions_in_use() == 0);
  }
}

// ------------------------------------------------- RFC 4787 REQ-5, REQ-6

TEST_CASE("NAT: a UDP session expires after udp_timeout_ms idle, not before", "[nat]") {
  Rig rig;
  const Endpoint a{kClientA, 40000};
  const Endpoint r{kRemote1, 53};
  const Endpoint pub = rig.open_udp(a, r);
  const uint64_t opened = rig.now;

  SECTION("idle") {
    rig.now = opened + kUdpTimeout - 1;
    rig.expire();
    CHECK(rig.table.sessions_in_use() == 1);
    rig.now = opened + kUdpTimeout + kTick;
    rig.expire();
    CHECK(rig.table.sessions_in_use() == 0);
    CHECK(rig.table.mappings_in_use() == 0);
    CHECK(rig.table.counters().sessions_deleted.read() == 1);
    Out late = rig.out2in(udp(r, pub));
    CHECK(late.size() == 0);
    CHECK(rig.dropped(Drop::nat_no_mapping) == 1);
  }
  for (const bool outbound : {true, false}) {
    DYNAMIC_SECTION("refreshed by " << (outbound ? "outbound" : "inbound") << " traffic") {
      rig.now = opened + kUdpTimeout / 2;
      const uint64_t refreshed = rig.now;
      Out o = outbound ? rig.in2out(udp(a, r)) : rig.out2in(udp(r, pub));
      REQUIRE(o.size() == 1);
      rig.now = opened + kUdpTimeout + kTick;  // past the first due time
      rig.expire();
      CHECK(rig.table.sessions_in_use() == 1);
      rig.now = refreshed + kUdpTimeout - 1;
      rig.expire();
      CHECK(rig.table.sessions_in_use() == 1);
      rig.now = refreshed + kUdpTimeout + kTick;
      rig.expire();
      CHECK(rig.table.sessions_in_use() == 0);
    }
  }
}

// ------------------------------------------------------------- RFC 5508

TEST_CASE("NAT: ICMP echo: the identifier is translated out and back", "[nat]") {
  Rig rig;
  const Frame request = Frame().src(kClientA).dst(kRemote1).echo_request(0x1234, 1).payload(56);
  Out out = rig.in2out(request);
  REQUIRE(out.size() == 1);
  const Seen sent = out[0];
  CHECK(sent.checksums_ok);
  CHECK(sent.icmp_type == kIcmpEchoRequest);
  const Endpoint pub = sent.src;
  CHECK(rig.nat.is_public(pub.ip));
  CHECK(sent.bytes ==
        Frame().src(pub.ip).dst(kRemote1).echo_request(pub.port, 1).payload(56).l3_bytes());

  Out back = rig.out2in(
      Frame().src(kRemote1).dst(pub.ip).icmp(kIcmpEchoReply, 0, pub.port, 1).payload(56));
  REQUIRE(back.size() == 1);
  CHECK(back[0].bytes == Frame()
                             .src(kRemote1)
                             .dst(kClientA)
                             .icmp(kIcmpEchoReply, 0, 0x1234, 1)
                             .payload(56)
                             .l3_bytes());

  // Another client with the same identifier gets another one.
  Out other = rig.in2out(Frame(request).src(kClientB));
  REQUIRE(other.size() == 1);
  CHECK(other[0].src != pub);

  // An echo request from outside to the public identifier: nobody to ask.
  Out inbound = rig.out2in(Frame().src(kRemote1).dst(pub.ip).echo_request(pub.port));
  CHECK(inbound.size() == 0);
  CHECK(rig.dropped(Drop::nat_no_mapping) == 1);

  // ICMP sessions have a timeout of their own.
  rig.now += kIcmpTimeout + kTick;
  rig.expire();
  CHECK(rig.table.sessions_in_use() == 0);
}

TEST_CASE("NAT: ICMP errors about a session are translated, the session left as it was", "[nat]") {
  Rig rig;
  const Endpoint a{kClientA, 40000};
  const Endpoint r{kRemote1, 53};
  const Frame sent_by_client = udp(a, r).payload(40, 1);
  Out out = rig.in2out(sent_by_client);
  REQUIRE(out.size() == 1);
  const Seen sent = out[0];  // what left for the Internet
  const Endpoint pub = sent.src;

  struct Case {
    const char* description;
    uint32_t from;
    uint8_t type;
    uint8_t code;
    size_t quoted;  // bytes of the datagram
  };
  const std::vector<Case> cases = {
      {"port unreachable from the remote, whole datagram quoted", kRemote1, 3, 3, SIZE_MAX},
      {"time exceeded from a router, IP header + 8 bytes", kRouter, 11, 0, 28},
      {"fragmentation needed from a router", kRouter, 3, 4, 100},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.description) {
      Bytes quote = sent.bytes;
      if (c.quoted < quote.size()) quote.resize(c.quoted);
      Bytes original = sent_by_client.l3_bytes();
      if (c.quoted < original.size()) original.resize(c.quoted);
      const uint16_t mtu = c.code == 4 ? 1280 : 0;
      rig.now += 1000;
      Out in = rig.out2in(
          Frame().src(c.from).dst(pub.ip).icmp(c.type, c.code, 0, mtu).payload_bytes(quote));
      REQUIRE(in.size() == 1);
      // The client gets the error about its datagram as it sent it.
      CHECK(in[0].bytes == Frame()
                               .src(c.from)
                               .dst(kClientA)
                               .icmp(c.type, c.code, 0, mtu)
                               .payload_bytes(original)
                               .l3_bytes());
      CHECK(in[0].checksums_ok);
      // RFC 5508: an error changes no session (not even its last-seen time).
      CHECK(rig.table.sessions_in_use() == 1);
      REQUIRE(rig.session(kUdp, a, r) != nullptr);
      CHECK(rig.session(kUdp, a, r)->last_ms == static_cast<uint32_t>(kStart));
      Out reply = rig.out2in(udp(r, pub));
      CHECK(reply.size() == 1);
    }
  }
  SECTION("errors do not keep a session alive") {
    for (uint64_t t = kStart + kTick; t < kStart + kUdpTimeout; t += 5 * kTick) {
      rig.now = t;
      Out in = rig.out2in(Frame().src(kRouter).dst(pub.ip).icmp_error(11, 0, udp(pub, r), 28));
      CHECK(in.size() == 1);
    }
    rig.now = kStart + kUdpTimeout + kTick;
    rig.expire();
    CHECK(rig.table.sessions_in_use() == 0);
  }
  SECTION("the client's error about a datagram from outside goes out translated") {
    const Frame from_remote = udp(r, pub).payload(20, 4);
    Out in = rig.out2in(from_remote);
    REQUIRE(in.size() == 1);
    const Bytes received = in[0].bytes;  // R:53 -> A:40000
    Out err =
        rig.in2out(Frame().src(kClientA).dst(kRemote1).icmp(3, 3, 0, 0).payload_bytes(received));
    REQUIRE(err.size() == 1);
    // The remote gets an error about what it sent, from the public address.
    CHECK(err[0].bytes == Frame()
                              .src(pub.ip)
                              .dst(kRemote1)
                              .icmp(3, 3, 0, 0)
                              .payload_bytes(from_remote.l3_bytes())
                              .l3_bytes());
    CHECK(err[0].checksums_ok);
    CHECK(rig.table.sessions_in_use() == 1);
  }
  SECTION("an error whose ICMP checksum fails is dropped, the session untouched (RFC 5508 REQ-3)") {
    Bytes error =
        Frame().src(kRouter).dst(pub.ip).icmp(11, 0, 0, 0).payload_bytes(sent.bytes).l3_bytes();
    error[22] ^= 0x5a;  // the ICMP checksum, after a 20-byte IP header
    Out in = rig.out2in_mbufs({Frame::to_mbuf(error)});
    CHECK(in.size() == 0);
    CHECK(rig.dropped(Drop::icmp_bad_checksum) == 1);
    CHECK(rig.drops() == 1);
    CHECK(rig.table.sessions_in_use() == 1);
    // The same from the client's side.
    Out from_remote = rig.out2in(udp(r, pub));
    REQUIRE(from_remote.size() == 1);
    Bytes back = Frame()
                     .src(kClientA)
                     .dst(kRemote1)
                     .icmp(3, 3, 0, 0)
                     .payload_bytes(from_remote[0].bytes)
                     .l3_bytes();
    back[22] ^= 0x5a;
    Out out_err = rig.in2out_mbufs({Frame::to_mbuf(back)});
    CHECK(out_err.size() == 0);
    CHECK(rig.dropped(Drop::icmp_bad_checksum) == 2);
  }
  SECTION("an error from a client about another client's session is not translated") {
    const Frame from_remote = udp(r, pub);
    Out in = rig.out2in(from_remote);
    REQUIRE(in.size() == 1);
    Out err =
        rig.in2out(Frame().src(kClientB).dst(kRemote1).icmp(3, 3, 0, 0).payload_bytes(in[0].bytes));
    CHECK(err.size() == 0);
    CHECK(rig.dropped(Drop::nat_icmp_no_session) == 1);
  }
  CHECK(rig.drops() ==
        rig.dropped(Drop::nat_icmp_no_session) + rig.dropped(Drop::icmp_bad_checksum));
}

TEST_CASE("NAT: an ICMP error about our echo request reaches the pinging client", "[nat]") {
  Rig rig;
  const Frame request = Frame().src(kClientA).dst(kRemote1).echo_request(0x4444, 3).ttl(2);
  Out out = rig.in2out(request);
  REQUIRE(out.size() == 1);
  const Endpoint pub = out[0].src;
  Out in =
      rig.out2in(Frame().src(kRouter).dst(pub.ip).icmp(11, 0, 0, 0).payload_bytes(out[0].bytes));
  REQUIRE(in.size() == 1);
  CHECK(in[0].bytes == Frame()
                           .src(kRouter)
                           .dst(kClientA)
                           .icmp(11, 0, 0, 0)
                           .payload_bytes(request.l3_bytes())
                           .l3_bytes());
}

// ------------------------------------------------------- RFC 4787 REQ-9

TEST_CASE("NAT: hairpinning between two clients of the NAT", "[nat]") {
  const Endpoint a{kClientA, 40000};
  const Endpoint b{kClientB, 40000};
  const Endpoint r{kRemote1, 53};

  SECTION("endpoint-independent filtering: A reaches B's public endpoint") {
    Rig rig(endpoint_independent());
    const Endpoint pub_b = rig.open_udp(b, r);
    Out out = rig.in2out(udp(a, pub_b).payload(25));
    CHECK(out.size() == 0);
    REQUIRE(out.hairpin.size() == 1);
    const Seen h = seen(out.hairpin[0]);
    CHECK(h.checksums_ok);
    CHECK(rig.nat.is_public(h.src.ip));
    CHECK(h.dst == pub_b);
    const Endpoint pub_a = h.src;
    CHECK(rig.table.counters().hairpins.read() == 1);
    // Back in as if from outside: B gets it from A's public endpoint.
    Out in = rig.out2in_mbufs(std::move(out.hairpin));
    out.hairpin.clear();
    REQUIRE(in.size() == 1);
    CHECK(in[0].bytes == udp(pub_a, b).payload(25).l3_bytes());
    // And B's answer finds A the same way.
    Out answer = rig.in2out(udp(b, pub_a));
    REQUIRE(answer.hairpin.size() == 1);
    CHECK(seen(answer.hairpin[0]).src == pub_b);
    Out to_a = rig.out2in_mbufs(std::move(answer.hairpin));
    answer.hairpin.clear();
    REQUIRE(to_a.size() == 1);
    CHECK(to_a[0].bytes == udp(pub_b, a).l3_bytes());
    // B's ICMP error about A's datagram goes round the same way, and A gets
    // it about the datagram as A sent it.
    const Bytes received = in[0].bytes;
    Out error =
        rig.in2out(Frame().src(kClientB).dst(pub_a.ip).icmp(3, 3, 0, 0).payload_bytes(received));
    REQUIRE(error.hairpin.size() == 1);
    Out error_in = rig.out2in_mbufs(std::move(error.hairpin));
    error.hairpin.clear();
    REQUIRE(error_in.size() == 1);
    CHECK(error_in[0].bytes == Frame()
                                   .src(pub_b.ip)
                                   .dst(kClientA)
                                   .icmp(3, 3, 0, 0)
                                   .payload_bytes(udp(a, pub_b).payload(25).l3_bytes())
                                   .l3_bytes());
    CHECK(rig.drops() == 0);
  }
  SECTION("address-dependent filtering: B must have contacted A's public endpoint") {
    Rig rig;
    const Endpoint pub_a = rig.open_udp(a, r);
    const Endpoint pub_b = rig.open_udp(b, r);
    // B to A first: A never talked to B's public address, so it is filtered.
    Out b_to_a = rig.in2out(udp(b, pub_a));
    REQUIRE(b_to_a.hairpin.size() == 1);
    Out filtered = rig.out2in_mbufs(std::move(b_to_a.hairpin));
    b_to_a.hairpin.clear();
    CHECK(filtered.size() == 0);
    CHECK(rig.dropped(Drop::nat_filtered) == 1);
    // A to B: B has a session with A's public address now.
    Out a_to_b = rig.in2out(udp(a, pub_b));
    REQUIRE(a_to_b.hairpin.size() == 1);
    Out in = rig.out2in_mbufs(std::move(a_to_b.hairpin));
    a_to_b.hairpin.clear();
    REQUIRE(in.size() == 1);
    CHECK(in[0].bytes == udp(pub_a, b).l3_bytes());
    // And now B to A passes as well.
    Out again = rig.in2out(udp(b, pub_a));
    REQUIRE(again.hairpin.size() == 1);
    Out to_a = rig.out2in_mbufs(std::move(again.hairpin));
    again.hairpin.clear();
    REQUIRE(to_a.size() == 1);
    CHECK(to_a[0].dst == a);
  }
}

// ------------------------------------------------------ RFC 6888 quotas

// The ICMP error NAT sends a client it turns away (RFC 6888 REQ-7's
// "administratively prohibited"), about the packet as the client sent it.
Bytes refusal(const Frame& refused) {
  return Frame()
      .src(kInsideAddress)
      .dst(kClientA)
      .tos(0xc0)
      .id(0)
      .ttl(64)
      .icmp(kIcmpDestUnreachable, 13, 0, 0)
      .payload_bytes(refused.l3_bytes())
      .l3_bytes();
}

NatParams one_block_per_client() {
  NatParams p = small_nat();
  p.pool = pool_of(4, 65024, 4);  // 128 blocks of 4 ports per address
  p.max_blocks = 1;
  return p;
}

TEST_CASE("NAT: a client at its port-block limit", "[nat]") {
  const Endpoint r{kRemote1, 53};
  const Frame fifth = udp({kClientA, 40004}, r);

  SECTION("is refused with an ICMP administratively prohibited, from the inside address") {
    Rig rig(one_block_per_client());
    std::vector<Endpoint> pubs;
    for (uint16_t i = 0; i < 4; i++)
      pubs.push_back(rig.open_udp({kClientA, static_cast<uint16_t>(40000 + i)}, r));
    Out out = rig.in2out(fifth);
    REQUIRE(out.size() == 1);
    const Seen e = out[0];
    CHECK(e.bytes == refusal(fifth));
    CHECK(e.checksums_ok);
    CHECK((e.meta_flags & kMetaLocal) != 0);
    CHECK(rig.dropped(Drop::nat_client_limit) == 1);
    CHECK(rig.drops() == 1);
    CHECK(rig.counters.icmp_errors_sent.read() == 1);
    CHECK(rig.table.sessions_in_use() == 4);

    // Its existing sessions keep working, both ways.
    for (uint16_t i = 0; i < 4; i++) {
      const Endpoint inside{kClientA, static_cast<uint16_t>(40000 + i)};
      CHECK(rig.open_udp(inside, r) == pubs[i]);
      Out in = rig.out2in(udp(r, pubs[i]));
      REQUIRE(in.size() == 1);
      CHECK(in[0].dst == inside);
    }
    // TCP has ports of its own in the same block.
    rig.open(kTcp, {kClientA, 40004}, {kRemote1, 443});
    // Other clients are not affected.
    rig.open_udp({kClientB, 40000}, r);
    CHECK(rig.drops() == 1);
  }
  SECTION("silently when exhausted_icmp is off") {
    Rig rig(one_block_per_client(), nat_options(false));
    for (uint16_t i = 0; i < 4; i++)
      rig.open_udp({kClientA, static_cast<uint16_t>(40000 + i)}, r);
    Out out = rig.in2out(fifth);
    CHECK(out.size() == 0);
    CHECK(rig.dropped(Drop::nat_client_limit) == 1);
    CHECK(rig.counters.icmp_errors_sent.read() == 0);
  }
  SECTION("silently when the ICMP rate limit says no") {
    Rig rig(one_block_per_client());
    rig.limit = TokenBucket(0, 1, 1000);
    for (uint16_t i = 0; i < 4; i++)
      rig.open_udp({kClientA, static_cast<uint16_t>(40000 + i)}, r);
    Out out = rig.in2out(fifth);
    CHECK(out.size() == 0);
    CHECK(rig.dropped(Drop::nat_client_limit) == 1);
    CHECK(rig.drops() == 1);
    CHECK(rig.counters.icmp_errors_suppressed.read() == 1);
  }
  SECTION("an echo request turned away gets the ICMP error too") {
    Rig rig(one_block_per_client());
    for (uint16_t i = 0; i < 4; i++)
      rig.open(kIcmp, {kClientA, static_cast<uint16_t>(i + 1)}, {kRemote1, 0});
    Out out = rig.in2out(Frame().src(kClientA).dst(kRemote1).echo_request(5));
    REQUIRE(out.size() == 1);  // an echo request is not an error: it gets one
    CHECK(out[0].icmp_type == kIcmpDestUnreachable);
    CHECK(rig.dropped(Drop::nat_client_limit) == 1);
  }
  SECTION("until its sessions expire: reclaimed before the refusal") {
    Rig rig(one_block_per_client());
    for (uint16_t i = 0; i < 4; i++)
      rig.open_udp({kClientA, static_cast<uint16_t>(40000 + i)}, r);
    rig.now += kUdpTimeout + kTick;  // no expire(): the refusal path catches up
    Out out = rig.in2out(fifth);
    REQUIRE(out.size() == 1);
    CHECK(out[0].proto == kUdp);
    CHECK(rig.drops() == 0);
    CHECK(rig.table.sessions_in_use() == 1);
  }
}

TEST_CASE("NAT: UDP keeps the inside port's parity (RFC 4787 REQ-4)", "[nat]") {
  Rig rig;
  // RTP/RTCP pairs from three clients: even stays even, odd stays odd.
  for (const uint32_t client : {kClientA, kClientB, kClientC}) {
    for (uint16_t port : {5004, 5005, 16384, 16385, 40001}) {
      INFO(ip_text(client) << ":" << port);
      const Endpoint pub = rig.open_udp({client, port}, {kRemote1, 5004});
      CHECK(pub.port % 2 == port % 2);
    }
  }
}

TEST_CASE("NAT: a client at its session limit (RFC 6888 REQ-4)", "[nat]") {
  NatParams p = endpoint_independent();
  p.max_sessions = 5;
  Rig rig(p);
  // One socket to five remotes: one mapping, five sessions.
  const Endpoint a{kClientA, 40000};
  const Endpoint pub = rig.open_udp(a, {kRemote1, 53});
  for (uint16_t k = 1; k < 5; k++)
    CHECK(rig.open_udp(a, {kRemote2, static_cast<uint16_t>(53 + k)}) == pub);
  CHECK(rig.table.sessions_in_use() == 5);

  // A sixth, outbound, is refused with ICMP code 13 though ports are free.
  const Frame sixth = udp(a, {kRemote3, 53});
  Out out = rig.in2out(sixth);
  REQUIRE(out.size() == 1);
  CHECK(out[0].bytes == refusal(sixth));
  CHECK(rig.dropped(Drop::nat_session_limit) == 1);
  // So is one a remote would open inbound (filtering would let it in).
  CHECK(rig.out2in(udp({kRemote3, 7000}, pub)).size() == 0);
  CHECK(rig.dropped(Drop::nat_session_limit) == 2);
  CHECK(rig.drops() == 2);
  CHECK(rig.table.sessions_in_use() == 5);

  // Its sessions carry on; other clients are not affected.
  CHECK(rig.open_udp(a, {kRemote1, 53}) == pub);
  rig.open_udp({kClientB, 40000}, {kRemote3, 53});
  // Once its sessions expire it may open new ones again.
  rig.now += kUdpTimeout + kTick;
  Out later = rig.in2out(sixth);
  REQUIRE(later.size() == 1);
  CHECK(later[0].proto == kUdp);
  CHECK(rig.drops() == 2);
}

TEST_CASE("NAT: no free port block in the pool", "[nat]") {
  NatParams p = small_nat();
  p.pool = pool_of(1, 65528, 4);  // two blocks in all
  p.max_blocks = 1;
  Rig rig(p);
  const Endpoint r{kRemote1, 53};
  rig.open_udp({kClientA, 40000}, r);
  rig.open_udp({kClientB, 40000}, r);
  const Frame c = udp({kClientC, 40000}, r);
  Out out = rig.in2out(c);
  REQUIRE(out.size() == 1);
  const Seen e = out[0];
  CHECK(e.icmp_type == kIcmpDestUnreachable);
  CHECK(e.icmp_code == 13);
  CHECK(e.dst.ip == kClientC);
  CHECK(e.src.ip == kInsideAddress);
  CHECK((e.meta_flags & kMetaLocal) != 0);
  CHECK(rig.dropped(Drop::nat_pool_exhausted) == 1);
  CHECK(rig.drops() == 1);
  // The refused client is not kept.
  CHECK(rig.table.clients_in_use() == 2);
}

TEST_CASE("NAT: a full client table", "[nat]") {
  NatParams p = small_nat();
  p.clients = 2;
  Rig rig(p);
  const Endpoint r{kRemote1, 53};
  rig.open_udp({kClientA, 40000}, r);
  rig.open_udp({kClientB, 40000}, r);
  Out out = rig.in2out(udp({kClientC, 40000}, r));
  CHECK(out.size() == 0);  // not a quota: no ICMP error
  CHECK(rig.dropped(Drop::nat_clients_full) == 1);
  CHECK(rig.drops() == 1);
  CHECK(rig.counters.icmp_errors_sent.read() == 0);
  // Known clients go on opening sessions.
  rig.open_udp({kClientA, 40001}, r);
}

TEST_CASE("NAT: a full session table", "[nat]") {
  NatParams p = endpoint_independent();
  p.sessions = 4;
  Rig rig(p);
  const Endpoint a{kClientA, 40000};
  Endpoint pub{};
  for (uint16_t i = 0; i < 4; i++)
    pub = rig.open_udp(a, {kRemote1, static_cast<uint16_t>(53 + i)});
  REQUIRE(rig.table.sessions_in_use() == 4);

  SECTION("refuses new sessions, without an ICMP error") {
    Out out = rig.in2out(udp(a, {kRemote1, 57}));
    CHECK(out.size() == 0);
    CHECK(rig.dropped(Drop::nat_table_full) == 1);
    CHECK(rig.counters.icmp_errors_sent.read() == 0);
    Out in = rig.out2in(udp({kRemote2, 53}, pub));
    CHECK(in.size() == 0);
    CHECK(rig.dropped(Drop::nat_table_full) == 2);
    // Existing sessions go on.
    Out old = rig.out2in(udp({kRemote1, 53}, pub));
    CHECK(old.size() == 1);
  }
  SECTION("reclaims expired sessions before refusing an outbound one") {
    rig.now += kUdpTimeout + kTick;  // no expire()
    Out out = rig.in2out(udp(a, {kRemote1, 57}));
    REQUIRE(out.size() == 1);
    CHECK(rig.drops() == 0);
    CHECK(rig.table.sessions_in_use() == 1);
    CHECK(rig.table.counters().sessions_deleted.read() == 4);
  }
  // The catch-up expiry may end the very mapping an inbound packet is for:
  // the packet must then find no mapping, never a session on a freed one.
  SECTION("reclaims expired sessions before an inbound one, without reviving their mapping") {
    rig.now += kUdpTimeout + kTick;  // no expire()
    Out in = rig.out2in(udp({kRemote2, 53}, pub));
    // Every session the table holds must hang on a live mapping that holds its port.
    if (rig.table.sessions_in_use() > 0) {
      CHECK(rig.table.mappings_in_use() == 1);
      const uint32_t block = rig.block_of(pub);
      REQUIRE(block != kNoBlock);
      CHECK(rig.table.blocks().ports_in_use(block) == 1);
      CHECK(rig.table.blocks().held_blocks() == 0);
    } else {
      CHECK(in.size() == 0);
      CHECK(rig.dropped(Drop::nat_no_mapping) == 1);
    }
    // When everything has expired, the books balance.
    rig.now += kUdpTimeout + kTick;
    rig.expire();
    CHECK(rig.table.sessions_in_use() == 0);
    CHECK(rig.table.mappings_in_use() == 0);
    const NatCounters& n = rig.table.counters();
    CHECK(n.mappings_created.read() == n.mappings_deleted.read());
  }
}

// -------------------------------------------------- RFC 6888 REQ-8 hold-down

TEST_CASE("NAT: an emptied port block stays with its client for the hold-down", "[nat]") {
  NatParams p = small_nat();
  p.pool = pool_of(1, 65528, 4);  // two blocks in all
  p.max_blocks = 1;
  Rig rig(p);
  const Endpoint r{kRemote1, 53};
  const Endpoint pub_a = rig.open_udp({kClientA, 40000}, r);
  const uint32_t block_a = rig.block_of(pub_a);
  REQUIRE(block_a != kNoBlock);

  rig.now += kUdpTimeout + kTick;
  rig.expire();
  const uint64_t emptied = rig.now;
  REQUIRE(rig.table.sessions_in_use() == 0);
  CHECK(rig.table.mappings_in_use() == 0);
  CHECK(rig.table.clients_in_use() == 1);  // A keeps its block
  CHECK(rig.table.blocks().held_blocks() == 1);
  CHECK_FALSE(rig.table.blocks().is_free(block_a));
  CHECK(rig.table.counters().blocks_released.read() == 0);

  SECTION("another client gets another block, or none") {
    const Endpoint pub_b = rig.open_udp({kClientB, 40000}, r);
    CHECK(rig.block_of(pub_b) != block_a);
    rig.now = emptied + kHoldDown - 1;
    Out c = rig.in2out(udp({kClientC, 40000}, r));
    REQUIRE(c.size() == 1);
    CHECK(c[0].icmp_type == kIcmpDestUnreachable);  // refused, A's block is not for C yet
    CHECK(rig.dropped(Drop::nat_pool_exhausted) == 1);
    rig.expire();
    CHECK(rig.table.counters().blocks_released.read() == 0);

    rig.now = emptied + kHoldDown;
    rig.expire();
    CHECK(rig.table.counters().blocks_released.read() == 1);
    CHECK(rig.table.clients_in_use() == 1);  // A is forgotten, B remains
    const Endpoint pub_c = rig.open_udp({kClientC, 40000}, r);
    CHECK(rig.block_of(pub_c) == block_a);
  }
  SECTION("the client itself may come back to it") {
    rig.now = emptied + kHoldDown / 2;
    const Endpoint again = rig.open_udp({kClientA, 40001}, r);
    CHECK(rig.block_of(again) == block_a);
    CHECK(rig.table.blocks().held_blocks() == 0);
    CHECK(rig.table.counters().blocks_allocated.read() == 1);
    rig.now = emptied + kHoldDown + kTick;
    rig.expire();
    CHECK(rig.table.counters().blocks_released.read() == 0);
  }
  SECTION("released without an expire() call, when a refusal catches up") {
    rig.open_udp({kClientB, 40000}, r);
    rig.now = emptied + kHoldDown;
    const Endpoint pub_c = rig.open_udp({kClientC, 40000}, r);
    CHECK(rig.block_of(pub_c) == block_a);
    CHECK(rig.table.counters().blocks_released.read() == 1);
  }
}

// --------------------------------------------------------------- fragments

TEST_CASE("NAT: a fragmented datagram: the first fragment opens, later ones follow", "[nat]") {
  Rig rig;
  const Endpoint a{kClientA, 40000};
  const Endpoint r{kRemote1, 53};
  const Endpoint pub = rig.open(kUdp, a, r);  // a whole datagram first, for the mapping
  Out first = rig.in2out(udp(a, r).id(9).payload(56).mf());
  REQUIRE(first.size() == 1);
  CHECK(first[0].bytes == udp(pub, r).id(9).payload(56).mf().l3_bytes());

  // Later fragments: the IP header only, ports as frag_track learnt them.
  const Frame tail = Frame().id(9).raw(kUdp).payload(24, 0x40).frag_offset(8);
  Out out = rig.in2out_mbufs({later_fragment(Frame(tail).src(a.ip).dst(r.ip), a.port, r.port)});
  REQUIRE(out.size() == 1);
  CHECK(out[0].bytes == Frame(tail).src(pub.ip).dst(r.ip).l3_bytes());
  Out in = rig.out2in_mbufs({later_fragment(Frame(tail).src(r.ip).dst(pub.ip), r.port, pub.port)});
  REQUIRE(in.size() == 1);
  CHECK(in[0].bytes == Frame(tail).src(r.ip).dst(a.ip).l3_bytes());
  CHECK(rig.drops() == 0);
  CHECK(rig.table.sessions_in_use() == 1);
}

// A datagram's fragments come back to back: the first fragment opens the
// session, and the later ones, looked up before it did, must look again
// rather than be dropped as nat-frag-no-session (they were, before nat44.cc
// gave every miss a second lookup).
TEST_CASE("NAT: a new session's later fragments in the same burst follow it", "[nat]") {
  const Endpoint a{kClientA, 40000};
  const Endpoint r{kRemote1, 53};
  const Frame tail = Frame().id(9).raw(kUdp).payload(24, 0x40).frag_offset(8);
  SECTION("outbound: the first fragment opens the session") {
    Rig rig;
    Out out = rig.in2out_mbufs({udp(a, r).id(9).payload(56).mf().l3_mbuf(),
                                later_fragment(Frame(tail).src(a.ip).dst(r.ip), a.port, r.port)});
    CHECK(rig.dropped(Drop::nat_frag_no_session) == 0);
    REQUIRE(out.size() == 2);
    const Endpoint pub = out[0].src;
    CHECK(out[1].bytes == Frame(tail).src(pub.ip).dst(r.ip).l3_bytes());
  }
  SECTION("inbound: the first fragment opens a session on the mapping") {
    Rig rig;
    const Endpoint pub = rig.open_udp(a, r);
    const Endpoint other_port{kRemote1, 5353};  // address-dependent filtering lets it in
    Out in = rig.out2in_mbufs(
        {udp(other_port, pub).id(9).payload(56).mf().l3_mbuf(),
         later_fragment(Frame(tail).src(r.ip).dst(pub.ip), other_port.port, pub.port)});
    CHECK(rig.dropped(Drop::nat_frag_no_session) == 0);
    REQUIRE(in.size() == 2);
    CHECK(in[1].bytes == Frame(tail).src(r.ip).dst(a.ip).l3_bytes());
  }
}

// ----------------------------------------------------------------- bursts

TEST_CASE("NAT: a burst keeps its order; a session opened twice in it is made once", "[nat]") {
  Rig rig;
  const Endpoint r{kRemote1, 53};
  const Endpoint pub = rig.open_udp({kClientA, 40000}, r);
  std::vector<Frame> burst;
  for (uint16_t i = 0; i < kBurst; i++) {
    // Hits, misses, drops and a repeated miss, interleaved.
    if (i % 4 == 0) burst.push_back(udp({kClientA, 40000}, r).id(i));
    if (i % 4 == 1) burst.push_back(udp({kClientB, 41000}, r).id(i));
    if (i % 4 == 2) burst.push_back(tcp({kClientA, 40000}, {kRemote1, 443}, ACK).id(i));
    if (i % 4 == 3) burst.push_back(udp({kClientA, static_cast<uint16_t>(50000 + i)}, r).id(i));
  }
  Out out = rig.in2out(burst);
  REQUIRE(out.size() == kBurst / 4 * 3);
  std::set<Endpoint> b_pubs;
  uint16_t previous = 0;
  for (size_t i = 0; i < out.size(); i++) {
    const Seen s = out[i];
    const uint16_t id = be16(s.bytes.data() + 4);
    CHECK(id % 4 != 2);
    if (i > 0) CHECK(id > previous);
    previous = id;
    CHECK(s.checksums_ok);
    if (id % 4 == 0) CHECK(s.src == pub);
    if (id % 4 == 1) b_pubs.insert(s.src);
  }
  CHECK(b_pubs.size() == 1);
  CHECK(rig.dropped(Drop::nat_tcp_not_syn) == kBurst / 4);
  CHECK(rig.table.sessions_in_use() == 1 + 1 + kBurst / 4);
}

// ------------------------------------------------------- workers, owners

TEST_CASE("NAT: owner(): the client's worker inside, the port block's worker outside", "[nat]") {
  constexpr unsigned kWorkers = 3;
  std::vector<std::unique_ptr<Rig>> rigs;
  for (unsigned w = 0; w < kWorkers; w++)
    rigs.push_back(std::make_unique<Rig>(small_nat(), nat_options(), w, kWorkers));
  const Endpoint r{kRemote1, 53};
  std::set<unsigned> used;
  for (uint32_t c = 0; c < 30; c++) {
    const uint32_t client = kClientA + c;
    INFO("client " << ip_text(client));
    const unsigned w = client_owner(client, kWorkers);
    REQUIRE(w < kWorkers);
    used.insert(w);
    // Stable: any packet of the client, asked on any worker.
    for (const Frame& f : {udp({client, 40000}, r), tcp({client, 555}, {kRemote2, 80}, SYN),
                           Frame().src(client).dst(kRemote3).echo_request(9)}) {
      rte_mbuf* m = f.l3_mbuf();
      for (unsigned k = 0; k < kWorkers; k++)
        CHECK(rigs[k]->nat.owner(m, true) == w);
      rte_pktmbuf_free(m);
    }
    // The public port comes from the owner's share, so replies go back to it.
    const Endpoint pub = rigs[w]->open_udp({client, 40000}, r);
    for (unsigned k = 0; k < kWorkers; k++)
      CHECK((rigs[k]->block_of(pub) != kNoBlock) == (k == w));
    const Endpoint ping = rigs[w]->open(kIcmp, {client, 77}, {kRemote1, 0});
    const std::vector<Frame> from_outside = {
        udp(r, pub),
        Frame().src(kRouter).dst(pub.ip).icmp_error(3, 3, udp(pub, r)),
        Frame().src(kRemote1).dst(ping.ip).icmp(kIcmpEchoReply, 0, ping.port),
    };
    for (const Frame& f : from_outside) {
      rte_mbuf* m = f.l3_mbuf();
      for (unsigned k = 0; k < kWorkers; k++)
        CHECK(rigs[k]->nat.owner(m, false) == w);
      rte_pktmbuf_free(m);
    }
    Out in = rigs[w]->out2in(udp(r, pub));
    REQUIRE(in.size() == 1);
    CHECK(in[0].dst == Endpoint{client, 40000});
  }
  CHECK(used.size() == kWorkers);  // 30 clients spread over every worker
  // A port no worker owns (below port_min) stays where it is, to be counted.
  rte_mbuf* m = udp(r, {ip("198.51.100.1"), 80}).l3_mbuf();
  for (unsigned k = 0; k < kWorkers; k++)
    CHECK(rigs[k]->nat.owner(m, false) == k);
  rte_pktmbuf_free(m);
}

// ------------------------------------------------- per-client policing

// The rig's NAT with per-client policing: 10.16.0.0/12 at CIR 8 Mbit/s with
// a bucket of exactly ten 1028-byte datagrams, 10.16.1.30/32 (client C) not
// policed. On the millisecond clock nothing refills within one instant.
struct Policing {
  static constexpr uint16_t kBytes = 1028;  // IPv4 total length of big()
  PolicerProfiles profiles;
  Policer policer{profiles};
  Policing() : profiles(specs(), 1000) { REQUIRE(profiles.ok()); }
  static std::vector<PolicerSpec> specs() {
    PolicerSpec clients;
    clients.name = "clients";
    clients.cbs = 10 * kBytes;
    clients.prefixes = {{ip("10.16.0.0"), 12}};
    PolicerSpec free;
    free.name = "free";
    free.policed = false;
    free.prefixes = {{kClientC, 32}};
    return {clients, free};
  }
  NatParams params() {
    NatParams p = small_nat();
    p.policing = &profiles;
    return p;
  }
  Nat44Options options() {
    Nat44Options o = nat_options();
    o.policer = &policer;
    return o;
  }
};

Frame big(Endpoint from, Endpoint to) {
  return udp(from, to).payload(Policing::kBytes - 28);
}

TEST_CASE("Policing: a client's sessions share one budget; clients are independent",
          "[nat][policer]") {
  Policing pol;
  Rig rig(pol.params(), pol.options());
  // Client A: ten sessions, one CBS-worth of datagrams among them.
  for (uint16_t k = 0; k < 10; k++) {
    INFO("session " << k);
    REQUIRE(rig.in2out(big({kClientA, static_cast<uint16_t>(40000 + k)}, {kRemote1, 53})).size() ==
            1);
  }
  // The eleventh datagram exceeds, on an old session or a new one.
  CHECK(rig.in2out(big({kClientA, 40000}, {kRemote1, 53})).size() == 0);
  CHECK(rig.in2out(big({kClientA, 41000}, {kRemote2, 53})).size() == 0);
  CHECK(rig.dropped(Drop::policer_exceed) == 2);
  CHECK(rig.drops() == 2);
  const Session* s = rig.session(kUdp, {kClientA, 40000}, {kRemote1, 53});
  REQUIRE(s != nullptr);
  const ClientMeter& up = rig.table.meters(s->client).dir[0];
  CHECK(up.conformed_packets.read() == 10);
  CHECK(up.conformed_bytes.read() == 10 * Policing::kBytes);
  CHECK(up.exceeded_packets.read() == 2);
  CHECK(up.exceeded_bytes.read() == 2 * Policing::kBytes);

  // Client B has its own budget; client C is in an unpoliced profile.
  Out b = rig.in2out(std::vector<Frame>(10, big({kClientB, 40000}, {kRemote1, 53})));
  CHECK(b.size() == 10);
  Out c = rig.in2out(std::vector<Frame>(30, big({kClientC, 40000}, {kRemote1, 53})));
  CHECK(c.size() == 30);
  CHECK(rig.dropped(Drop::policer_exceed) == 2);
  const PolicerCounters& clients = pol.policer.counters(1);
  CHECK(clients.packets[0][0].read() == 20);
  CHECK(clients.packets[0][1].read() == 2);
  CHECK(pol.policer.counters(2).packets[0][0].read() == 30);

  // A millisecond later, one millisecond of CIR (1000 bytes) is too little
  // for a 1028-byte datagram; 100 ms later (100,000 bytes) is plenty.
  rig.now += 1;
  CHECK(rig.in2out(big({kClientA, 40000}, {kRemote1, 53})).size() == 0);
  rig.now += 100;
  CHECK(rig.in2out(big({kClientA, 40000}, {kRemote1, 53})).size() == 1);
}

TEST_CASE("Policing: download is policed after translation, apart from upload", "[nat][policer]") {
  Policing pol;
  Rig rig(pol.params(), pol.options());
  const Endpoint a{kClientA, 40000};
  const Endpoint r{kRemote1, 53};
  const Endpoint pub = rig.open_udp(a, r);
  // Drain A's upload (the opening datagram was small).
  Out up = rig.in2out(std::vector<Frame>(11, big(a, r)));
  CHECK(up.size() == 9);
  CHECK(rig.dropped(Drop::policer_exceed) == 2);
  // Download to A has its own full bucket: ten come in, translated, the
  // eleventh is dropped after translation.
  Out down = rig.out2in(std::vector<Frame>(11, big(r, pub)));
  REQUIRE(down.size() == 10);
  for (size_t i = 0; i < down.size(); i++)
    CHECK(down[i].dst == a);
  CHECK(rig.dropped(Drop::policer_exceed) == 3);
  const Session* s = rig.session(kUdp, a, r);
  REQUIRE(s != nullptr);
  const ClientMeter& dm = rig.table.meters(s->client).dir[1];
  CHECK(dm.conformed_packets.read() == 10);
  CHECK(dm.exceeded_packets.read() == 1);
  CHECK(pol.policer.counters(1).packets[1][0].read() == 10);
  CHECK(pol.policer.counters(1).packets[1][1].read() == 1);
}

}  // namespace
}  // namespace sluice::test
