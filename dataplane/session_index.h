// The session index of one worker's NAT table: session key -> session
// record, for both views of every session (inside and public).
//
// Theory of operation. A flat array of 64-byte buckets, each one cache line
// of eight slots: a 16-bit tag of the key's hash and the session's index.
// Keys are not stored: a tag match is confirmed against the session record
// itself, which holds both views' tuples and which the packet path reads
// next anyway. So an established packet costs two cache lines, the bucket
// and its session (rte_hash needs a third, its key store), and the bulk
// lookup overlaps them across a burst in three passes: hash and prefetch
// the buckets; match tags and prefetch the candidate sessions; confirm.
//
// A key lives in its home bucket (hash mapped onto the bucket count, any
// count, not only powers of two) or, when that is full, in the first bucket
// after it with room. The home bucket counts the keys it sent further and
// how far they went (`reach`), so a lookup reads a second line only for a
// home that overflowed. At the default sizing (a bucket for every five
// keys: at most 62.5 % of the slots used) a few per cent of the keys live
// outside their home. The size is fixed at construction; an insert fails
// only when no bucket within kMaxReach (or the whole table, if smaller) has
// room.
//
// Single writer (the owning worker), no locks, no allocation after
// construction. The buckets are DPDK memory (hugepages on a real host).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "session.h"

namespace sluice {

class SessionIndex {
 public:
  static constexpr unsigned kSlots = 8;
  static constexpr unsigned kMaxReach = 64;

  // Room for `keys` keys; check ok(). `seed` keys the hash, so that
  // nobody outside can aim keys at one bucket.
  SessionIndex(uint32_t keys, uint32_t seed);
  ~SessionIndex();
  SessionIndex(const SessionIndex&) = delete;
  SessionIndex& operator=(const SessionIndex&) = delete;
  bool ok() const noexcept { return buckets_ != nullptr; }
  size_t bytes() const noexcept { return size_t{count_} * sizeof(Bucket); }

  // Bulk lookup of n keys (n <= kBurstMax): out[i] is the index of the
  // session whose view is keys[i], or kNoIndex. Leaves the found sessions'
  // records in cache.
  static constexpr unsigned kBurstMax = 64;
  void lookup(const SessionKey* keys, uint32_t n, const Session* records,
              uint32_t* out) const noexcept;
  uint32_t lookup(const SessionKey& key, const Session* records) const noexcept;

  // Adds key -> index (the caller knows the key is not there yet); false
  // when there is no room within kMaxReach buckets.
  bool add(const SessionKey& key, uint32_t index) noexcept;
  // Removes key -> index.
  void remove(const SessionKey& key, uint32_t index) noexcept;

  // Keys kept outside their home bucket now (for tests and benchmarks).
  uint32_t displaced() const noexcept;

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
  Place place(const SessionKey& key) const noexcept;
  // Slots of b whose tag is `tag`, as a bit mask.
  static unsigned matches(const Bucket& b, uint16_t tag) noexcept;
  // Every candidate of every bucket the key may be in.
  uint32_t search(const SessionKey& key, Place p, const Session* records) const noexcept;
  // distance < count_
  uint32_t next(uint32_t bucket, unsigned distance) const noexcept {
    const uint32_t b = bucket + distance;
    return b < count_ ? b : b - count_;
  }

  Bucket* buckets_ = nullptr;
  uint32_t count_ = 0;
  uint32_t seed_;
};

// Does `s` have the view `key`?
inline bool has_view(const Session& s, const SessionKey& key) noexcept {
  const uint32_t local_ip = key.outside ? s.public_ip : s.inside_ip;
  const uint16_t local_port = key.outside ? s.public_port : s.inside_port;
  return local_ip == key.local_ip && local_port == key.local_port && s.remote_ip == key.remote_ip &&
         s.remote_port == key.remote_port && s.proto == key.proto;
}

}  // namespace sluice
