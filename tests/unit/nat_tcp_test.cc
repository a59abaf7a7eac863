// TCP state tracking for NAT sessions (dataplane/nat_tcp.h): conversations as
// tables of segments, each with the state it must leave the session in.
#include <catch2/catch.hpp>

#include <rte_tcp.h>

#include <cstring>
#include <iterator>
#include <vector>

#include "nat_tcp.h"

namespace sluice::test {
namespace {

using enum TcpState;

static_assert(kTcpFlagFin == RTE_TCP_FIN_FLAG && kTcpFlagSyn == RTE_TCP_SYN_FLAG &&
              kTcpFlagRst == RTE_TCP_RST_FLAG && kTcpFlagAck == RTE_TCP_ACK_FLAG);

constexpr uint8_t SYN = RTE_TCP_SYN_FLAG;
constexpr uint8_t ACK = RTE_TCP_ACK_FLAG;
constexpr uint8_t FIN = RTE_TCP_FIN_FLAG;
constexpr uint8_t RST = RTE_TCP_RST_FLAG;
constexpr uint8_t PSH = RTE_TCP_PSH_FLAG;
constexpr bool in = true;    // from the inside (client side)
constexpr bool out = false;  // from the outside

static_assert(tcp_next(closed, in, SYN) == syn_out);  // usable in constant expressions

const TcpState kAll[] = {closed,  syn_out, syn_in,   established,
                         fin_out, fin_in,  fin_both, transitory};
static_assert(std::size(kAll) == kTcpStates);

struct Segment {
  bool from_inside;
  uint8_t flags;
  TcpState after;
};

struct Conversation {
  const char* name;
  TcpState start;
  std::vector<Segment> segments;
};

const Conversation kConversations[] = {
    {"open and close from the inside",
     closed,
     {{in, SYN, syn_out},
      {out, SYN | ACK, established},
      {in, ACK, established},
      {in, ACK | PSH, established},
      {out, ACK, established},
      {in, FIN | ACK, fin_out},
      {out, ACK, fin_out},
      {out, FIN | ACK, fin_both},
      {in, ACK, fin_both}}},
    {"open from the outside (endpoint-independent filtering), close from the outside",
     closed,
     {{out, SYN, syn_in},
      {in, SYN | ACK, established},
      {out, ACK, established},
      {out, FIN | ACK, fin_in},
      {in, ACK, fin_in},
      {in, FIN | ACK, fin_both},
      {out, ACK, fin_both}}},
    {"simultaneous open",
     closed,
     {{in, SYN, syn_out},
      {out, SYN, established},
      {in, SYN | ACK, established},
      {out, SYN | ACK, established},
      {in, ACK, established}}},
    {"retransmitted SYNs, and ACKs before the handshake completes",
     closed,
     {{in, SYN, syn_out},
      {in, SYN, syn_out},
      {out, ACK, syn_out},
      {in, FIN | ACK, syn_out},
      {out, SYN | ACK, established}}},
    {"inbound open: the outside's retransmissions do not complete it",
     closed,
     {{out, SYN, syn_in}, {out, SYN, syn_in}, {in, ACK, syn_in}, {in, SYN | ACK, established}}},
    {"FIN from the inside, then data from the outside (half close)",
     established,
     {{in, FIN | ACK, fin_out},
      {out, ACK | PSH, fin_out},
      {out, ACK, fin_out},
      {in, ACK, fin_out},
      {in, FIN | ACK, fin_out},  // retransmitted
      {out, FIN | ACK, fin_both},
      {in, ACK, fin_both},
      {out, ACK | PSH, fin_both},
      {in, SYN, fin_both}}},
    {"FIN from the outside, then data from the inside",
     established,
     {{out, FIN | ACK, fin_in},
      {in, ACK | PSH, fin_in},
      {out, FIN | ACK, fin_in},  // retransmitted
      {in, FIN | ACK, fin_both}}},
    {"a stray RST, then the connection goes on",
     established,
     {{out, RST, transitory},
      {out, ACK | PSH, established},
      {in, RST | ACK, transitory},
      {in, ACK, established}}},
    {"a FIN after an RST counts once the session is back",
     established,
     {{in, RST, transitory},
      {in, FIN | ACK, fin_out},
      {out, RST, transitory},
      {out, FIN | ACK, fin_in}}},
    {"transitory: segments without ACK keep it",
     established,
     {{out, RST, transitory},
      {in, FIN, transitory},
      {out, PSH, transitory},
      {in, 0, transitory},
      {out, RST | ACK, transitory}}},
    {"transitory: a new SYN opens again",
     transitory,
     {{in, SYN, syn_out},
      {out, RST | ACK, transitory},
      {out, SYN, syn_in},
      {in, SYN | ACK, established}}},
    {"transitory: a SYN-ACK is an ACK", transitory, {{out, SYN | ACK, established}}},
    {"closed: nothing without a SYN opens a session",
     closed,
     {{in, ACK, closed},
      {out, ACK, closed},
      {in, FIN | ACK, closed},
      {out, 0, closed},
      {out, RST, closed},
      {in, ACK, closed},  // the RST did not open it either
      {in, SYN | RST, closed},
      {in, SYN, syn_out}}},
    {"fin_both until it expires, whatever comes",
     fin_both,
     {{out, RST, fin_both},
      {in, ACK, fin_both},
      {in, SYN, fin_both},
      {out, SYN | ACK, fin_both},
      {in, FIN | ACK, fin_both}}},
};

TEST_CASE("tcp_next: conversations", "[tcp]") {
  for (const Conversation& c : kConversations) {
    TcpState s = c.start;
    for (size_t i = 0; i < c.segments.size(); i++) {
      const Segment& seg = c.segments[i];
      const TcpState next = tcp_next(s, seg.from_inside, seg.flags);
      INFO(c.name << ": segment " << i << " from the " << (seg.from_inside ? "inside" : "outside")
                  << ", flags 0x" << std::hex << int{seg.flags} << std::dec << ", in "
                  << tcp_state_name(s) << " -> " << tcp_state_name(next) << ", expected "
                  << tcp_state_name(seg.after));
      CHECK(next == seg.after);
      s = next;
    }
  }
}

TEST_CASE("tcp_next: RST from either side, in every state", "[tcp]") {
  // RFC 7857 2.2: keep the session for the transitory time. closed and
  // fin_both ignore it (both already have the transitory timeout).
  struct Row {
    TcpState before;
    TcpState after;
  };
  const Row rows[] = {{closed, closed},          {syn_out, transitory},   {syn_in, transitory},
                      {established, transitory}, {fin_out, transitory},   {fin_in, transitory},
                      {fin_both, fin_both},      {transitory, transitory}};
  static_assert(std::size(rows) == kTcpStates);
  for (const Row& r : rows) {
    for (bool from_inside : {in, out}) {
      for (uint8_t extra : {uint8_t{0}, ACK, uint8_t(ACK | PSH), SYN, FIN}) {
        INFO(tcp_state_name(r.before) << ", RST|0x" << std::hex << int{extra} << " from the "
                                      << (from_inside ? "inside" : "outside"));
        CHECK(tcp_next(r.before, from_inside, RST | extra) == r.after);
      }
    }
  }
}

TEST_CASE("tcp_next: segments without SYN or RST never leave closed", "[tcp]") {
  for (unsigned flags = 0; flags < 256; flags++) {
    if (flags & (SYN | RST)) continue;
    CHECK(tcp_next(closed, in, flags) == closed);
    CHECK(tcp_next(closed, out, flags) == closed);
  }
}

TEST_CASE("tcp_next: a pure ACK or data never changes a state but transitory", "[tcp]") {
  for (TcpState s : kAll) {
    for (bool from_inside : {in, out}) {
      for (uint8_t flags : {ACK, uint8_t(ACK | PSH)}) {
        INFO(tcp_state_name(s));
        CHECK(tcp_next(s, from_inside, flags) == (s == transitory ? established : s));
      }
    }
  }
}

TEST_CASE("tcp timeouts and names", "[tcp]") {
  struct Row {
    TcpState state;
    bool established_timeout;
    const char* name;
  };
  const Row rows[] = {
      {closed, false, "closed"},     {syn_out, false, "syn-out"},
      {syn_in, false, "syn-in"},     {established, true, "established"},
      {fin_out, true, "fin-out"},    {fin_in, true, "fin-in"},
      {fin_both, false, "fin-both"}, {transitory, false, "transitory"},
  };
  static_assert(std::size(rows) == kTcpStates);
  for (const Row& r : rows) {
    INFO(r.name);
    CHECK(tcp_uses_established_timeout(r.state) == r.established_timeout);
    CHECK(std::strcmp(tcp_state_name(r.state), r.name) == 0);
  }
}

}  // namespace
}  // namespace sluice::test
