#include "frag_track.h"

#include <rte_common.h>
#include <rte_icmp.h>

#include <netinet/in.h>

#include <algorithm>

#include "packet.h"

namespace sluice {

namespace {

// A seeded mix; the window bounds the damage of collisions.
uint64_t hash_key(uint64_t seed, uint32_t src, uint32_t dst, uint16_t id, uint8_t proto) noexcept {
  uint64_t h = (((uint64_t{src} << 32) | dst) ^ seed) ^
               (((uint64_t{id} << 8) | proto) * 0x9e3779b97f4a7c15ull);
  h ^= h >> 33;  // murmur3 fmix64
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

uint16_t tag_of(uint64_t h) noexcept {
  const auto t = static_cast<uint16_t>(h >> 48);
  return t != 0 ? t : 1;
}

bool icmp_query(uint8_t type) noexcept {
  return type == RTE_IP_ICMP_ECHO_REQUEST || type == RTE_IP_ICMP_ECHO_REPLY || type == 13 ||
         type == 14;  // timestamp request, reply
}

uint16_t be16_at(const uint8_t* p) noexcept {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}

// What NAT needs from a first fragment carrying data bytes after an ihl-byte
// header; 0/0 when it is not a port-carrying protocol or too short.
void read_ports(const rte_mbuf* m, uint32_t ihl, uint32_t data, uint8_t proto, uint16_t* l4_src,
                uint16_t* l4_dst) noexcept {
  *l4_src = 0;
  *l4_dst = 0;
  uint8_t buf[6];
  if (proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
    if (data < 4) return;
    const auto* p = static_cast<const uint8_t*>(rte_pktmbuf_read(m, ihl, 4, buf));
    if (p == nullptr) return;
    *l4_src = be16_at(p);
    *l4_dst = be16_at(p + 2);
  } else if (proto == IPPROTO_ICMP) {
    if (data < 6) return;
    const auto* p = static_cast<const uint8_t*>(rte_pktmbuf_read(m, ihl, 6, buf));
    if (p == nullptr || !icmp_query(p[0])) return;
    *l4_src = be16_at(p + 4);  // identifier
    *l4_dst = *l4_src;
  }
}

}  // namespace

FragTracker::FragTracker(const FragConfig& cfg, PacketSink& sink)
    : sink_(sink),
      seed_(cfg.seed),
      mask_(rte_align32pow2(std::clamp(cfg.entries, 1u, 1u << 31)) - 1),
      window_(std::min(kWindow, mask_ + 1)),
      timeout_ms_(std::max(cfg.timeout_ms, 1u)),
      tags_(std::make_unique<uint16_t[]>(mask_ + 1)),
      entries_(std::make_unique<Entry[]>(mask_ + 1)),
      mbufs_(std::make_unique<rte_mbuf*[]>(cfg.held)),
      next_(std::make_unique<uint32_t[]>(cfg.held)),
      pool_size_(cfg.held) {
  for (uint32_t s = pool_size_; s-- > 0;) {
    next_[s] = free_;
    free_ = s;
  }
}

FragTracker::~FragTracker() {
  for (uint32_t s = 0; s < pool_size_; s++) {
    if (mbufs_[s] != nullptr) rte_pktmbuf_free(mbufs_[s]);
  }
}

uint16_t FragTracker::process(rte_mbuf** pkts, uint16_t n, uint64_t now_ms) noexcept {
  const auto now = static_cast<uint32_t>(now_ms);
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    const auto* ip = rte_pktmbuf_mtod(m, const rte_ipv4_hdr*);
    if ((ip->fragment_offset & kFragBits) == 0 || on_fragment(m, ip, now)) pkts[kept++] = m;
  }
  return kept;
}

bool FragTracker::on_fragment(rte_mbuf* m, const rte_ipv4_hdr* ip, uint32_t now) noexcept {
  const uint16_t frag = rte_be_to_cpu_16(ip->fragment_offset);
  const uint32_t offset = (frag & RTE_IPV4_HDR_OFFSET_MASK) * RTE_IPV4_HDR_OFFSET_UNITS;
  const bool more = (frag & RTE_IPV4_HDR_MF_FLAG) != 0;
  const uint32_t ihl = (ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) * RTE_IPV4_IHL_MULTIPLIER;
  const uint32_t data = rte_be_to_cpu_16(ip->total_length) - ihl;  // parse_stage: total >= ihl

  const Key k{ip->src_addr, ip->dst_addr, ip->packet_id, ip->next_proto_id};
  const uint32_t slot = find_or_insert(k, hash_key(seed_, k.src, k.dst, k.id, k.proto), now);
  if (slot == kNil) {
    sink_.drop(m, Drop::frag_table_full);
    return false;
  }
  Entry& e = entries_[slot];
  bool goes_on = true;
  if (offset == 0) {
    read_ports(m, ihl, data, k.proto, &e.l4_src, &e.l4_dst);
    e.has_first = 1;
    if (e.held_head != kNil) release(e);
  } else if (e.has_first) {
    annotate(m, e);
  } else {
    if (free_ == kNil || e.held_count >= kMaxHeldPerDatagram) {
      if (e.held_count == 0) free_slot(slot);  // created for this fragment alone
      sink_.drop(m, Drop::frag_held_full);
      return false;
    }
    const uint32_t s = free_;
    free_ = next_[s];
    mbufs_[s] = m;
    next_[s] = e.held_head;
    e.held_head = s;
    e.held_count++;
    held_++;
    goes_on = false;
  }

  e.last_ms = now;
  e.seen = static_cast<uint16_t>(std::min<uint32_t>(e.seen + data, UINT16_MAX));
  if (!more && offset + data <= UINT16_MAX) e.total = static_cast<uint16_t>(offset + data);
  if (e.has_first && e.total != 0 && e.seen >= e.total) free_slot(slot);
  return goes_on;
}

uint32_t FragTracker::find_or_insert(const Key& k, uint64_t hash, uint32_t now) noexcept {
  const uint16_t tag = tag_of(hash);
  const auto home = static_cast<uint32_t>(hash) & mask_;
  uint32_t free = kNil;
  uint32_t slot = home;
  for (uint32_t i = 0; i < window_; i++, slot = (slot + 1) & mask_) {
    const uint16_t t = tags_[slot];
    if (t == tag) {
      const Entry& e = entries_[slot];
      if (e.src == k.src && e.dst == k.dst && e.id == k.id && e.proto == k.proto) {
        if (!expired(e, now)) return slot;
        reclaim(slot);  // a stale datagram with the same key: start afresh
        if (free == kNil) free = slot;
      }
    } else if (t == 0 && free == kNil) {
      free = slot;
    }
  }
  if (free == kNil) {
    slot = home;
    for (uint32_t i = 0; i < window_; i++, slot = (slot + 1) & mask_) {
      if (expired(entries_[slot], now)) {
        reclaim(slot);
        if (free == kNil) free = slot;
      }
    }
    if (free == kNil) return kNil;
  }
  entries_[free] = Entry{k.src, k.dst, k.id, k.proto, 0, 0, 0, now, 0, 0, kNil, 0};
  tags_[free] = tag;
  tracked_++;
  return free;
}

void FragTracker::annotate(rte_mbuf* m, const Entry& e) noexcept {
  PacketMeta& pm = meta(m);
  pm.l4_src = e.l4_src;
  pm.l4_dst = e.l4_dst;
  pm.flags |= kMetaFragTail;
}

void FragTracker::release(Entry& e) noexcept {
  // The chain runs newest first; reverse it while annotating, then append.
  const uint32_t tail = e.held_head;
  uint32_t head = kNil;
  for (uint32_t s = e.held_head; s != kNil;) {
    const uint32_t next = next_[s];
    annotate(mbufs_[s], e);
    next_[s] = head;
    head = s;
    s = next;
  }
  if (ready_tail_ == kNil) {
    ready_head_ = head;
  } else {
    next_[ready_tail_] = head;
  }
  ready_tail_ = tail;
  held_ -= e.held_count;
  ready_ += e.held_count;
  e.held_head = kNil;
  e.held_count = 0;
}

void FragTracker::reclaim(uint32_t slot) noexcept {
  Entry& e = entries_[slot];
  for (uint32_t s = e.held_head; s != kNil;) {
    const uint32_t next = next_[s];
    sink_.drop(mbufs_[s], Drop::frag_timeout);
    mbufs_[s] = nullptr;
    next_[s] = free_;
    free_ = s;
    s = next;
  }
  held_ -= e.held_count;
  e.held_head = kNil;
  e.held_count = 0;
  free_slot(slot);
}

uint16_t FragTracker::take_ready(rte_mbuf** out, uint16_t max) noexcept {
  uint16_t n = 0;
  while (n < max && ready_head_ != kNil) {
    const uint32_t s = ready_head_;
    out[n++] = mbufs_[s];
    ready_head_ = next_[s];
    mbufs_[s] = nullptr;
    next_[s] = free_;
    free_ = s;
  }
  if (ready_head_ == kNil) ready_tail_ = kNil;
  ready_ -= n;
  return n;
}

void FragTracker::expire(uint64_t now_ms, unsigned budget) noexcept {
  if (tracked_ == 0) return;
  const auto now = static_cast<uint32_t>(now_ms);
  const uint32_t n = std::min<uint32_t>(budget, mask_ + 1);
  for (uint32_t i = 0; i < n; i++) {
    const uint32_t slot = cursor_;
    cursor_ = (cursor_ + 1) & mask_;
    if (tags_[slot] != 0 && expired(entries_[slot], now)) reclaim(slot);
  }
}

}  // namespace sluice
