// Port-block allocation for carrier-grade NAT (RFC 6888, ideas from RFC 7422).
//
// Geometry. The public pool is a list of IPv4 addresses. Ports [port_min, 65535]
// of every address are cut into blocks of block_size ports; blocks_per_address =
// (65536 - port_min) / block_size, and a remainder at the top is never used.
// Block b of an address spans ports port_min + b * block_size onwards.
//
// Shares. With W workers, worker k owns block b of every address where
// b % W == k. The shares are disjoint and cover the pool, so the owner of an
// outside-to-inside packet follows from its destination port alone (PortOwner),
// with no table. A worker's PortBlocks holds only its own share; its block ids
// are dense, 0 .. blocks()-1, address by address in port order.
//
// Clients. A client (inside address) belongs to one worker and gets whole
// blocks from that worker's share. Paired pooling: allocate() first tries the
// client's current address, then every address from hint % addresses on, and
// returns the first free block (kNoBlock when the share is exhausted). TCP, UDP
// and ICMP ids share a block's port range, each with its own in-use bitmap;
// take_port() searches the protocol's bitmap from a caller-supplied random
// offset, wrapping, so the port chosen within a block is unpredictable.
//
// Hold-down. A block is in one of three states:
//   free  - in its address's free FIFO (an intrusive list, oldest first);
//   used  - allocated to a client (a block just allocated, before its first
//           port is taken, counts as used: the caller takes a port at once);
//   held  - allocated, but its last port (over all protocols) was put back; it
//           sits in the hold-down FIFO, ordered by the time it became empty.
// The client may keep using a held block: taking a port unlinks it from the
// hold-down FIFO (O(1)), and emptying it again appends it at the tail with the
// new time, so each block is in that FIFO at most once and the FIFO stays in
// time order (now_ms must not go backwards). expire() pops blocks that have
// been empty for hold_down_ms, reports each to the caller (which removes it
// from the client) and appends it to its address's free FIFO, so a released
// block is handed out again as late as possible. RFC 6888 REQ-8 (a port is not
// reused by another client for 120 s) holds because a block changes client
// only after hold_down_ms empty: keep hold_down_ms >= 120000 in production.
//
// Memory, all allocated in the constructor: per block 32 bytes of state plus
// 3 * 8 * ceil(block_size / 64) bytes of bitmaps, i.e. 32 + 24 * ceil(block_size / 64)
// (80 bytes at the default block_size of 128; 56 bytes at 64 or less); per
// address 12 bytes of free FIFO, 4 bytes of address and one bit of "has free
// blocks". PoolIndex adds 8 bytes per slot, slots = the power of 2 >= 2 * addresses.
//
// Single writer: the owning worker. Nothing here locks, allocates or throws
// after construction.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

enum class L4Proto : uint8_t { tcp = 0, udp = 1, icmp = 2 };
inline constexpr unsigned kL4Protos = 3;
inline constexpr uint32_t kNoBlock = ~uint32_t{0};
inline constexpr uint32_t kNoAddress = ~uint32_t{0};

struct PoolConfig {
  std::vector<uint32_t> addresses;  // host order, distinct, at most 65536
  uint16_t port_min = 1024;         // ports below are never handed out; at least 1
  uint16_t block_size = 128;        // ports per block, 1..(65536-port_min)
  uint32_t hold_down_ms = 120000;   // empty time before a block may change client
};

// Blocks per address for this configuration and number of workers, or 0 when
// the geometry is unusable (workers == 0, port_min == 0, block_size out of
// range, more than 65536 addresses). PortOwner and PortBlocks both use it, so
// they agree even on a bad configuration (then nothing is owned).
uint32_t blocks_per_address(const PoolConfig& cfg, unsigned workers) noexcept;

// Checks what the classes below assume: a non-empty list of distinct addresses
// (at most 65536), port_min >= 1, block_size in 1..(65536 - port_min), and at
// least one block of every address for each of the workers.
bool check_pool(const PoolConfig& cfg, unsigned workers, std::string* error);

