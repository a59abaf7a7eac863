// The indexes of one worker's NAT table (nat_table.h): key -> index of a
// record in a flat array. Sessions are found by either view (inside or
// public), mappings by either endpoint, clients by address.
//
// Theory of operation. A flat array of 64-byte buckets, each one cache line
// of eight slots: a 16-bit tag of the key's hash and the record's index.
// Keys are not stored: a tag match is confirmed against the record itself
// (has_key(record, key), found by argument-dependent lookup), which holds
// every key it is filed under and which the caller reads next anyway. So an
// established packet costs two cache lines, the bucket and its session
// (rte_hash needs a third, its key store), and the bulk lookup overlaps them
// across a burst in three passes: hash and prefetch the buckets; match tags
// and prefetch the candidate records; confirm.
//
// A key lives in its home bucket (hash mapped onto the bucket count, any
// count, not only powers of two) or, when that is full, in the first bucket
// after it with room. The home bucket counts the keys it sent further and
// how far they went (`reach`), so a lookup reads a second line only for a
// home that overflowed. At the default sizing (a bucket for every five
// keys: at most 62.5 % of the slots used) a few per cent of the keys live
// outside their home. The size is fixed at construction; an insert fails
// only when no bucket within kMaxReach (or the whole table, if smaller) has
// room. The hash (CRC32-C) is seeded per index, so nobody outside can aim
// keys at one bucket without knowing the seed.
//
// Single writer (the owning worker), no locks, no allocation after
// construction. The buckets are DPDK memory (hugepages on a real host).
#pragma once

#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sluice {

inline constexpr uint32_t kNoIndex = ~uint32_t{0};

template <class Key, class Record>
class RecordIndex {
  static_assert(std::is_trivially_copyable_v<Key> && sizeof(Key) % 4 == 0 && sizeof(Key) <= 16);

 public:
  static constexpr unsigned kSlots = 8;
  static constexpr unsigned kMaxReach = 64;
  static constexpr unsigned kBurstMax = 64;

  // Room for `keys` keys; check ok(). `seed` keys the hash.
  RecordIndex(uint32_t keys, uint32_t seed) : seed_(seed) {
    // A bucket for every five keys: at most 62.5 % of the slots used.
    const uint64_t count = std::max<uint64_t>(uint64_t{keys} / 5 + 1, 2);
    if (count > UINT32_MAX) return;
    buckets_ = static_cast<Bucket*>(
        rte_zmalloc_socket("nat_index", count * sizeof(Bucket), alignof(Bucket), rte_socket_id()));
    if (buckets_ != nullptr) count_ = static_cast<uint32_t>(count);
  }
  ~RecordIndex() { rte_free(buckets_); }
  RecordIndex(const RecordIndex&) = delete;
  RecordIndex& operator=(const RecordIndex&) = delete;
  bool ok() const noexcept { return buckets_ != nullptr; }

  // Bulk lookup of n keys (n <= kBurstMax): out[i] is the index of the
  // record filed under keys[i], or kNoIndex. Leaves the records found in
  // cache.
  void lookup(const Key* keys, uint32_t n, const Record* records, uint32_t* out) const noexcept {
    Place p[kBurstMax];
    for (uint32_t i = 0; i < n; i++) {
      p[i] = place(keys[i]);
      rte_prefetch0(&buckets_[p[i].home]);
    }
    // The home bucket's first candidate; its record prefetched.
    for (uint32_t i = 0; i < n; i++) {
      const Bucket& b = buckets_[p[i].home];
      const unsigned m = matches(b, p[i].tag);
      out[i] = m != 0 ? b.index[__builtin_ctz(m)] : kNoIndex;
      if (out[i] != kNoIndex) rte_prefetch0(&records[out[i]]);
    }
    for (uint32_t i = 0; i < n; i++) {
      if (out[i] != kNoIndex && has_key(records[out[i]], keys[i])) continue;
      // A tag that was not the key, a second candidate, or a key kept
      // outside its home: rare.
      const bool elsewhere = out[i] != kNoIndex || buckets_[p[i].home].reach != 0;
      out[i] = elsewhere ? search(keys[i], p[i], records) : kNoIndex;
    }
  }

  uint32_t lookup(const Key& key, const Record* records) const noexcept {
    return search(key, place(key), records);
  }

  // Files `index` under key (the caller knows the key is not there yet);
  // false when there is no room within kMaxReach buckets.
  bool add(const Key& key, uint32_t index) noexcept {
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

  // Takes `index` out from under key.
  void remove(const Key& key, uint32_t index) noexcept {
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

  // Keys kept outside their home bucket now (for tests and benchmarks).
  uint32_t displaced() const noexcept {
    uint32_t n = 0;
    for (uint32_t i = 0; i < count_; i++)
      n += buckets_[i].displaced;
    return n;
  }

 private:
  struct alignas(64) Bucket {
    uint16_t tag[kSlots];
    uint32_t index[kSlots];
    uint16_t displaced;  // keys at home here, kept in a later bucket
    uint8_t used;        // bit i: slot i holds a key
    uint8_t reach;       // how many buckets after this one they may be in
  };
  static_assert(sizeof(Bucket) == 64);

  struct Place {
    uint32_t home;
    uint16_t tag;
  };

  Place place(const Key& key) const noexcept {
    uint32_t h = seed_;
    if constexpr (sizeof(Key) % 8 == 0) {
      uint64_t words[sizeof(Key) / 8];
      std::memcpy(words, &key, sizeof(Key));
      for (const uint64_t w : words)
        h = rte_hash_crc_8byte(w, h);
    } else {
      uint32_t words[sizeof(Key) / 4];
      std::memcpy(words, &key, sizeof(Key));
      for (const uint32_t w : words)
        h = rte_hash_crc_4byte(w, h);
    }
    // The home is the hash scaled onto the bucket count (its high bits), the
    // tag its low bits.
    return {static_cast<uint32_t>((uint64_t{h} * count_) >> 32), static_cast<uint16_t>(h)};
  }

  // Slots of b holding the tag, as a bit mask.
  static unsigned matches(const Bucket& b, uint16_t tag) noexcept {
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

  // Every candidate of every bucket the key may be in.
  uint32_t search(const Key& key, Place p, const Record* records) const noexcept {
    const unsigned reach = buckets_[p.home].reach;
    for (unsigned d = 0; d <= reach; d++) {
      const Bucket& b = buckets_[next(p.home, d)];
      for (unsigned m = matches(b, p.tag); m != 0; m &= m - 1) {
        const uint32_t index = b.index[__builtin_ctz(m)];
        if (has_key(records[index], key)) return index;
      }
    }
    return kNoIndex;
  }

  // distance < count_
  uint32_t next(uint32_t bucket, unsigned distance) const noexcept {
    const uint32_t b = bucket + distance;
    return b < count_ ? b : b - count_;
  }

  Bucket* buckets_ = nullptr;
  uint32_t count_ = 0;
  uint32_t seed_;
};

}  // namespace sluice
