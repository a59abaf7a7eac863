// LACP (IEEE 802.1AX) for one aggregate: the LACPDU and marker codec and the
// protocol machines, as a plain class on an injected millisecond clock.
//
// An Aggregate has 1 to 8 members (its ports, numbered 1..n in LACPDUs) and
// exactly one aggregator. Per member it runs the machines of 802.1AX clause 6:
//
//   receive   INITIALIZE -> PORT_DISABLED -> EXPIRED -> DEFAULTED / CURRENT.
//             A LACPDU records the partner (CURRENT, current_while = 3 s on
//             fast rate, 90 s on slow); silence expires it (EXPIRED: partner
//             out of sync, a last short timeout), then DEFAULTED: the partner
//             is forgotten and the member leaves the aggregator.
//   periodic  NO_PERIODIC while the link is down or both ends are passive,
//             else a LACPDU every 1 s when the partner asked for short
//             timeouts (or has not been heard) or the member does not
//             distribute yet, every 30 s otherwise.
//   selection the aggregator carries one LAG: (partner system priority,
//             partner system, partner key), plus the partner port when the
//             partner says the link is individual. It keeps its LAG while any
//             member is attached; once empty it takes the LAG that most
//             current members share (ties: the lowest member). A member whose
//             partner is another LAG, or defaulted, stays unselected.
//   mux       DETACHED -> WAITING (2 s, Aggregate_Wait_Time, until every
//             member waiting for the aggregator is ready) -> ATTACHED (actor
//             in sync) -> COLLECTING (partner in sync) -> DISTRIBUTING
//             (partner collecting), and back down as conditions fail
//             (independent control).
//   transmit  a LACPDU whenever something changed (NTT: our state, the
//             partner's view of us, a new partner), at most 3 a second.
//   churn     actor and partner churn: out of sync for 60 s is counted.
//
// Marker PDUs are answered at once on the member they came in on (the marker
// responder); marker responses are counted. Malformed or truncated slow
// protocol frames and unknown subtypes are counted and ignored, and so is a
// LACPDU whose actor is our own system (a loop: our own LACPDU came back,
// e.g. through a switch that does not take part in LACP).
//
// Static mode runs none of this: every member whose link is up distributes.
//
// Only members in DISTRIBUTING carry traffic: distributing() lists them;
// members in COLLECTING or DISTRIBUTING take traffic in: collecting() (in
// static mode both are the members whose link is up). generation() changes
// whenever either list does, for control to publish a new distribution set
// (dataplane/lag.h).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace sluice::lacp {

using Mac = std::array<uint8_t, 6>;

inline constexpr Mac kSlowProtocolsAddress = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x02};
inline constexpr uint16_t kEtherTypeSlow = 0x8809;
inline constexpr size_t kMaxMembers = 8;
// Ethernet header + the 110 bytes of a LACPDU or marker PDU.
inline constexpr size_t kFrameLen = 14 + 110;

// Port state bits (802.1AX 6.4.2.3).
inline constexpr uint8_t kActivity = 0x01;
inline constexpr uint8_t kTimeout = 0x02;  // short timeout
inline constexpr uint8_t kAggregation = 0x04;
inline constexpr uint8_t kSynchronization = 0x08;
inline constexpr uint8_t kCollecting = 0x10;
inline constexpr uint8_t kDistributing = 0x20;
inline constexpr uint8_t kDefaulted = 0x40;
inline constexpr uint8_t kExpired = 0x80;

// Timers (802.1AX 6.4.4), in ms.
inline constexpr uint64_t kFastPeriodicMs = 1000;
inline constexpr uint64_t kSlowPeriodicMs = 30000;
inline constexpr uint64_t kShortTimeoutMs = 3000;
inline constexpr uint64_t kLongTimeoutMs = 90000;
inline constexpr uint64_t kAggregateWaitMs = 2000;
inline constexpr uint64_t kChurnDetectionMs = 60000;
inline constexpr unsigned kMaxTxPerPeriod = 3;  // per kFastPeriodicMs

// The actor or partner information of a LACPDU.
struct PortInfo {
  uint16_t system_priority = 0;
  Mac system{};
  uint16_t key = 0;
  uint16_t port_priority = 0;
  uint16_t port = 0;
  uint8_t state = 0;
  bool operator==(const PortInfo&) const = default;
};

struct Lacpdu {
  PortInfo actor;
  PortInfo partner;
  uint16_t collector_max_delay = 0;
};

struct Marker {
  bool response = false;  // Marker Response, else Marker Information
  uint16_t requester_port = 0;
  Mac requester_system{};
  uint32_t transaction = 0;
};

enum class Pdu : uint8_t { lacpdu, marker, truncated, malformed, unknown_subtype };

// Reads a slow protocols frame (from its Ethernet header, untagged).
// Returns what it is; *out_lacp or *out_marker is filled for a valid PDU.
Pdu decode(std::span<const uint8_t> frame, Lacpdu* out_lacp, Marker* out_marker) noexcept;
// Writes a whole frame (kFrameLen bytes) from src to the slow protocols address.
void encode(const Lacpdu& pdu, const Mac& src, std::span<uint8_t, kFrameLen> out) noexcept;
void encode(const Marker& pdu, const Mac& src, std::span<uint8_t, kFrameLen> out) noexcept;

