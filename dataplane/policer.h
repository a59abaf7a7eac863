// Stage: per-client microflow policing, on the NAT fast path.
//
// Every client (inside address) in a policed profile has two policers, one
// per direction: upload meters its packets from the inside before NAT
// rewrites them, download meters packets to it after out-to-in translation
// (keyed by the inside destination). The sum of a client's sessions shares
// one budget: a session names its client (nat_table.h), and the client's
// meters sit in one cache line per direction next to its counters, on the
// worker that owns the client. No lock, no extra table lookup per packet.
//
// A profile is one-rate two-colour (RFC 2697 srTCM with EBS = 0: a packet
// conforms while the committed bucket holds its length, else it exceeds) or
// two-rate three-colour (RFC 2698 trTCM: conform, exceed above CIR within
// PIR, violate above PIR), colour-blind. Each colour has an action:
// transmit, drop, or re-mark the DSCP (IPv4 header checksum updated). An
// unpoliced profile only counts.
//
// The buckets are our own, not DPDK's rte_meter: rte_meter credits tokens
// by whole periods found with a 64-bit division per packet (29 cycles a
// check here, against 13 for a multiply), and its configuration reads the
// TSC, so a test cannot choose the clock. Here a bucket holds bytes in
// 32.32 fixed point and fills by elapsed ticks times the rate in bytes per
// tick, exact to 2^-32 of a byte per tick, capped at its burst size.
//
// Length: the IPv4 total length (the L3 packet; no Ethernet header, VLAN
// tag or FCS), for the meter and for every byte counter alike.
//
// Profiles: a longest-prefix table (rte_lpm) from client prefixes to
// profiles, built by control and read-only after; a client's profile is
// looked up once, when the client is created. Index 0 is "not policed" (an
// address in no profile's prefixes).
//
// Counters: per worker, per profile and direction, packets and bytes by
// colour (PolicerCounters); per client and direction, conformed and exceeded
// (exceed and violate) packets and bytes (ClientMeter).
#pragma once

#include <rte_ip.h>
#include <rte_lpm.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "counters.h"

namespace sluice {

enum class PolicerColour : uint8_t { conform, exceed, violate };
inline constexpr unsigned kColours = 3;

enum class PolicerAction : uint8_t { transmit, drop, remark };

struct PolicerActionSpec {
  PolicerAction action = PolicerAction::drop;
  uint8_t dscp = 0;  // for remark
};

enum class Direction : uint8_t { upload, download };
inline constexpr unsigned kDirections = 2;

// One profile as configured. cir/pir in bit/s, cbs/pbs in bytes; pir == 0:
// one rate (srTCM, EBS = 0). policed == false: count only.
struct PolicerSpec {
  std::string name;
  bool policed = true;
  uint64_t cir = 8'000'000;
  uint64_t cbs = 250'000;
  uint64_t pir = 0;
  uint64_t pbs = 0;
  PolicerActionSpec exceed;
  PolicerActionSpec violate;
  struct Prefix {
    uint32_t network;  // host order
    uint8_t len;
  };
  std::vector<Prefix> prefixes;
};

// Token amounts are bytes << 32.
inline constexpr unsigned kTokenShift = 32;

struct PolicerProfile {
  PolicerSpec spec;
  bool two_rate = false;
  uint64_t cir = 0;   // tokens per tick
  uint64_t pir = 0;   // tokens per tick (two-rate)
  uint64_t cbs = 0;   // tokens
  uint64_t pbs = 0;   // tokens (two-rate)
  uint64_t fill = 0;  // ticks in which both buckets fill from empty
};

// One client's policer in one direction: its buckets and counters, one line.
struct alignas(64) ClientMeter {
  uint64_t time = 0;  // tick of the last refill
  uint64_t tc = 0;    // committed bucket, tokens
  uint64_t tp = 0;    // peak bucket (two-rate), tokens
  Counter conformed_packets;
  Counter conformed_bytes;
  Counter exceeded_packets;  // exceed and violate
  Counter exceeded_bytes;

  void clear_counters() noexcept {
    conformed_packets.reset();
    conformed_bytes.reset();
    exceeded_packets.reset();
    exceeded_bytes.reset();
  }
};
static_assert(sizeof(ClientMeter) == 64);

struct ClientMeters {
  ClientMeter dir[kDirections];
};

// One worker's counters for one profile.
struct alignas(64) PolicerCounters {
  Counter packets[kDirections][kColours];
  Counter bytes[kDirections][kColours];
};

// The profiles and their prefix table; shared read-only by every worker.
class PolicerProfiles {
 public:
  // specs: the profiles; hz: ticks per second of the clock the workers pass
  // to police(). Check ok().
  PolicerProfiles(const std::vector<PolicerSpec>& specs, uint64_t hz);
  ~PolicerProfiles();
  PolicerProfiles(const PolicerProfiles&) = delete;
  PolicerProfiles& operator=(const PolicerProfiles&) = delete;
  bool ok() const noexcept { return error_.empty(); }
  const std::string& error() const noexcept { return error_; }

