#include "session_index.h"

#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstring>

namespace sluice {

SessionIndex::SessionIndex(uint32_t keys, uint32_t seed) : seed_(seed) {
  // A bucket for every five keys: at most 62.5 % of the slots used.
  const uint64_t count = std::max<uint64_t>(uint64_t{keys} / 5 + 1, 2);
  if (count > UINT32_MAX) return;
  buckets_ = static_cast<Bucket*>(
      rte_zmalloc_socket("nat_sessions", count * sizeof(Bucket), alignof(Bucket), rte_socket_id()));
  if (buckets_ != nullptr) count_ = static_cast<uint32_t>(count);
}

SessionIndex::~SessionIndex() {
  rte_free(buckets_);
}

SessionIndex::Place SessionIndex::place(const SessionKey& key) const noexcept {
  uint64_t words[2];
  std::memcpy(words, &key, sizeof(words));
  const uint32_t h = rte_hash_crc_8byte(words[1], rte_hash_crc_8byte(words[0], seed_));
  // The home is the hash scaled onto the bucket count (its high bits), the
  // tag its low bits.
  return {static_cast<uint32_t>((uint64_t{h} * count_) >> 32), static_cast<uint16_t>(h)};
}

unsigned SessionIndex::matches(const Bucket& b, uint16_t tag) noexcept {
#ifdef __SSE2__
  const __m128i tags = _mm_load_si128(reinterpret_cast<const __m128i*>(b.tag));
  const __m128i eq = _mm_cmpeq_epi16(tags, _mm_set1_epi16(static_cast<short>(tag)));
  const auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_packs_epi16(eq, eq)) & 0xff);
#else
  unsigned mask = 0;
  for (unsigned i = 0; i < kSlots; i++)
    mask |= unsigned{b.tag[i] == tag} << i;
#endif
  return mask & b.used;
}

void SessionIndex::lookup(const SessionKey* keys, uint32_t n, const Session* records,
                          uint32_t* out) const noexcept {
  Place p[kBurstMax];
  for (uint32_t i = 0; i < n; i++) {
    p[i] = place(keys[i]);
    rte_prefetch0(&buckets_[p[i].home]);
  }
  // The home bucket's first candidate; its session prefetched.
  for (uint32_t i = 0; i < n; i++) {
    const Bucket& b = buckets_[p[i].home];
    const unsigned m = matches(b, p[i].tag);
    out[i] = m != 0 ? b.index[__builtin_ctz(m)] : kNoIndex;
    if (out[i] != kNoIndex) rte_prefetch0(&records[out[i]]);
  }
  for (uint32_t i = 0; i < n; i++) {
    if (out[i] != kNoIndex && has_view(records[out[i]], keys[i])) continue;
    // A tag that was not the key, a second candidate, or a key kept
    // outside its home: rare.
    const Bucket& b = buckets_[p[i].home];
    out[i] = (out[i] == kNoIndex && b.reach == 0) ? kNoIndex : search(keys[i], p[i], records);
  }
}

uint32_t SessionIndex::lookup(const SessionKey& key, const Session* records) const noexcept {
  return search(key, place(key), records);
}

uint32_t SessionIndex::search(const SessionKey& key, Place p,
                              const Session* records) const noexcept {
  const unsigned reach = buckets_[p.home].reach;
  for (unsigned d = 0; d <= reach; d++) {
    const Bucket& b = buckets_[next(p.home, d)];
    for (unsigned m = matches(b, p.tag); m != 0; m &= m - 1) {
      const uint32_t index = b.index[__builtin_ctz(m)];
      if (has_view(records[index], key)) return index;
    }
  }
  return kNoIndex;
}

bool SessionIndex::add(const SessionKey& key, uint32_t index) noexcept {
  const Place p = place(key);
  const unsigned furthest = std::min<uint32_t>(kMaxReach, count_ - 1);
  for (unsigned d = 0; d <= furthest; d++) {
    Bucket& b = buckets_[next(p.home, d)];
    if (b.used == 0xff) continue;
    const unsigned slot = __builtin_ctz(~unsigned{b.used});
    b.tag[slot] = p.tag;
    b.index[slot] = index;
    b.used |= static_cast<uint8_t>(1u << slot);
    if (d != 0) {
      Bucket& home = buckets_[p.home];
      home.displaced++;
      home.reach = static_cast<uint8_t>(std::max<unsigned>(home.reach, d));
    }
    return true;
  }
  return false;
}

void SessionIndex::remove(const SessionKey& key, uint32_t index) noexcept {
  const Place p = place(key);
  Bucket& home = buckets_[p.home];
  for (unsigned d = 0; d <= home.reach; d++) {
    Bucket& b = buckets_[next(p.home, d)];
    for (unsigned m = matches(b, p.tag); m != 0; m &= m - 1) {
      const unsigned slot = __builtin_ctz(m);
      if (b.index[slot] != index) continue;
      b.used &= static_cast<uint8_t>(~(1u << slot));
      if (d != 0 && --home.displaced == 0) home.reach = 0;
      return;
    }
  }
}

uint32_t SessionIndex::displaced() const noexcept {
  uint32_t n = 0;
  for (uint32_t i = 0; i < count_; i++)
    n += buckets_[i].displaced;
  return n;
}

}  // namespace sluice