// "activity,timeout,aggregation,..." for the bits set, "none" for 0.
std::string state_text(uint8_t state);

enum class RxState : uint8_t { initialize, port_disabled, expired, defaulted, current };
enum class MuxState : uint8_t { detached, waiting, attached, collecting, distributing };
enum class Selected : uint8_t { unselected, selected };
enum class Churn : uint8_t { monitor, none, churn };

const char* name(RxState s) noexcept;
const char* name(MuxState s) noexcept;
const char* name(Churn s) noexcept;

struct Settings {
  bool lacp = true;    // false: static mode
  bool active = true;  // LACP activity
  bool fast = true;    // ask the partner for short timeouts (a LACPDU each second)
  uint16_t system_priority = 65535;
  Mac system{};  // the aggregate's MAC unless configured
  uint16_t key = 1;
  uint16_t port_priority = 255;
};

struct MemberCounters {
  uint64_t lacpdus_rx = 0;
  uint64_t lacpdus_tx = 0;
  uint64_t markers_rx = 0;
  uint64_t marker_responses_tx = 0;
  uint64_t marker_responses_rx = 0;
  uint64_t truncated_rx = 0;
  uint64_t malformed_rx = 0;
  uint64_t unknown_rx = 0;      // slow protocols subtypes other than LACP and marker
  uint64_t ignored_rx = 0;      // LACP or marker frames in static mode
  uint64_t looped_rx = 0;       // LACPDUs from our own system (a loop), ignored
  uint64_t link_failures = 0;   // link went down (after down-delay)
  uint64_t state_changes = 0;   // mux state changes (static mode: distributing on/off)
  uint64_t actor_churns = 0;    // entered ACTOR_CHURN
  uint64_t partner_churns = 0;  // entered PARTNER_CHURN
};

// A member as /proc/net/bonding shows it.
struct MemberStatus {
  bool link_up = false;
  RxState rx = RxState::initialize;
  MuxState mux = MuxState::detached;
  Selected selected = Selected::unselected;
  Churn actor_churn = Churn::monitor;
  Churn partner_churn = Churn::monitor;
  PortInfo actor;
  PortInfo partner;
  MemberCounters counters;
};

class Aggregate {
 public:
  // Sends a whole frame (kFrameLen bytes) on member m (0-based).
  using Transmit = std::function<void(unsigned member, std::span<const uint8_t> frame)>;

  Aggregate(const Settings& settings, unsigned members, Transmit tx);

  // A slow protocols frame received on member m.
  void on_frame(unsigned m, std::span<const uint8_t> frame, uint64_t now_ms);
  // The member's link (after down/up delay), from the link monitor.
  void set_link(unsigned m, bool up, uint64_t now_ms);
  // Timers. Call at least every few tens of ms.
  void tick(uint64_t now_ms);

  // Members that carry traffic now, in member order.
  std::vector<unsigned> distributing() const;
  // Members that take traffic in now (a superset of distributing()).
  std::vector<unsigned> collecting() const;
  // Changes each time distributing() or collecting() changes.
  uint64_t generation() const noexcept { return generation_; }

  const Settings& settings() const noexcept { return settings_; }
  unsigned members() const noexcept { return static_cast<unsigned>(members_.size()); }
  const MemberStatus& member(unsigned m) const { return members_.at(m).status; }
  // The LAG the aggregator carries; false while it carries none.
  bool partner(PortInfo* out) const;
  // Member whose LAG the aggregator took (its aggregator id is this + 1).
  int aggregator_member() const noexcept { return agg_member_; }

 private:
  struct LagId {
    uint16_t system_priority = 0;
    Mac system{};
    uint16_t key = 0;
    uint16_t port = 0;  // individual links only
    bool operator==(const LagId&) const = default;
  };

  struct Member {
    MemberStatus status;
    bool ntt = false;
    bool ready_n = false;
    uint64_t current_while = 0;  // deadlines in ms, 0: stopped
    uint64_t periodic = 0;
    uint64_t wait_while = 0;
    uint64_t actor_churn_timer = 0;
    uint64_t partner_churn_timer = 0;
    bool periodic_fast = false;
    std::array<uint64_t, kMaxTxPerPeriod>
        tx_times{};  // the last sends + 1 ms, oldest first; 0: none
  };

  void begin(Member& p, unsigned m);
  void record_pdu(Member& p, const Lacpdu& pdu, uint64_t now);
  void record_default(Member& p);
  void expire(Member& p, uint64_t now);
  void run(uint64_t now);
  bool run_mux(Member& p, uint64_t now);
  void run_rx_timers(Member& p, uint64_t now);
  void run_periodic(Member& p, uint64_t now);
  void run_churn(Member& p, uint64_t now);
  void select();
  void transmit(unsigned m, uint64_t now);
  LagId lag_of(const Member& p) const noexcept;
  bool candidate(const Member& p) const noexcept;

  Settings settings_;
  Transmit tx_;
  std::vector<Member> members_;
  bool agg_has_lag_ = false;
  LagId agg_lag_;
  int agg_member_ = -1;
  uint64_t generation_ = 0;
};

}  // namespace sluice::lacp