  // 1 + the index in specs of the profile of the longest prefix holding ip;
  // 0: not policed.
  uint16_t profile_of(uint32_t ip) const noexcept;
  // Index 0 is the "not policed" entry (no spec prefixes).
  const PolicerProfile& profile(uint16_t index) const noexcept { return profiles_[index]; }
  size_t size() const noexcept { return profiles_.size(); }

  // A new client's meters in profile `index`: both buckets full.
  void reset(ClientMeters& m, uint16_t index) const noexcept;

 private:
  std::vector<PolicerProfile> profiles_;
  rte_lpm* lpm_ = nullptr;
  std::string error_;
};

// The colour of a packet of `bytes` on meter m of profile p at time now.
inline PolicerColour police(ClientMeter& m, const PolicerProfile& p, uint64_t now,
                            uint32_t bytes) noexcept {
  if (!p.spec.policed) return PolicerColour::conform;
  // Refill: past `fill` ticks both buckets are full (and the product below
  // cannot overflow: fill x rate is about the burst, below 2^63).
  const uint64_t dt = now - m.time;
  m.time = now;
  uint64_t tc = p.cbs;
  uint64_t tp = p.pbs;
  if (dt < p.fill) {
    tc = std::min(p.cbs, m.tc + dt * p.cir);
    tp = std::min(p.pbs, m.tp + dt * p.pir);
  }
  const uint64_t need = uint64_t{bytes} << kTokenShift;
  PolicerColour c;
  if (!p.two_rate) {
    c = tc >= need ? PolicerColour::conform : PolicerColour::exceed;
    if (tc >= need) tc -= need;
  } else if (tp < need) {
    c = PolicerColour::violate;
  } else if (tc < need) {
    c = PolicerColour::exceed;
    tp -= need;
  } else {
    c = PolicerColour::conform;
    tc -= need;
    tp -= need;
  }
  m.tc = tc;
  m.tp = tp;
  return c;
}

// Sets the DSCP of the IPv4 header, keeping ECN, and fixes the checksum.
void set_dscp(rte_ipv4_hdr* ip, uint8_t dscp) noexcept;

// One worker's policing: meters a packet on its client's policer, counts it
// per profile and per client, and applies the colour's action.
class Policer {
 public:
  explicit Policer(const PolicerProfiles& profiles)
      : profiles_(profiles), counters_(profiles.size()) {}

  // m: data at the IPv4 header. True when the packet goes on (conformed,
  // transmitted or re-marked); false when the caller must drop it
  // (Drop::policer_exceed or policer_violate, per colour()).
  bool pass(rte_mbuf* m, ClientMeters& meters, uint16_t profile, Direction d, uint64_t now,
            PolicerColour* colour) noexcept {
    auto* ip = rte_pktmbuf_mtod(m, rte_ipv4_hdr*);
    const uint32_t bytes = rte_be_to_cpu_16(ip->total_length);
    const PolicerProfile& p = profiles_.profile(profile);
    ClientMeter& cm = meters.dir[static_cast<unsigned>(d)];
    const PolicerColour c = police(cm, p, now, bytes);
    PolicerCounters& pc = counters_[profile];
    pc.packets[static_cast<unsigned>(d)][static_cast<unsigned>(c)].add();
    pc.bytes[static_cast<unsigned>(d)][static_cast<unsigned>(c)].add(bytes);
    *colour = c;
    if (c == PolicerColour::conform) {
      cm.conformed_packets.add();
      cm.conformed_bytes.add(bytes);
      return true;
    }
    cm.exceeded_packets.add();
    cm.exceeded_bytes.add(bytes);
    const PolicerActionSpec& a = c == PolicerColour::exceed ? p.spec.exceed : p.spec.violate;
    if (a.action == PolicerAction::drop) return false;
    if (a.action == PolicerAction::remark) set_dscp(ip, a.dscp);
    return true;
  }

  const PolicerProfiles& profiles() const noexcept { return profiles_; }
  const PolicerCounters& counters(uint16_t profile) const noexcept { return counters_[profile]; }

 private:
  const PolicerProfiles& profiles_;
  std::vector<PolicerCounters> counters_;
};

}  // namespace sluice
