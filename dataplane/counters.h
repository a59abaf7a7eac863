// Per-worker counters.
//
// Every packet that leaves the dataplane without being transmitted is counted
// here under exactly one drop reason; every punt to the control thread is
// counted too. One struct per worker, aligned to its own cache lines, written
// only by that worker (load + store, relaxed: a plain move on x86, no locked
// instruction) and read by anyone at any time (relaxed loads, summed).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice {

// X-macro: name in code, name shown to operators, what it means.
#define SLUICE_DROP_REASONS(X)                                                                   \
  X(eth_truncated, "eth-truncated", "frame shorter than an Ethernet (and VLAN) header")          \
  X(vlan_mismatch, "vlan-mismatch", "802.1Q tag missing, unexpected or for another VLAN")        \
  X(not_for_us, "not-for-us", "unicast frame for another MAC address")                           \
  X(not_ipv4, "not-ipv4", "EtherType that sluice does not handle (IPv6 included)")               \
  X(arp_invalid, "arp-invalid", "ARP frame that is not Ethernet/IPv4 or is truncated")           \
  X(ip_truncated, "ip-truncated", "frame shorter than the IPv4 header")                          \
  X(ip_bad_version, "ip-bad-version", "IP version field is not 4")                               \
  X(ip_bad_ihl, "ip-bad-ihl", "IHL below 5 or header longer than the frame")                     \
  X(ip_bad_length, "ip-bad-length", "total length below the header or above the frame")          \
  X(ip_bad_checksum, "ip-bad-checksum", "IPv4 header checksum does not verify")                  \
  X(ip_options, "ip-options", "IPv4 options present (forward them with ip-options = forward)")   \
  X(martian_source, "martian-source", "source is 0/8, 127/8, multicast, broadcast or class E")   \
  X(martian_destination, "martian-destination", "destination is 0/8, 127/8, multicast or E")     \
  X(spoofed_source, "spoofed-source", "inside source outside the client prefixes")               \
  X(ttl_expired, "ttl-expired", "TTL would reach 0 (ICMP time exceeded sent if allowed)")        \
  X(local_unsupported, "local-unsupported", "to our own address, not ICMP echo request")         \
  X(no_route, "no-route", "no route to the destination")                                         \
  X(neighbour_failed, "neighbour-failed", "next hop did not answer ARP (retried by control)")    \
  X(punt_ring_full, "punt-ring-full", "frame for the control thread, its ring was full")         \
  X(tx_full, "tx-full", "the transmit queue did not take the packet")                            \
  X(no_member, "no-member", "no member link of the aggregate carries traffic")                   \
  X(not_collecting, "not-collecting", "arrived on a member that is not collecting (LACP, link)") \
  X(no_headroom, "no-headroom", "mbuf without room for the L2 header (driver bug)")              \
  X(too_big, "too-big", "larger than the egress MTU (ICMP frag-needed sent if DF)")              \
  X(handoff_ring_full, "handoff-ring-full", "for another worker, its handoff ring was full")     \
  X(frag_table_full, "frag-table-full", "fragment of a new datagram, fragment table full")       \
  X(frag_held_full, "frag-held-full", "fragment ahead of its first fragment, no room to hold")   \
  X(frag_timeout, "frag-timeout", "held fragment whose first fragment never came in time")       \
  X(nat_not_pool, "nat-not-pool", "from the outside to an address outside the NAT pool")         \
  X(nat_no_mapping, "nat-no-mapping", "to a pool address and port that no client has mapped")    \
  X(nat_filtered, "nat-filtered", "mapping exists, its filtering refuses this remote")           \
  X(nat_unsupported, "nat-unsupported", "protocol or ICMP type NAT cannot translate")            \
  X(nat_truncated, "nat-truncated", "transport header too short to translate")                   \
  X(nat_frag_no_session, "nat-frag-no-session", "later fragment whose datagram has no session")  \
  X(icmp_bad_checksum, "icmp-bad-checksum", "ICMP error whose or whose quote's checksum fails")  \
  X(nat_icmp_no_session, "nat-icmp-no-session", "ICMP error quoting no session of ours")         \
  X(nat_tcp_not_syn, "nat-tcp-not-syn", "TCP segment without a session that is not a SYN")       \
  X(nat_client_limit, "nat-client-limit", "new session refused: client at its port-block limit") \
  X(nat_session_limit, "nat-session-limit", "new session refused: client at its session limit")  \
  X(nat_pool_exhausted, "nat-pool-exhausted", "new session refused: no free port block")         \
  X(nat_table_full, "nat-table-full", "new session refused: session table full")                 \
  X(nat_clients_full, "nat-clients-full", "new session refused: client table full")              \
  X(policer_exceed, "policer-exceed", "client above its policing rate (CIR), exceed = drop")     \
  X(policer_violate, "policer-violate", "client above its peak rate (PIR), violate = drop")      \
  X(nat_unaccountable, "nat-unaccountable", "new session refused: its creation could not be logged")

