// Stage: NAT44 (NAPT) for one worker, on bursts of packets whose client this
// worker owns (data at the IPv4 header, after parse, fragment tracking and
// steering).
//
// in2out (from the inside, source is a client):
//  1. The packet's tuple (nat_headers.h); one bulk session lookup per burst.
//  2. Hits are translated first (source -> public address:port, or for an
//     ICMP error from the client, the outer source and the quoted
//     destination), TCP state follows the segment, last-seen is refreshed
//     and the packet is counted in its session (flow records, nat_events.h).
//     With policing, the client's upload policer meters the packet first,
//     before NAT changes anything (policer-exceed / policer-violate).
//  3. Misses create a session: TCP only on a SYN, ICMP only on a query
//     request, never from a later fragment or an ICMP error. A refused
//     session (port quota, pool, table) is counted and, when configured,
//     answered with ICMP destination unreachable code 13 (administratively
//     prohibited, RFC 5508 / RFC 1812) from the inside address.
//  4. A packet now addressed to one of our public addresses is a hairpin
//     (RFC 4787 REQ-9): it goes on to out2in as if it came from outside,
//     with its source already the client's public endpoint.
// out2in (from the outside, destination is ours):
//  1. Not a pool address: nat-not-pool. Bulk lookup on the public view.
//  2. Hits: destination -> inside address:port (or the ICMP error's outer
//     destination and quoted source). ICMP errors never change a session.
//     With policing, the client's download policer meters it after.
//  3. Misses: a new session on an existing mapping when filtering allows
//     (endpoint-independent: any remote; address-dependent: a remote
//     address the mapping has a session with); a TCP segment only on a SYN.
//     Otherwise nat-no-mapping / nat-filtered / nat-tcp-not-syn.
// owner() says which worker owns a packet: the client's (steering.h) for
// in2out, the port block's for out2in.
//
// Counters: the nat-* drop reasons and the table's NatCounters.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "nat_headers.h"
#include "nat_table.h"
#include "policer.h"
#include "sink.h"
#include "token_bucket.h"

namespace sluice {

struct Nat44Options {
  bool exhausted_icmp = true;
  uint32_t inside_address = 0;  // source of the ICMP errors NAT sends to clients
  uint64_t hz = 1000;           // ticks of the injected clock per second
  Policer* policer = nullptr;   // per-client policing (the table's profiles); nullptr: none
};

class Nat44 {
 public:
  Nat44(NatTable& table, const Nat44Options& options, unsigned worker, unsigned workers,
        PacketSink& sink, TokenBucket& icmp_limit);

  // Translated packets are compacted in order at the front of pkts (their
  // count returned); hairpins go to hairpin[0 .. *hairpins) (room for n).
  uint16_t in2out(rte_mbuf** pkts, uint16_t n, uint64_t now, rte_mbuf** hairpin,
                  uint16_t* hairpins) noexcept;
  uint16_t out2in(rte_mbuf** pkts, uint16_t n, uint64_t now) noexcept;

  // The worker owning this packet's client; `inside`: it came from a client.
  unsigned owner(const rte_mbuf* m, bool inside) const noexcept;

  bool is_public(uint32_t ip) const noexcept {
    return ip - pool_low_ <= pool_span_ && pool_.find(ip) >= 0;
  }
  uint64_t ms(uint64_t now) const noexcept { return now / ticks_per_ms_; }
  NatTable& table() noexcept { return table_; }

 private:
  void refuse(rte_mbuf* m, Drop why, uint64_t now, rte_mbuf** kept, uint16_t* n_kept) noexcept;
  // One bulk lookup of the burst's sessions (records prefetched), then every
  // hit translated before any miss is handled, so a miss's catch-up expiry
  // cannot reclaim a session a hit still uses. Misses keep kNoIndex.
  void translate_hits(rte_mbuf** pkts, const NatTuple* t, const SessionKey* keys, uint32_t* index,
                      bool* live, uint16_t n, bool outward, uint64_t now) noexcept;
  // Translates m (tuple t) on session si, outward (in2out) or inward;
  // false when it was dropped instead (an ICMP error about another client,
  // or its client's policer).
  bool translate(rte_mbuf* m, const NatTuple& t, uint32_t si, bool outward, uint64_t now,
                 uint64_t now_ms) noexcept;
  // The session's client's policer in direction d; false: dropped.
  bool police(rte_mbuf* m, Session& s, Direction d, uint64_t now) noexcept;

  NatTable& table_;
  Nat44Options options_;
  PoolIndex pool_;
  uint32_t pool_low_;  // lowest pool address; pool_span_: highest minus lowest
  uint32_t pool_span_;
  PortOwner port_owner_;
  unsigned worker_;
  unsigned workers_;
  uint64_t ticks_per_ms_;
  PacketSink& sink_;
  TokenBucket& icmp_limit_;
};

}  // namespace sluice
