// NAT events, produced by a worker: a fixed-size record per session created
// or deleted, flow record due (active timeout), port block allocated or
// released, and new session refused (quota, pool, table), put on the
// worker's own single-producer ring for the exporter thread (control/
// exporter.h) to format and send. The worker only copies 64 bytes into the
// ring: no formatting, no I/O, no waiting. A full ring loses the event and
// counts it (ring_full); nothing blocks.
//
// Accountability mode: NatTable asks room() before it creates a session and
// refuses the session (nat-unaccountable) when its events could not all be
// queued. One producer, so the room seen cannot shrink before it is used.
//
// Refusals are rate-limited: a client hammering its quota (or an exhausted
// pool) is refused a session per packet, and each refusal is an event. A
// token bucket on the worker clock lets `refusals_per_s` a second through
// (a second's worth in a burst); the rest are counted, not queued, so a
// flood of refused packets floods neither the ring nor the log. The drop
// counters (nat-client-limit, nat-pool-exhausted, ...) still count every
// refused packet.
//
// Times are the worker's millisecond clock (the same as NatTable's now_ms);
// the exporter adds the offset to wall-clock time.
//
// Counters (one writer, the worker): events queued, events lost to a full
// ring, refusal events suppressed by the rate limit.
#pragma once

#include <rte_ring.h>

#include <cstdint>

#include "counters.h"
#include "token_bucket.h"

namespace sluice {

struct Session;

// The event's kind; where RFC 8158 defines one, its natEvent value.
enum class NatEventType : uint8_t {
  addresses_exhausted = 3,
  session_create = 4,
  session_delete = 5,
  ports_exhausted = 12,
  quota_exceeded = 13,
  block_allocate = 16,
  block_release = 17,
  flow_update = 128,  // an active-timeout flow record only: no NAT event
};

// IPFIX flowEndReason (RFC 7012, element 136).
enum class FlowEnd : uint8_t {
  none = 0,
  idle_timeout = 1,
  active_timeout = 2,
  end_of_flow = 3,  // TCP FIN or RST seen
  forced_end = 4,   // sluice stopped
};

// RFC 8158 natQuotaExceededEvent (element 466).
enum class QuotaLimit : uint8_t {
  none = 0,
  sessions = 1,  // maximum session entries
  per_user = 3,  // maximum entries per user (the client's port blocks)
  hosts = 4,     // maximum active hosts (clients)
};

// 64 bytes, one cache line; what every kind carries is at the front.
struct alignas(64) NatEvent {
  uint64_t time_ms;  // the worker clock
  uint32_t inside_ip;
  uint32_t public_ip;  // 0 when none (a refusal before any address)
  uint32_t remote_ip;
  uint16_t inside_port;  // an ICMP query's identifier
  uint16_t public_port;  // a block: its first port
  uint16_t remote_port;  // a block: its last port
  NatEventType type;
  uint8_t proto;
  uint8_t tcp_flags;  // flows: every flag seen since the session started
  FlowEnd end;        // flows
  QuotaLimit quota;   // quota_exceeded
  uint8_t pad0;
  // Flows (session_delete, flow_update): since the previous flow record of
  // the session. Ages are time_ms minus the session's first and last packet.
  uint32_t start_age_ms;
  uint32_t last_age_ms;
  uint32_t packets_out;  // inside to outside
  uint32_t packets_in;
  uint32_t bytes_out;  // IP bytes
  uint32_t bytes_in;
  uint32_t policed;  // packets the client's policer dropped
  uint32_t pad1;
};
static_assert(sizeof(NatEvent) == 64);

struct alignas(64) NatEventCounters {
  Counter queued;
  Counter ring_full;
  Counter refusals_suppressed;
};

class NatEvents {
 public:
  static constexpr uint32_t kRefusalsPerSecond = 100;

  // ring: single producer (this worker), single consumer (the exporter),
  // elements of sizeof(NatEvent). accountable: NatTable refuses a session
  // whose events have no room. refusals_per_s: refusal events let through.
  NatEvents(rte_ring* ring, bool accountable, uint32_t refusals_per_s = kRefusalsPerSecond) noexcept
      : ring_(ring),
        accountable_(accountable),
        refusals_(refusals_per_s, refusals_per_s, kMicrosPerSecond) {}

  bool accountable() const noexcept { return accountable_; }
  bool room(unsigned events) const noexcept { return rte_ring_free_count(ring_) >= events; }

  void session(NatEventType type, const Session& s, uint64_t now_ms, FlowEnd end) noexcept;
  void block(NatEventType type, uint32_t inside_ip, uint32_t public_ip, uint16_t first_port,
             uint16_t last_port, uint64_t now_ms) noexcept;
  // A new session refused: which limit; public_ip is the client's address
  // when it has one (ports exhausted), else 0 (addresses exhausted). Within
  // the rate limit, else counted (refusals_suppressed).
  void refused(NatEventType type, QuotaLimit quota, uint8_t proto, uint32_t inside_ip,
               uint32_t public_ip, uint64_t now_ms) noexcept;

  // After the workers have stopped, the control thread produces the final
  // events (sessions and blocks still held at shutdown); a full ring then
  // waits for the exporter instead of losing them.
  void wait_when_full() noexcept { wait_ = true; }

  const NatEventCounters& counters() const noexcept { return counters_; }

 private:
  void put(const NatEvent& e) noexcept;

  // The bucket runs on microseconds, so any rate up to a million divides.
  static constexpr uint64_t kMicrosPerSecond = 1'000'000;

  rte_ring* ring_;
  bool accountable_;
  bool wait_ = false;
  TokenBucket refusals_;
  NatEventCounters counters_;
};

}  // namespace sluice