enum class Drop : uint8_t {
#define SLUICE_X(id, name, help) id,
  SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
      count
};

inline constexpr size_t kDropCount = static_cast<size_t>(Drop::count);

struct DropInfo {
  std::string_view name;
  std::string_view help;
};

inline constexpr std::array<DropInfo, kDropCount> kDropInfo = {{
#define SLUICE_X(id, name, help) {name, help},
    SLUICE_DROP_REASONS(SLUICE_X)
#undef SLUICE_X
}};

// A counter with exactly one writer. add() is not atomic read-modify-write:
// only the owner thread may call it; any thread may read().
class Counter {
 public:
  void add(uint64_t n = 1) noexcept {
    v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t read() const noexcept { return v_.load(std::memory_order_relaxed); }
  void reset() noexcept { v_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> v_{0};
};

struct alignas(64) WorkerCounters {
  Counter rx_packets;
  Counter tx_packets;  // handed to the driver; see forwarded() below
  Counter punted;
  Counter handed_off;  // to the worker owning the packet's client (handoff.h)
  Counter handed_in;
  Counter icmp_errors_sent;
  Counter icmp_errors_suppressed;  // by the rate limit (the packet is counted as a drop)
  Counter fragments_made;          // packets added by fragmenting (a packet in 3 fragments: 2)
  Counter busy_polls;              // polls that returned at least one packet
  Counter idle_polls;              // polls that returned nothing
  Counter busy_cycles;             // TSC cycles spent in polls that returned packets
  Counter idle_cycles;
  std::array<Counter, kDropCount> drops;

  void drop(Drop why, uint64_t n = 1) noexcept { drops[static_cast<size_t>(why)].add(n); }
  uint64_t dropped(Drop why) const noexcept { return drops[static_cast<size_t>(why)].read(); }
  // Every packet the pipeline sends is either taken by the driver or refused
  // (tx-full), so "forwarded" is derived, not counted per packet.
  uint64_t forwarded() const noexcept { return tx_packets.read() + dropped(Drop::tx_full); }
};

// The sum of several workers' counters, read at one moment (for telemetry
// and the exit summary). Plain numbers: readers' own copy.
struct WorkerTotals {
  uint64_t rx_packets = 0;
  uint64_t tx_packets = 0;
  uint64_t forwarded = 0;
  uint64_t punted = 0;
  uint64_t handed_off = 0;
  uint64_t handed_in = 0;
  uint64_t icmp_errors_sent = 0;
  uint64_t fragments_made = 0;
  uint64_t icmp_errors_suppressed = 0;
  uint64_t busy_polls = 0;
  uint64_t idle_polls = 0;
  uint64_t busy_cycles = 0;
  uint64_t idle_cycles = 0;
  uint64_t dropped = 0;
  std::array<uint64_t, kDropCount> drops{};

  WorkerTotals& operator+=(const WorkerCounters& c) noexcept {
    rx_packets += c.rx_packets.read();
    tx_packets += c.tx_packets.read();
    forwarded += c.forwarded();
    punted += c.punted.read();
    handed_off += c.handed_off.read();
    handed_in += c.handed_in.read();
    icmp_errors_sent += c.icmp_errors_sent.read();
    fragments_made += c.fragments_made.read();
    icmp_errors_suppressed += c.icmp_errors_suppressed.read();
    busy_polls += c.busy_polls.read();
    idle_polls += c.idle_polls.read();
    busy_cycles += c.busy_cycles.read();
    idle_cycles += c.idle_cycles.read();
    for (size_t i = 0; i < kDropCount; i++) {
      const uint64_t v = c.drops[i].read();
      drops[i] += v;
      dropped += v;
    }
    return *this;
  }
};

}  // namespace sluice
