// One worker's NAT state: its clients, their port blocks, mappings and
// sessions. Only the owning worker touches it (ARCHITECTURE.md: a client
// belongs to worker hash(inside IP) mod W, and so do its blocks, mappings,
// sessions and counters), so nothing here locks.
//
//   client   an inside address; holds up to max_blocks port blocks, all on
//            one public address while that address has room (paired pooling)
//   mapping  endpoint-independent (RFC 4787 REQ-1): inside address:port and
//            protocol <-> public address:port, the same for every remote;
//            lives while it has sessions; its port comes from a block of its
//            client, chosen unpredictably within the block
//   session  one mapping talking to one remote address:port: the unit of
//            filtering, TCP state, timeouts and (later) flow accounting
//
// Lookups go through our own bucketized indexes (record_index.h), each
// key confirmed against the record it names (DPDK's rte_hash did this
// before: it keeps a copy of every key, a third cache line per lookup):
//   sessions: two keys per session, inside view (inside ip:port, remote) and
//             outside view (public ip:port, remote), so each direction's
//             established path is one bulk lookup per burst and two cache
//             lines per packet;
//   mappings: two keys per mapping, inside and public endpoint;
//   clients:  inside address -> client;
//   filters:  (mapping, remote address) -> its sessions with that address,
//             for address-dependent filtering (RFC 4787 REQ-8), only when
//             that mode is on.
// Records live in flat arrays with free lists, allocated at construction.
//
// Expiry: every session sits on a timer wheel at its due time; touching a
// session only updates last_ms, and the wheel re-checks when the slot comes
// due (lazy), so the fast path never moves timers. expire() does bounded work
// per call; create() runs an unbounded catch-up before it refuses anything,
// so expired sessions are reclaimed before a client is turned away.
//
// Events: with attach_events(), session create and delete (with its last
// flow record), flow records of active sessions, port block allocate and
// release and refused sessions go to the worker's event ring
// (nat_events.h); a session's create event is queued when it is created.
//
// Memory per session is about 200 bytes at full capacity (bench/run
// nat-micro measures it): the 64-byte record, its two index slots, a mapping
// and its two, a filter and its one, and the timer links.
#pragma once

#include <rte_prefetch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "counters.h"
#include "nat_events.h"
#include "nat_gauges.h"
#include "nat_tcp.h"
#include "policer.h"
#include "port_blocks.h"
#include "record_index.h"
#include "session.h"
#include "timer_wheel.h"

namespace sluice {

inline constexpr unsigned kMaxBlocksPerClient = 64;

struct NatParams {
  PoolConfig pool;
  uint32_t sessions = 1 << 16;  // this worker's capacity
  uint32_t clients = 1 << 12;
  uint32_t max_blocks = 8;
  uint32_t max_sessions = 4096;  // per client (RFC 6888 REQ-4)
  bool endpoint_independent_filtering = false;
  uint32_t udp_timeout_ms = 300'000;
  uint32_t tcp_established_timeout_ms = 7'440'000;
  uint32_t tcp_transitory_timeout_ms = 240'000;
  uint32_t icmp_timeout_ms = 60'000;
  uint64_t seed = 1;  // port choice within a block
  // Per-client policing (policer.h); nullptr: none. Outlives the table.
  const PolicerProfiles* policing = nullptr;
};

struct Mapping {
  uint32_t inside_ip;
  uint32_t public_ip;
  uint16_t inside_port;
  uint16_t public_port;
  uint8_t proto;
  uint32_t client;
  uint32_t block;
  uint32_t sessions;
};

// A mapping's key: one of its endpoints, inside or public.
struct MappingKey {
  uint32_t ip;
  uint16_t port;
  uint8_t proto;
  uint8_t outside;
};
static_assert(sizeof(MappingKey) == 8);

inline bool has_key(const Mapping& m, const MappingKey& k) noexcept {
  return (k.outside ? m.public_ip : m.inside_ip) == k.ip &&
         (k.outside ? m.public_port : m.inside_port) == k.port && m.proto == k.proto;
}

struct Client {
  uint32_t ip;  // written with a relaxed atomic store: telemetry reads it
  uint16_t profile;
  uint32_t address;  // index of its public address in the pool (kNoAddress before its first block)
  uint32_t sessions;
  uint32_t blocks;  // used entries of block[]
  uint32_t block[kMaxBlocksPerClient];
};

// Address-dependent filtering (RFC 4787 REQ-8): a mapping may hear from a
// remote address while it has sessions with it.
struct Filter {
  uint32_t mapping;
  uint32_t remote_ip;
  uint32_t sessions;
};

struct FilterKey {
  uint32_t mapping;
  uint32_t remote_ip;
};

inline bool has_key(const Filter& f, const FilterKey& k) noexcept {
  return f.mapping == k.mapping && f.remote_ip == k.remote_ip;
}

struct ClientKey {
  uint32_t ip;
};

inline bool has_key(const Client& c, const ClientKey& k) noexcept {
  return c.ip == k.ip;
}

using SessionIndex = RecordIndex<SessionKey, Session>;
using MappingIndex = RecordIndex<MappingKey, Mapping>;
using ClientIndex = RecordIndex<ClientKey, Client>;
using FilterIndex = RecordIndex<FilterKey, Filter>;

// Single writer (the worker); read by telemetry.
struct alignas(64) NatCounters {
  Counter sessions_created;
  Counter sessions_deleted;
  Counter mappings_created;
  Counter mappings_deleted;
  Counter clients_created;
  Counter clients_deleted;
  Counter blocks_allocated;
  Counter blocks_released;
  Counter expiry_visits;  // wheel entries examined (fired)
  Counter hairpins;       // packets from one client to another's public endpoint
};

class NatTable;

// Several tables' counters summed, read from any thread (telemetry, exit).
struct NatTotals {
  uint64_t sessions = 0;  // in use now
  uint64_t sessions_created = 0;
  uint64_t sessions_deleted = 0;
  uint64_t mappings = 0;
  uint64_t clients = 0;
  uint64_t blocks = 0;  // held by clients now
  uint64_t blocks_allocated = 0;
  uint64_t blocks_released = 0;
  uint64_t hairpins = 0;
  uint64_t capacity = 0;
  NatTotals& operator+=(const NatTable& t) noexcept;
};

class NatTable {
 public:
  // worker/workers: this worker's share of the port blocks. Check ok().
  NatTable(const NatParams& params, unsigned worker, unsigned workers, uint64_t now_ms);
  ~NatTable();
  NatTable(const NatTable&) = delete;
  NatTable& operator=(const NatTable&) = delete;
  bool ok() const noexcept { return error_.empty(); }
  const std::string& error() const noexcept { return error_; }