// Which worker owns a public port: a pure function of the pool geometry, the
// same on every worker.
struct PortOwner {
  PortOwner(const PoolConfig& cfg, unsigned worker_count) noexcept
      : port_min(cfg.port_min),
        block_size(cfg.block_size),
        blocks(blocks_per_address(cfg, worker_count)),
        workers(worker_count) {}

  // Worker owning `port` on every pool address, or workers (== "none") for a
  // port below port_min or in the unused remainder above the last full block.
  unsigned owner(uint16_t port) const noexcept {
    if (blocks == 0 || port < port_min) return workers;
    const uint32_t b = (port - port_min) / block_size;
    return b < blocks ? b % workers : workers;
  }

  uint16_t port_min;
  uint16_t block_size;
  uint32_t blocks;  // per address, over all workers
  unsigned workers;
};

// Public address -> index in PoolConfig::addresses in O(1): open addressing with
// linear probing in a power-of-2 table at most half full, built at construction.
class PoolIndex {
 public:
  explicit PoolIndex(const std::vector<uint32_t>& addresses);

  // Index of ip in the address list, or -1 when it is not in the pool.
  int find(uint32_t ip) const noexcept {
    for (uint32_t i = hash(ip) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.index < 0 || s.ip == ip) return s.index;
    }
  }

 private:
  struct Slot {
    uint32_t ip;
    int32_t index;  // -1: empty
  };
  static uint32_t hash(uint32_t x) noexcept {  // murmur3 finaliser
    x ^= x >> 16;
    x *= 0x85ebca6bu;
    x ^= x >> 13;
    x *= 0xc2b2ae35u;
    x ^= x >> 16;
    return x;
  }
  std::vector<Slot> slots_;
  uint32_t mask_ = 0;
};

class PortBlocks {
 public:
  // This worker's share of the pool; every block starts free. Allocates here,
  // never later. A configuration check_pool() refuses may give an empty share.
  PortBlocks(const PoolConfig& cfg, unsigned worker, unsigned workers);

  uint32_t blocks() const noexcept { return static_cast<uint32_t>(blocks_.size()); }
  uint32_t addresses() const noexcept { return static_cast<uint32_t>(addresses_.size()); }
  uint16_t block_size() const noexcept { return block_size_; }

  // Block ids are dense: 0 .. blocks()-1.
  uint32_t address_index(uint32_t block) const noexcept { return blocks_[block].address; }
  uint32_t address(uint32_t block) const noexcept { return addresses_[blocks_[block].address]; }
  uint16_t first_port(uint32_t block) const noexcept { return blocks_[block].first_port; }
  uint32_t client(uint32_t block) const noexcept { return blocks_[block].client; }
  bool is_free(uint32_t block) const noexcept { return blocks_[block].state == kFree; }

  // The block of this share holding `port` of address `address_index`, or
  // kNoBlock when the port is outside the share (another worker's, below
  // port_min, in the remainder) or the index is out of range. For out-to-in.
  uint32_t block_of(uint32_t address_index, uint16_t port) const noexcept {
    if (address_index >= addresses() || port < port_min_ || per_address_ == 0) return kNoBlock;
    const uint32_t b = (port - port_min_) / block_size_;
    if (b >= blocks_per_address_ || b % workers_ != worker_) return kNoBlock;
    return address_index * per_address_ + b / workers_;
  }

  // A free block for `client`: from address index `address` if it has one
  // (kNoAddress: none preferred), else from the first address with a free block
  // starting at hint % addresses(). kNoBlock when the share is exhausted.
  uint32_t allocate(uint32_t client, uint32_t address, uint32_t hint) noexcept;

