// ARP (RFC 826) and neighbour resolution on the control thread.
//
// Workers read the neighbour slots (dataplane/neighbour.h); this is the one
// writer. For each neighbour in use it runs a small state machine on an
// injected millisecond clock:
//
//   incomplete --reply--> reachable --reachable-ms--> probe --reply--> reachable
//       |  broadcast request every retry-ms      unicast request every retry-ms,
//       |                                        MAC still used
//       +--retries unanswered--> failed <--retries unanswered--+
//
// failed: workers drop packets for it (neighbour-failed) without punting;
// after retries * retry-ms a gateway starts again at incomplete, an entry
// made on demand is forgotten (the next packet starts it again). Gateways of
// static routes are resolved from start-up and kept resolved; static entries
// never change. While an entry is incomplete, up to arp.queue packets wait
// for it and are sent when it resolves (counted resolve-sent or -dropped),
// and no more than arp.held wait in all: held packets are packet buffers,
// and a flood to many unanswered addresses must not empty the pool the
// workers receive into (then the ports stop receiving for everyone, and
// control cannot send its own LACPDUs and ARP requests).
//
// Requests for our addresses are answered (rate-limited) on the port they
// came in on; a request or reply from a host of the subnet refreshes its
// entry; gratuitous ARP only updates entries we already have.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <deque>
#include <unordered_map>

#include "control_counters.h"
#include "interface.h"
#include "token_bucket.h"

namespace sluice {

// How control puts frames on the wire (its own TX queue); tests capture.
class ControlTx {
 public:
  virtual ~ControlTx() = default;
  virtual rte_mbuf* alloc() noexcept = 0;
  // Sends on the given member port; takes ownership of m in every case
  // (kNoMember: none carries traffic, m is counted and freed).
  virtual void send(uint16_t port, rte_mbuf* m) noexcept = 0;
};

struct ArpTimers {
  uint64_t reachable_ms = 30000;
  uint64_t retry_ms = 1000;
  unsigned retries = 3;
  unsigned queue = 3;
  unsigned held = 1024;  // packets held in all, over every address
};

class Arp {
 public:
  enum class State : uint8_t { incomplete, reachable, probe, failed, permanent };

  Arp(Interfaces& ifaces, const ArpTimers& timers, ControlTx& tx, ControlCounters& counters,
      TokenBucket reply_limit) noexcept
      : ifaces_(ifaces), timers_(timers), tx_(tx), c_(counters), reply_limit_(reply_limit) {}
  ~Arp();

  void add_static(uint8_t iface, uint32_t ip, const rte_ether_addr& mac);
  void add_gateway(uint8_t iface, uint32_t ip, uint64_t now_ms);
  // Gratuitous ARP for our address on every interface.
  void announce() noexcept;

  // An ARP frame punted by a worker (L2 header still on). Consumes m.
  void on_frame(uint8_t iface, uint16_t rx_port, rte_mbuf* m, uint64_t now_ms, uint64_t now_tsc);
  // An IPv4 packet (L2 stripped) whose next hop is not resolved. Consumes m.
  void on_unresolved(rte_mbuf* m, uint64_t now_ms);
  // Retries, expiry, probes. Call every few milliseconds.
  void tick(uint64_t now_ms);

  // For tests and the CLI.
  bool state(uint8_t iface, uint32_t ip, State* out) const;
  size_t entries() const noexcept { return table_.size(); }
  size_t held() const noexcept { return held_; }

 private:
  struct Entry {
    State state = State::incomplete;
    bool gateway = false;
    unsigned tries = 0;
    uint64_t deadline_ms = 0;  // next action
    rte_ether_addr mac{};
    std::deque<rte_mbuf*> held;
  };

  static uint32_t key(uint8_t iface, uint32_t host) noexcept {
    return (uint32_t{iface} << 16) | host;
  }
  uint32_t ip_of(uint32_t k) const noexcept { return ifaces_[k >> 16].network + (k & 0xffff); }
  void request(uint8_t iface, uint32_t target, const rte_ether_addr* unicast) noexcept;
  void learn(uint8_t iface, uint32_t ip, const rte_ether_addr& mac, bool create, uint64_t now_ms);
  void flush_held(uint8_t iface, Entry& e) noexcept;
  void drop_held(Entry& e) noexcept;
  void fail(uint32_t k, Entry& e, uint64_t now_ms) noexcept;
  bool tick_one(uint32_t k, Entry& e, uint64_t now_ms) noexcept;

  Interfaces& ifaces_;
  ArpTimers timers_;
  ControlTx& tx_;
  ControlCounters& c_;
  TokenBucket reply_limit_;
  std::unordered_map<uint32_t, Entry> table_;
  size_t held_ = 0;  // packets in every entry's queue
};

}  // namespace sluice