  // Bulk session lookup: out[i] is the session index or kNoIndex; the
  // sessions found are in cache afterwards.
  void lookup(const SessionKey* keys, uint32_t n, uint32_t* out) const noexcept;
  uint32_t lookup(const SessionKey& key) const noexcept {
    return session_index_.lookup(key, sessions_.data());
  }

  // A new session from the inside endpoint to the remote one (reusing the
  // endpoint's mapping, or making one). kNoIndex and *why when refused.
  uint32_t create_outbound(uint8_t proto, uint32_t inside_ip, uint16_t inside_port,
                           uint32_t remote_ip, uint16_t remote_port, uint64_t now_ms,
                           Drop* why) noexcept;
  // A packet from a remote endpoint to a public endpoint that has no session
  // with it: a new session if a mapping exists, filtering lets the remote in
  // and may_open (a TCP segment that is not a SYN may not), else kNoIndex and
  // *why (nat-no-mapping, nat-filtered, nat-tcp-not-syn, nat-table-full).
  uint32_t create_inbound(uint8_t proto, uint32_t public_ip, uint16_t public_port,
                          uint32_t remote_ip, uint16_t remote_port, bool may_open, uint64_t now_ms,
                          Drop* why) noexcept;

  Session& session(uint32_t index) noexcept { return sessions_[index]; }
  // A client's policers (policer.h), one cache line per direction.
  ClientMeters& meters(uint32_t client) noexcept { return meters_[client]; }
  void prefetch_meter(uint32_t client, Direction d) const noexcept {
    rte_prefetch0(&meters_[client].dir[static_cast<unsigned>(d)]);
  }
  // For readers on other threads (telemetry): the address of client slot
  // i, 0 when free; its meters' counters read zero when free.
  uint32_t client_ip(uint32_t i) const noexcept;
  const ClientMeters& meters(uint32_t client) const noexcept { return meters_[client]; }
  uint32_t client_slots() const noexcept { return static_cast<uint32_t>(clients_.size()); }
  const Session& session(uint32_t index) const noexcept { return sessions_[index]; }
  // A TCP segment seen on the session: new state, and the timer moved when
  // the state's timeout is shorter than the one it is scheduled for.
  void tcp_segment(uint32_t index, bool from_inside, uint8_t flags, uint64_t now_ms) noexcept;
  uint64_t timeout_ms(const Session& s) const noexcept;

