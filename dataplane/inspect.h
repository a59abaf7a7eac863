// Inspection: listings of state that only a worker writes (NAT sessions,
// clients, pool use), read without the reader ever touching that state and
// without the worker ever waiting for the reader.
//
// Each worker has one Mailbox: a request slot and a reply buffer, and a state
// word that says whose turn it is:
//
//   idle --reader: request written, publish--> requested
//   requested --worker: claims it (CAS)--> serving --worker: reply written--> done
//   done --reader: reply copied--> idle
//   requested --reader gives up (CAS)--> idle      (the worker never claimed it)
//
// The worker checks the state once per round of its loop with one relaxed
// load of a cache line nobody writes between requests; only when a request
// is pending does it claim it and run one bounded step (Pipeline::inspect:
// at most kInspectScan records looked at, at most kInspectRows rows
// returned). So the worker never waits or locks, and records are copied by
// their only writer between bursts: never torn, never half reused. The
// reader waits for the reply by sleeping (it is a control thread), and walks
// a whole table as a series of steps with a cursor, paced (kInspectPace) so
// that a listing takes a small share of a worker however large the table.
//
// A listing is therefore not a snapshot: a record made or freed while the
// walk goes on may be missed; one never appears twice and never as garbage.
//
// One reader at a time per mailbox: readers serialise among themselves
// (control/telemetry.cc holds a mutex); the worker side takes no lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace sluice {

class Pipeline;

inline constexpr unsigned kInspectRows = 64;    // rows in one reply
inline constexpr unsigned kInspectScan = 4096;  // records one step looks at, at most
inline constexpr auto kInspectPace = std::chrono::microseconds(500);  // between a reader's steps

enum class InspectWhat : uint8_t { sessions, clients, pool };

// What a session or client listing keeps; a field takes part only when its
// bit is set in `match`.
struct InspectFilter {
  enum : uint8_t {
    inside_ip = 1,
    inside_port = 2,
    public_ip = 4,
    public_port = 8,
    remote_ip = 16,
    remote_port = 32,
    proto = 64
  };
  uint8_t match = 0;
  uint8_t proto_value = 0;
  uint16_t inside_port_value = 0;
  uint16_t public_port_value = 0;
  uint16_t remote_port_value = 0;
  uint32_t inside_ip_value = 0;
  uint32_t public_ip_value = 0;
  uint32_t remote_ip_value = 0;
};

struct InspectRequest {
  InspectWhat what = InspectWhat::sessions;
  InspectFilter filter;
  uint32_t cursor = 0;               // where the previous step stopped; 0 to begin
  uint32_t max_rows = kInspectRows;  // at most kInspectRows
};

// Addresses host order.
struct SessionRow {
  uint32_t inside_ip, public_ip, remote_ip;
  uint16_t inside_port, public_port, remote_port;
  uint8_t proto;
  uint8_t tcp_state;  // TcpState, for TCP
  uint32_t idle_ms;
};

struct ClientRow {
  uint32_t ip;
  uint32_t public_ip;  // 0 before its first block
  uint32_t sessions;
  uint32_t blocks;
};

struct AddressRow {
  uint32_t ip;
  uint32_t blocks;       // in this worker's share
  uint32_t blocks_used;  // allocated to clients, held-down ones included
  uint32_t ports_used;
};

struct InspectReply {
  bool supported = false;  // false: this pipeline has nothing to list
  bool done = false;       // the walk reached the end
  uint32_t cursor = 0;     // where the next step starts
  uint32_t scanned = 0;    // records looked at in this step
  uint32_t rows = 0;
  union {
    SessionRow sessions[kInspectRows];
    ClientRow clients[kInspectRows];
    AddressRow addresses[kInspectRows];
  };
  InspectReply() noexcept : sessions{} {}
};

class alignas(64) Mailbox {
 public:
  // Worker side, once per round: nothing unless a request is pending.
  void serve(Pipeline& pipeline, uint64_t now) noexcept {
    if (state_.load(std::memory_order_relaxed) != kRequested) return;
    serve_pending(pipeline, now);
  }

  // Reader side: one step. False when the worker did not take the request
  // within `timeout` (it is stopped); the request is then withdrawn.
  bool ask(const InspectRequest& request, InspectReply* reply,
           std::chrono::milliseconds timeout) noexcept;

 private:
  enum : uint32_t { kIdle, kRequested, kServing, kDone };
  void serve_pending(Pipeline& pipeline, uint64_t now) noexcept;

  std::atomic<uint32_t> state_{kIdle};
  InspectRequest request_;
  InspectReply reply_;
};

}  // namespace sluice
