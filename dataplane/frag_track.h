// Stage: shallow virtual reassembly of IPv4 fragments, for NAT.
//
// NAT needs the transport ports of every packet, but only the first fragment
// of a datagram carries them. This stage runs on the receiving worker, after
// parse_stage and before steering and NAT. It never reassembles or copies
// payload: per datagram (key: source, destination, IP id, protocol) it
// remembers what the first fragment says and writes it into the metadata of
// every later fragment (packet.h: l4_src, l4_dst in host order, flags |=
// kMetaFragTail):
//  - TCP, UDP: source and destination port;
//  - ICMP echo request/reply (8/0) and timestamp request/reply (13/14): the
//    identifier, in both;
//  - an ICMP error, any other protocol, a first fragment too short to carry
//    its ports: 0/0 (NAT decides what to do with it).
//
// For each packet of a burst (data at the IPv4 header, validated by
// parse_stage):
//  - not a fragment (offset 0, MF clear): passes untouched; one test of the
//    fragment field is all it costs;
//  - first fragment (offset 0, MF set): records the ports (a repeated first
//    fragment updates them) and passes; fragments of the datagram held
//    because they came before it become ready: annotated, queued in arrival
//    order for take_ready();
//  - later fragment: annotated and passed when its first fragment has been
//    seen; otherwise held (meta kept, so the caller still knows where it came
//    from) until the first fragment comes or the entry times out.
// Survivors keep their order, compacted to the front of the burst.
//
// An entry ends when its datagram is complete (first fragment seen, last
// fragment seen, and as many payload bytes seen as the last fragment's end),
// or timeout_ms after its last fragment: expire() walks the table a bounded
// number of slots per call; a new datagram also reclaims expired entries in
// its probe window, and a fragment matching an expired entry starts afresh
// (its stale ports are never used). A duplicated fragment counts its bytes
// twice, so it can end an entry early; fragments still to come are then held
// and time out.
//
// Memory, all allocated by the constructor: the table of datagrams is open
// addressing with linear probing over a window of kWindow slots; a slot is a
// 2-byte tag (0: free; otherwise hash bits, so a lookup reads one short array
// and touches an entry only on a tag match) and a 32-byte entry, 34 bytes per
// slot. Held fragments live in a pool of FragConfig::held slots (an mbuf
// pointer and a 4-byte link, 12 bytes each) chained per datagram; ready ones
// stay in their slot, chained in a FIFO, until take_ready() takes them, so the
// pool bounds held and ready together. Defaults: 1024 * 34 + 256 * 12 bytes,
// 37 KB per worker. Time is the caller's clock in milliseconds, kept in 32
// bits (ages are computed modulo 2^32 ms, 49 days).
//
// Counters (drop reasons, counters.h):
//  - frag-table-full: fragment of a new datagram, no free slot in its window;
//  - frag-held-full: fragment ahead of its first fragment, pool full or
//    already kMaxHeldPerDatagram held for its datagram;
//  - frag-timeout: each held fragment dropped because its entry expired.
//
// One owner (the worker); not thread-safe. process(), take_ready() and
// expire() neither allocate nor lock.
#pragma once

#include <rte_ip.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <memory>

#include "sink.h"

namespace sluice {

struct FragConfig {
  uint32_t entries = 1024;  // datagrams tracked at once, power of 2 (rounded up)
  uint32_t held = 256;      // fragments held waiting for their first fragment (or taken)
  // An entry (and what it holds) lives this long after its last fragment; at least 1.
  uint32_t timeout_ms = 2000;
  // Mixed into the table's hash, set at random by control, so a sender who
  // knows the addresses cannot aim its datagrams at one window of the table.
  uint64_t seed = 0;
};

class FragTracker {
 public:
  static constexpr uint32_t kWindow = 8;               // slots probed for one datagram
  static constexpr uint32_t kMaxHeldPerDatagram = 64;  // fragments held for one datagram

  FragTracker(const FragConfig& cfg, PacketSink& sink);  // allocates here only
  ~FragTracker();                                        // frees held and ready mbufs
  FragTracker(const FragTracker&) = delete;
  FragTracker& operator=(const FragTracker&) = delete;

  // Keeps unfragmented packets, first fragments and annotated later fragments
  // in order at the front of pkts; returns how many. Holds or drops the rest.
  uint16_t process(rte_mbuf** pkts, uint16_t n, uint64_t now_ms) noexcept;

  // Up to max held fragments whose first fragment has since arrived,
  // annotated, in the order they arrived.
  uint16_t take_ready(rte_mbuf** out, uint16_t max) noexcept;

  // Examines up to budget table slots (continuing where the last call
  // stopped); entries idle for timeout_ms are forgotten, what they hold is
  // dropped (frag-timeout).
  void expire(uint64_t now_ms, unsigned budget) noexcept;

  uint32_t tracked() const noexcept { return tracked_; }  // entries in use
  uint32_t held() const noexcept { return held_; }        // fragments held (not ready)
  uint32_t ready() const noexcept { return ready_; }      // waiting for take_ready()

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr uint16_t kFragBits = RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK | RTE_IPV4_HDR_MF_FLAG);

  // Key fields in network order, as in the header.
  struct Key {
    uint32_t src;
    uint32_t dst;
    uint16_t id;
    uint8_t proto;
  };

  struct alignas(32) Entry {
    uint32_t src;
    uint32_t dst;
    uint16_t id;
    uint8_t proto;
    uint8_t has_first;  // ports below are valid
    uint16_t l4_src;    // host order
    uint16_t l4_dst;
    uint32_t last_ms;    // low 32 bits of the clock at its last fragment
    uint16_t seen;       // payload bytes seen (saturating)
    uint16_t total;      // payload bytes of the datagram, 0 until its last fragment
    uint32_t held_head;  // pool slot of the last fragment held, chained by next_
    uint8_t held_count;
  };
  static_assert(sizeof(Entry) == 32);

  // True when the fragment goes on; false when held or dropped.
  bool on_fragment(rte_mbuf* m, const rte_ipv4_hdr* ip, uint32_t now) noexcept;
  // The slot of key's entry, created when absent; kNil when the window is full.
  uint32_t find_or_insert(const Key& k, uint64_t hash, uint32_t now) noexcept;
  bool expired(const Entry& e, uint32_t now) const noexcept {
    return now - e.last_ms >= timeout_ms_;
  }
  static void annotate(rte_mbuf* m, const Entry& e) noexcept;
  void reclaim(uint32_t slot) noexcept;  // drops what it holds, frees it
  void release(Entry& e) noexcept;       // its held fragments become ready
  void free_slot(uint32_t slot) noexcept {
    tags_[slot] = 0;
    tracked_--;
  }

  PacketSink& sink_;
  uint64_t seed_;
  uint32_t mask_;
  uint32_t window_;
  uint32_t timeout_ms_;
  uint32_t cursor_ = 0;  // next slot expire() examines
  uint32_t tracked_ = 0;
  uint32_t held_ = 0;
  uint32_t ready_ = 0;
  std::unique_ptr<uint16_t[]> tags_;
  std::unique_ptr<Entry[]> entries_;
  // The pool: a slot is free (on free_), held (on an entry's chain) or ready.
  std::unique_ptr<rte_mbuf*[]> mbufs_;
  std::unique_ptr<uint32_t[]> next_;
  uint32_t pool_size_;
  uint32_t free_ = kNil;
  uint32_t ready_head_ = kNil;
  uint32_t ready_tail_ = kNil;
};

}  // namespace sluice