  // Events of this table go to `events` (null: none); a flow record of a
  // session is due every active_timeout_ms (0: only at its end).
  void attach_events(NatEvents* events, uint32_t active_timeout_ms) noexcept;
  // One packet of `bytes` IP bytes on session `index`, outward (in2out) or
  // not: counted in the session's own record, a flow record queued when due.
  void account(uint32_t index, bool outward, uint32_t bytes, uint8_t tcp_flags,
               uint64_t now_ms) noexcept {
    Session& s = sessions_[index];
    if (outward) {
      s.packets_out++;
      s.bytes_out += bytes;
    } else {
      s.packets_in++;
      s.bytes_in += bytes;
    }
    s.tcp_flags |= tcp_flags;
    if (static_cast<uint32_t>(now_ms) - s.exported_ms >= active_timeout_ms_ ||
        ((s.bytes_out | s.bytes_in) >> 31) != 0) {
      flow_record(index, now_ms);
    }
  }
  // After the workers stop: the delete event of every session and the
  // release of every block still held (flowEndReason forced end), so the
  // log closes every mapping it opened. The table itself is left as it is.
  void end_all(uint64_t now_ms) noexcept;

  // Expires due sessions and releases port blocks past their hold-down, at
  // most `budget` of each.
  void expire(uint64_t now_ms, unsigned budget) noexcept;

  NatCounters& counters() noexcept { return counters_; }
  const NatCounters& counters() const noexcept { return counters_; }
  const PortBlocks& blocks() const noexcept { return blocks_; }
  uint32_t sessions_in_use() const noexcept { return sessions_used_; }
  uint32_t session_capacity() const noexcept { return params_.sessions; }
  uint32_t mappings_in_use() const noexcept { return mappings_used_; }
  uint32_t clients_in_use() const noexcept { return clients_used_; }
  const NatParams& params() const noexcept { return params_; }
  // For live stats and listings (nat_inspect.h), read by the owning worker
  // only, except the gauges. A free session has proto 0, a free client no
  // block; no record at or above the high-water mark was ever used.
  const NatGauges& gauges() const noexcept { return gauges_; }
  const Client& client(uint32_t index) const noexcept { return clients_[index]; }
  uint32_t sessions_high_water() const noexcept { return sessions_high_; }
  uint32_t clients_high_water() const noexcept { return clients_high_; }

 private:
  uint32_t find_or_add_client(uint32_t ip, Drop* why) noexcept;
  uint32_t find_or_add_mapping(uint8_t proto, uint32_t client, uint32_t inside_ip,
                               uint16_t inside_port, uint64_t now_ms, Drop* why) noexcept;
  uint32_t add_session(uint32_t mapping, uint32_t remote_ip, uint16_t remote_port,
                       uint64_t now_ms) noexcept;
  void delete_session(uint32_t index, uint64_t now_ms) noexcept;
  void delete_mapping(uint32_t index, uint64_t now_ms) noexcept;
  void release_block(uint32_t block, uint32_t client, uint64_t now_ms) noexcept;
  void block_event(NatEventType type, uint32_t block, uint32_t inside_ip, uint64_t now_ms) noexcept;
  void refused_event(Drop why, uint8_t proto, uint32_t inside_ip, uint64_t now_ms) noexcept;
  void flow_record(uint32_t index, uint64_t now_ms) noexcept;
  bool accountable() const noexcept;
  void filter_add(uint32_t mapping, uint32_t remote_ip, int delta) noexcept;
  // The inbound filter of a mapping: does it have a session with remote_ip?
  bool filter_allows(uint32_t mapping, uint32_t remote_ip) noexcept;
  uint32_t next_random() noexcept;

  NatParams params_;
  std::string error_;
  PortBlocks blocks_;
  TimerWheel timers_;
  std::vector<Session> sessions_;
  SessionIndex session_index_;
  std::vector<Mapping> mappings_;
  MappingIndex mapping_index_;
  std::vector<Client> clients_;
  ClientIndex client_index_;
  std::vector<ClientMeters> meters_;
  std::vector<Filter> filters_;  // empty: endpoint-independent filtering
  FilterIndex filter_index_;
  std::vector<uint32_t> free_sessions_;
  std::vector<uint32_t> free_mappings_;
  std::vector<uint32_t> free_clients_;
  std::vector<uint32_t> free_filters_;
  uint32_t sessions_used_ = 0;
  uint32_t mappings_used_ = 0;
  uint32_t clients_used_ = 0;
  uint64_t random_;
  NatEvents* events_ = nullptr;
  uint32_t active_timeout_ms_ = ~uint32_t{0};
  NatCounters counters_;
  NatGauges gauges_;
  uint32_t sessions_high_ = 0;
  uint32_t clients_high_ = 0;
};

}  // namespace sluice
