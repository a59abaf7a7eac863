#include "lacp.h"

#include <algorithm>
#include <cstring>

#include "wire.h"

namespace sluice::lacp {

namespace {

// Offsets in a slow protocols frame (after the 14-byte Ethernet header).
constexpr size_t kEth = 14;
constexpr uint8_t kSubtypeLacp = 1;
constexpr uint8_t kSubtypeMarker = 2;
constexpr uint8_t kTlvActor = 1;
constexpr uint8_t kTlvPartner = 2;
constexpr uint8_t kTlvCollector = 3;
constexpr uint8_t kTlvMarkerInfo = 1;
constexpr uint8_t kTlvMarkerResponse = 2;
constexpr uint8_t kInfoLen = 20;
constexpr uint8_t kCollectorLen = 16;
constexpr uint8_t kMarkerInfoLen = 16;

// The partner assumed while nothing has been heard (Partner_Admin_*): a
// passive, individual, out-of-sync nobody, so a defaulted member never
// carries traffic; with short timeouts, so we keep offering a LACPDU every
// second and a partner that comes up hears from us at once.
constexpr PortInfo kPartnerAdmin{0, {}, 0, 0, 0, kTimeout};

// Actor or partner information TLV body (18 bytes after type and length).
PortInfo read_info(const uint8_t* p) {
  PortInfo i;
  i.system_priority = get16(p);
  std::memcpy(i.system.data(), p + 2, 6);
  i.key = get16(p + 8);
  i.port_priority = get16(p + 10);
  i.port = get16(p + 12);
  i.state = p[14];
  return i;
}
void write_info(uint8_t* p, uint8_t type, const PortInfo& i) {
  p[0] = type;
  p[1] = kInfoLen;
  put16(p + 2, i.system_priority);
  std::memcpy(p + 4, i.system.data(), 6);
  put16(p + 10, i.key);
  put16(p + 12, i.port_priority);
  put16(p + 14, i.port);
  p[16] = i.state;
}

void write_header(std::span<uint8_t, kFrameLen> out, const Mac& src, uint8_t subtype) {
  std::memset(out.data(), 0, out.size());
  std::memcpy(out.data(), kSlowProtocolsAddress.data(), 6);
  std::memcpy(out.data() + 6, src.data(), 6);
  put16(out.data() + 12, kEtherTypeSlow);
  out[kEth] = subtype;
  out[kEth + 1] = 1;  // version
}

// The fields that name the partner's port in the LAG (update_Selected).
bool same_port(const PortInfo& a, const PortInfo& b) {
  return a.system_priority == b.system_priority && a.system == b.system && a.key == b.key &&
         a.port_priority == b.port_priority && a.port == b.port &&
         (a.state & kAggregation) == (b.state & kAggregation);
}

void set_bit(uint8_t& state, uint8_t bit, bool on) {
  state = static_cast<uint8_t>(on ? state | bit : state & ~bit);
}

}  // namespace

Pdu decode(std::span<const uint8_t> f, Lacpdu* out_lacp, Marker* out_marker) noexcept {
  if (f.size() < kEth + 2) return Pdu::truncated;
  const uint8_t subtype = f[kEth];
  if (subtype != kSubtypeLacp && subtype != kSubtypeMarker) return Pdu::unknown_subtype;
  if (f.size() < kFrameLen) return Pdu::truncated;
  const uint8_t version = f[kEth + 1];
  const uint8_t* p = f.data() + kEth + 2;
  if (subtype == kSubtypeMarker) {
    // Version 1 only; the information or response TLV, then the terminator.
    if (version != 1 || (p[0] != kTlvMarkerInfo && p[0] != kTlvMarkerResponse) ||
        p[1] != kMarkerInfoLen || p[16] != 0 || p[17] != 0) {
      return Pdu::malformed;
    }
    out_marker->response = p[0] == kTlvMarkerResponse;
    out_marker->requester_port = get16(p + 2);
    std::memcpy(out_marker->requester_system.data(), p + 4, 6);
    out_marker->transaction = get32(p + 10);
    return Pdu::marker;
  }
  // Later versions may add TLVs after the collector (802.1AX-2014 6.4.2.4);
  // the first three are the same in every version.
  if (version == 0 || p[0] != kTlvActor || p[1] != kInfoLen || p[20] != kTlvPartner ||
      p[21] != kInfoLen || p[40] != kTlvCollector || p[41] != kCollectorLen ||
      (version == 1 && (p[56] != 0 || p[57] != 0))) {
    return Pdu::malformed;
  }
  out_lacp->actor = read_info(p + 2);
  out_lacp->partner = read_info(p + 22);
  out_lacp->collector_max_delay = get16(p + 42);
  return Pdu::lacpdu;
}

void encode(const Lacpdu& pdu, const Mac& src, std::span<uint8_t, kFrameLen> out) noexcept {
  write_header(out, src, kSubtypeLacp);
  uint8_t* p = out.data() + kEth + 2;
  write_info(p, kTlvActor, pdu.actor);
  write_info(p + 20, kTlvPartner, pdu.partner);
  p[40] = kTlvCollector;
  p[41] = kCollectorLen;
  put16(p + 42, pdu.collector_max_delay);
  // Terminator (type 0, length 0) and the reserved bytes are already zero.
}

void encode(const Marker& pdu, const Mac& src, std::span<uint8_t, kFrameLen> out) noexcept {
  write_header(out, src, kSubtypeMarker);
  uint8_t* p = out.data() + kEth + 2;
  p[0] = pdu.response ? kTlvMarkerResponse : kTlvMarkerInfo;
  p[1] = kMarkerInfoLen;
  put16(p + 2, pdu.requester_port);
  std::memcpy(p + 4, pdu.requester_system.data(), 6);
  put32(p + 10, pdu.transaction);
}

std::string state_text(uint8_t state) {
  static constexpr const char* kNames[] = {"activity",        "timeout",    "aggregation",
                                           "synchronization", "collecting", "distributing",
                                           "defaulted",       "expired"};
  std::string out;
  for (unsigned bit = 0; bit < 8; bit++) {
    if (!(state & (1u << bit))) continue;
    if (!out.empty()) out += ',';
    out += kNames[bit];
  }
  return out.empty() ? "none" : out;
}

const char* name(RxState s) noexcept {
  switch (s) {
    case RxState::initialize:
      return "initialize";
    case RxState::port_disabled:
      return "port-disabled";
    case RxState::expired:
      return "expired";
    case RxState::defaulted:
      return "defaulted";
    case RxState::current:
      return "current";
  }
  return "?";
}

const char* name(MuxState s) noexcept {
  switch (s) {
    case MuxState::detached:
      return "detached";
    case MuxState::waiting:
      return "waiting";
    case MuxState::attached:
      return "attached";
    case MuxState::collecting:
      return "collecting";
    case MuxState::distributing:
      return "distributing";
  }
  return "?";
}

const char* name(Churn s) noexcept {
  switch (s) {
    case Churn::monitor:
      return "monitor";
    case Churn::none:
      return "none";
    case Churn::churn:
      return "churn";
  }
  return "?";
}

Aggregate::Aggregate(const Settings& settings, unsigned members, Transmit tx)
    : settings_(settings), tx_(std::move(tx)), members_(members) {
  for (unsigned m = 0; m < members; m++)
    begin(members_[m], m);
}

void Aggregate::begin(Member& p, unsigned m) {
  PortInfo& a = p.status.actor;
  a.system_priority = settings_.system_priority;
  a.system = settings_.system;
  a.key = settings_.key;
  a.port_priority = settings_.port_priority;
  a.port = static_cast<uint16_t>(m + 1);
  a.state = kAggregation;
  set_bit(a.state, kActivity, settings_.active);
  set_bit(a.state, kTimeout, settings_.fast);
  // INITIALIZE, then PORT_DISABLED until the link comes up.
  p.status.selected = Selected::unselected;
  record_default(p);
  p.status.rx = RxState::port_disabled;
  p.ntt = true;  // entering DETACHED
}

void Aggregate::record_default(Member& p) {
  p.status.partner = kPartnerAdmin;
  p.status.actor.state |= kDefaulted;
  p.status.actor.state &= ~kExpired;
}

void Aggregate::record_pdu(Member& p, const Lacpdu& pdu, uint64_t now) {
  MemberStatus& s = p.status;
  // update_Selected: another partner port (or LAG) than the one recorded.
  // A new partner also hears our state at once (not on our next periodic
  // LACPDU), so its wait time starts from what we are now.
  if (!same_port(pdu.actor, s.partner)) {
    s.selected = Selected::unselected;
    p.ntt = true;
  }
  // update_NTT: the partner's view of us is out of date.
  constexpr uint8_t kMask = kActivity | kTimeout | kSynchronization | kAggregation;
  const PortInfo& seen = pdu.partner;
  if (!same_port(seen, s.actor) || ((seen.state ^ s.actor.state) & kMask) != 0) p.ntt = true;

  s.partner = pdu.actor;
  s.actor.state &= ~(kDefaulted | kExpired);
  const bool matched = same_port(seen, s.actor);
  const bool individual = !(pdu.actor.state & kAggregation);
  const bool in_sync = (pdu.actor.state & kSynchronization) && (matched || individual) &&
                       ((s.actor.state | pdu.actor.state) & kActivity);
  set_bit(s.partner.state, kSynchronization, in_sync);
  s.rx = RxState::current;
  p.current_while = now + ((s.actor.state & kTimeout) ? kShortTimeoutMs : kLongTimeoutMs);
}

void Aggregate::expire(Member& p, uint64_t now) {
  MemberStatus& s = p.status;
  s.rx = RxState::expired;
  s.partner.state &= ~kSynchronization;
  s.partner.state |= kTimeout;
  s.actor.state |= kExpired;
  p.current_while = now + kShortTimeoutMs;
}

void Aggregate::on_frame(unsigned m, std::span<const uint8_t> frame, uint64_t now_ms) {
  Member& p = members_.at(m);
  MemberCounters& c = p.status.counters;
  Lacpdu pdu;
  Marker marker;
  switch (decode(frame, &pdu, &marker)) {
    case Pdu::truncated:
      c.truncated_rx++;
      return;
    case Pdu::malformed:
      c.malformed_rx++;
      return;
    case Pdu::unknown_subtype:
      c.unknown_rx++;
      return;
    case Pdu::marker:
      if (!settings_.lacp) {
        c.ignored_rx++;
        return;
      }
      if (marker.response) {
        c.marker_responses_rx++;
        return;
      }
      c.markers_rx++;
      if (p.status.link_up) {
        std::array<uint8_t, kFrameLen> out;
        marker.response = true;
        encode(marker, settings_.system, out);
        tx_(m, out);
        c.marker_responses_tx++;
      }
      return;
    case Pdu::lacpdu:
      if (!settings_.lacp) {
        c.ignored_rx++;
        return;
      }
      c.lacpdus_rx++;
      if (pdu.actor.system == settings_.system) {
        c.looped_rx++;  // our own, come back: never our partner
        return;
      }
      if (!p.status.link_up) return;  // PORT_DISABLED takes no LACPDU
      record_pdu(p, pdu, now_ms);
      run(now_ms);
      return;
  }
}

void Aggregate::set_link(unsigned m, bool up, uint64_t now_ms) {
  Member& p = members_.at(m);
  MemberStatus& s = p.status;
  if (s.link_up == up) return;
  s.link_up = up;
  if (!up) s.counters.link_failures++;
  if (!settings_.lacp) {
    s.counters.state_changes++;
    generation_++;
    return;
  }
  if (up) {
    expire(p, now_ms);  // PORT_DISABLED -> EXPIRED
    s.actor_churn = s.partner_churn = Churn::monitor;
    p.actor_churn_timer = p.partner_churn_timer = now_ms + kChurnDetectionMs;
    p.ntt = true;  // the partner hears at once that we are here
  } else {
    s.rx = RxState::port_disabled;
    s.partner.state &= ~kSynchronization;
    s.selected = Selected::unselected;
    p.current_while = 0;
  }
  run(now_ms);
}

void Aggregate::tick(uint64_t now_ms) {
  if (settings_.lacp) run(now_ms);
}

void Aggregate::run_rx_timers(Member& p, uint64_t now) {
  if (p.current_while == 0 || now < p.current_while) return;
  if (p.status.rx == RxState::current) {
    expire(p, now);
  } else if (p.status.rx == RxState::expired) {
    // DEFAULTED: update_Default_Selected, recordDefault.
    if (!(p.status.partner == kPartnerAdmin)) p.status.selected = Selected::unselected;
    record_default(p);
    p.status.rx = RxState::defaulted;
    p.current_while = 0;
  }
}

Aggregate::LagId Aggregate::lag_of(const Member& p) const noexcept {
  const PortInfo& partner = p.status.partner;
  LagId id{partner.system_priority, partner.system, partner.key, 0};
  if (!(partner.state & kAggregation)) id.port = partner.port;
  return id;
}

bool Aggregate::candidate(const Member& p) const noexcept {
  return p.status.link_up && p.status.rx == RxState::current &&
         p.status.selected == Selected::unselected && p.status.mux == MuxState::detached;
}

void Aggregate::select() {
  const bool empty = std::none_of(members_.begin(), members_.end(), [](const Member& p) {
    return p.status.selected == Selected::selected || p.status.mux != MuxState::detached;
  });
  if (empty) {
    agg_has_lag_ = false;
    agg_member_ = -1;
    size_t best = 0;
    for (size_t i = 0; i < members_.size(); i++) {
      if (!candidate(members_[i])) continue;
      const LagId id = lag_of(members_[i]);
      const auto n =
          static_cast<size_t>(std::count_if(members_.begin(), members_.end(), [&](const Member& q) {
            return candidate(q) && lag_of(q) == id;
          }));
      if (n > best) {
        best = n;
        agg_lag_ = id;
        agg_has_lag_ = true;
        agg_member_ = static_cast<int>(i);
      }
    }
  }
  if (!agg_has_lag_) return;
  for (Member& p : members_) {
    if (candidate(p) && lag_of(p) == agg_lag_) p.status.selected = Selected::selected;
  }
}

bool Aggregate::run_mux(Member& p, uint64_t now) {
  MemberStatus& s = p.status;
  PortInfo& a = s.actor;
  const bool selected = s.selected == Selected::selected;
  const bool partner_sync = s.partner.state & kSynchronization;
  const bool partner_collecting = s.partner.state & kCollecting;
  const MuxState before = s.mux;
  switch (s.mux) {
    case MuxState::detached:
      if (selected) {
        s.mux = MuxState::waiting;
        p.wait_while = now + kAggregateWaitMs;
        p.ready_n = false;
      }
      break;
    case MuxState::waiting: {
      if (!selected) {
        s.mux = MuxState::detached;
        a.state &= ~(kSynchronization | kCollecting | kDistributing);
        p.ntt = true;
        break;
      }
      if (now >= p.wait_while) p.ready_n = true;
      // Ready: every member waiting for the aggregator has waited its time.
      const bool ready = std::all_of(members_.begin(), members_.end(), [](const Member& q) {
        return q.status.mux != MuxState::waiting || q.status.selected != Selected::selected ||
               q.ready_n;
      });
      if (ready) {
        s.mux = MuxState::attached;
        a.state |= kSynchronization;
        p.ntt = true;
      }
      break;
    }
    case MuxState::attached:
      if (!selected) {
        s.mux = MuxState::detached;
        a.state &= ~(kSynchronization | kCollecting | kDistributing);
        p.ntt = true;
      } else if (partner_sync) {
        s.mux = MuxState::collecting;
        a.state |= kCollecting;
        p.ntt = true;
        generation_++;
      }
      break;
    case MuxState::collecting:
      if (!selected || !partner_sync) {
        s.mux = MuxState::attached;
        a.state &= ~kCollecting;
        p.ntt = true;
        generation_++;
      } else if (partner_collecting) {
        s.mux = MuxState::distributing;
        a.state |= kDistributing;
        p.ntt = true;
        generation_++;
      }
      break;
    case MuxState::distributing:
      if (!selected || !partner_sync || !partner_collecting) {
        s.mux = MuxState::collecting;
        a.state &= ~kDistributing;
        p.ntt = true;
        generation_++;
      }
      break;
  }
  if (s.mux == before) return false;
  s.counters.state_changes++;
  return true;
}

void Aggregate::run_periodic(Member& p, uint64_t now) {
  const bool partner_active = p.status.partner.state & kActivity;
  if (!p.status.link_up || (!settings_.active && !partner_active)) {
    p.periodic = 0;  // NO_PERIODIC
    return;
  }
  // Fast while the member does not distribute yet, whatever the partner
  // asked: a partner that missed our last LACPDU (DPDK's bonding driver
  // takes one per 100 ms round and loses those of its first rounds) hears
  // us again within a second, not after 30 s, so it does not hold the
  // aggregate back by its own wait time once more.
  const bool fast = (p.status.partner.state & kTimeout) || p.status.mux != MuxState::distributing;
  if (p.periodic == 0 || fast != p.periodic_fast) {
    // Into FAST or SLOW_PERIODIC; a partner that now wants short timeouts
    // hears from us at once (SLOW_PERIODIC -> PERIODIC_TX).
    if (p.periodic != 0 && fast) p.ntt = true;
    p.periodic_fast = fast;
    p.periodic = now + (fast ? kFastPeriodicMs : kSlowPeriodicMs);
    return;
  }
  if (now >= p.periodic) {
    p.ntt = true;
    p.periodic = now + (fast ? kFastPeriodicMs : kSlowPeriodicMs);
  }
}

void Aggregate::run_churn(Member& p, uint64_t now) {
  MemberStatus& s = p.status;
  if (!s.link_up) return;  // monitoring starts again when the link comes up
  const auto step = [now](Churn& state, uint64_t& timer, bool in_sync, uint64_t& count) {
    switch (state) {
      case Churn::monitor:
        if (in_sync) {
          state = Churn::none;
        } else if (now >= timer) {
          state = Churn::churn;
          count++;
        }
        break;
      case Churn::none:
        if (!in_sync) {
          state = Churn::monitor;
          timer = now + kChurnDetectionMs;
        }
        break;
      case Churn::churn:
        if (in_sync) state = Churn::none;
        break;
    }
  };
  step(s.actor_churn, p.actor_churn_timer, s.actor.state & kSynchronization,
       s.counters.actor_churns);
  step(s.partner_churn, p.partner_churn_timer, s.partner.state & kSynchronization,
       s.counters.partner_churns);
}

void Aggregate::run(uint64_t now) {
  for (Member& p : members_)
    run_rx_timers(p, now);
  // Selection and mux until nothing moves: a member that loses its partner
  // falls from DISTRIBUTING to DETACHED in one call, and the aggregator
  // re-selects at once.
  for (bool moved = true; moved;) {
    select();
    moved = false;
    for (Member& p : members_)
      moved |= run_mux(p, now);
  }
  for (unsigned m = 0; m < members_.size(); m++) {
    Member& p = members_[m];
    run_periodic(p, now);
    run_churn(p, now);
    transmit(m, now);
  }
}

void Aggregate::transmit(unsigned m, uint64_t now) {
  Member& p = members_[m];
  if (!p.ntt) return;
  if (p.periodic == 0) {
    p.ntt = false;  // NO_PERIODIC: nothing is sent
    return;
  }
  // At most kMaxTxPerPeriod in any kFastPeriodicMs; NTT waits otherwise.
  if (p.tx_times[0] != 0 && now + 1 < p.tx_times[0] + kFastPeriodicMs) return;
  std::rotate(p.tx_times.begin(), p.tx_times.begin() + 1, p.tx_times.end());
  p.tx_times.back() = now + 1;
  p.ntt = false;
  Lacpdu pdu;
  pdu.actor = p.status.actor;
  pdu.partner = p.status.partner;
  std::array<uint8_t, kFrameLen> out;
  encode(pdu, settings_.system, out);
  tx_(m, out);
  p.status.counters.lacpdus_tx++;
}

std::vector<unsigned> Aggregate::distributing() const {
  std::vector<unsigned> out;
  for (unsigned m = 0; m < members_.size(); m++) {
    const MemberStatus& s = members_[m].status;
    if (settings_.lacp ? s.mux == MuxState::distributing : s.link_up) out.push_back(m);
  }
  return out;
}

std::vector<unsigned> Aggregate::collecting() const {
  std::vector<unsigned> out;
  for (unsigned m = 0; m < members_.size(); m++) {
    const MemberStatus& s = members_[m].status;
    const bool in = settings_.lacp
                        ? s.mux == MuxState::collecting || s.mux == MuxState::distributing
                        : s.link_up;
    if (in) out.push_back(m);
  }
  return out;
}

bool Aggregate::partner(PortInfo* out) const {
  if (!agg_has_lag_) return false;
  out->system_priority = agg_lag_.system_priority;
  out->system = agg_lag_.system;
  out->key = agg_lag_.key;
  out->port = agg_lag_.port;
  return true;
}

}  // namespace sluice::lacp
