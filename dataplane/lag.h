// Stage: pick the member link of an aggregate for a frame (link aggregation
// distribution, 802.1AX 6.2).
//
// A Lag holds the distribution set of one interface: the member ports that
// carry traffic now, as an immutable snapshot behind an atomic pointer.
// Workers read it without a lock (acquire load, then plain reads); control
// builds a new snapshot when a member starts or stops distributing,
// publishes it (release store), and frees the old one only after every
// worker has passed a quiescent state (DPDK rte_rcu_qsbr: each worker
// reports one per poll round), so a worker never reads freed memory and
// never waits.
//
// The transmit hash chooses the member from the frame (L2 header on, IPv4
// after it), so all frames of a flow take one member and never reorder while
// the set is unchanged:
//   layer2     source and destination MAC
//   layer2+3   MACs, source and destination IPv4 address (default)
//   layer3+4   IPv4 addresses and, for TCP and UDP outside fragments, ports
// The hash (CRC32) is scaled onto the members by multiply-shift, no division.
// With no member distributing, pick() returns kNoMember and the caller drops
// the frame (no-member).
//
// The set also names the members that are collecting (802.1AX: a member
// collects from the moment its partner is in sync, before it distributes;
// in static mode, whenever it distributes): collects() tells parse to drop
// what arrives on any other member (not-collecting), LACPDUs and markers
// excepted.
#pragma once

#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace sluice {

enum class XmitHash : uint8_t { layer2, layer2_3, layer3_4 };

inline constexpr size_t kMaxMembers = 8;
inline constexpr uint16_t kNoMember = UINT16_MAX;

// One distribution set; never changed once published.
struct LagSet {
  uint8_t count = 0;
  std::array<uint16_t, kMaxMembers> ports{};  // DPDK port ids of the distributing members
  uint8_t collecting_count = 0;
  std::array<uint16_t, kMaxMembers> collecting{};  // ... and of the collecting ones
};

// The hash of a frame under a policy (exposed for tests).
uint32_t xmit_hash(XmitHash policy, const rte_mbuf* m, uint16_t l2_len) noexcept;

class Lag {
 public:
  Lag();
  ~Lag();
  Lag(Lag&&) noexcept;
  Lag& operator=(Lag&&) noexcept;

  // Control, before the workers start.
  void set_hash(XmitHash h) noexcept { hash_ = h; }
  void use_rcu(rte_rcu_qsbr* rcu) noexcept { state_->rcu = rcu; }

  // Worker: the port to send m on (L2 header of l2_len bytes at its start).
  uint16_t pick(const rte_mbuf* m, uint16_t l2_len) const noexcept {
    const LagSet* s = state_->current.load(std::memory_order_acquire);
    if (s->count <= 1) return s->count == 0 ? kNoMember : s->ports[0];
    const uint32_t h = xmit_hash(hash_, m, l2_len);
    return s->ports[(uint64_t{h} * s->count) >> 32];
  }

  // Worker: whether frames arriving on port are taken (it is collecting).
  bool collects(uint16_t port) const noexcept {
    const LagSet* s = state_->current.load(std::memory_order_acquire);
    for (uint8_t i = 0; i < s->collecting_count; i++)
      if (s->collecting[i] == port) return true;
    return false;
  }

  // Control: replaces the set. Without an RCU variable (before workers run)
  // the old set is freed at once; with one, after a grace period (reclaim()).
  void publish(const std::vector<uint16_t>& distributing, const std::vector<uint16_t>& collecting);
  // The same ports distributing and collecting (static mode, tests).
  void publish(const std::vector<uint16_t>& ports) { publish(ports, ports); }
  // Frees the retired sets no worker can still see; returns how many wait.
  size_t reclaim();
  // The set now (control and telemetry).
  LagSet current() const noexcept { return *state_->current.load(std::memory_order_acquire); }
  XmitHash hash() const noexcept { return hash_; }

 private:
  struct Retired {
    const LagSet* set;
    uint64_t token;
  };
  struct State {
    std::atomic<const LagSet*> current;
    rte_rcu_qsbr* rcu = nullptr;
    std::vector<Retired> retired;
  };

  XmitHash hash_ = XmitHash::layer2_3;
  std::unique_ptr<State> state_;
};

}  // namespace sluice