  // A free port of `block` for `proto`, searching from offset random % block_size;
  // 0 when the block has no free port for that protocol (or is not allocated).
  // parity 0 or 1: a port of that parity while the block has one free (RFC
  // 4787 REQ-4, port parity preservation), else any. Cancels the block's
  // hold-down.
  uint16_t take_port(uint32_t block, L4Proto proto, uint32_t random, int parity = -1) noexcept;

  // Puts back a port; the block's last port starts its hold-down at now_ms.
  // A port not in use is ignored.
  void put_port(uint32_t block, L4Proto proto, uint16_t port, uint64_t now_ms) noexcept;

  uint32_t ports_in_use(uint32_t block) const noexcept { return blocks_[block].in_use; }

  // Returns to the pool up to `budget` blocks that have been empty for
  // hold_down_ms by now_ms, oldest first, calling released(block, client) for
  // each before it goes back to its address's free FIFO. Blocks reused
  // meanwhile are no longer in hold-down, so they are skipped. released must not
  // modify this PortBlocks. Returns the number released.
  template <class F>
  unsigned expire(uint64_t now_ms, unsigned budget, F&& released) noexcept {
    unsigned n = 0;
    for (; n < budget; n++) {
      const uint32_t block = pop_expired(now_ms);
      if (block == kNoBlock) break;
      released(block, blocks_[block].client);
      push_free(block);
    }
    return n;
  }

  // Occupancy, for stats.
  uint32_t free_blocks(uint32_t address) const noexcept { return free_[address].count; }
  uint32_t free_blocks() const noexcept { return free_total_; }
  uint32_t allocated_blocks() const noexcept { return blocks() - free_total_; }  // used + held
  uint32_t held_blocks() const noexcept { return held_count_; }

 private:
  enum : uint8_t { kFree = 0, kUsed = 1, kHeld = 2 };

  struct Block {           // 32 bytes
    uint64_t empty_since;  // ms, while held
    uint32_t client;       // while used or held
    uint32_t in_use;       // ports in use over all protocols
    uint32_t prev;         // hold-down FIFO (while held)
    uint32_t next;         // free FIFO (while free) or hold-down FIFO (while held)
    uint32_t address;      // index in addresses_
    uint16_t first_port;
    uint8_t state;
  };
  static_assert(sizeof(Block) == 32);

  struct FreeFifo {  // per address, linked through Block::next
    uint32_t head = kNoBlock;
    uint32_t tail = kNoBlock;
    uint32_t count = 0;
  };

  uint64_t* bitmap(uint32_t block, L4Proto proto) noexcept {
    return &bitmaps_[(static_cast<size_t>(block) * kL4Protos + static_cast<size_t>(proto)) *
                     words_];
  }
  bool in_block(const Block& b, uint16_t port) const noexcept {
    return port >= b.first_port && port - b.first_port < block_size_;
  }
  void mark_taken(uint32_t block) noexcept;
  void push_free(uint32_t block) noexcept;
  uint32_t pop_free(uint32_t address) noexcept;
  void unlink_held(uint32_t block) noexcept;
  uint32_t pop_expired(uint64_t now_ms) noexcept;

  std::vector<Block> blocks_;
  std::vector<uint64_t> bitmaps_;  // [block][proto][words_], bit set = in use
  std::vector<uint32_t> addresses_;
  std::vector<FreeFifo> free_;      // per address
  std::vector<uint64_t> has_free_;  // per address: bit set = free_[a].count > 0
  uint32_t words_ = 0;              // bitmap words per block and protocol
  uint32_t free_total_ = 0;
  uint32_t held_head_ = kNoBlock;  // hold-down FIFO, oldest first
  uint32_t held_tail_ = kNoBlock;
  uint32_t held_count_ = 0;
  uint32_t hold_down_ms_;
  uint32_t blocks_per_address_;  // over all workers
  uint32_t per_address_;         // in this share
  unsigned worker_;
  unsigned workers_;
  uint16_t port_min_;
  uint16_t block_size_;
};

}  // namespace sluice
