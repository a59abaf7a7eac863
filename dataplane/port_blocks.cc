#include "port_blocks.h"

#include <algorithm>
#include <bit>

namespace sluice {

namespace {

constexpr uint32_t kNoBit = ~uint32_t{0};
constexpr size_t kMaxAddresses = 65536;

// First bit set in (invert ? ~words : words) & mask at or after `start`,
// wrapping round to the bits before it; kNoBit when there is none.
// start < nwords * 64.
template <bool Invert>
uint32_t find_from(const uint64_t* words, uint32_t nwords, uint32_t start,
                   uint64_t mask = ~uint64_t{0}) noexcept {
  const uint32_t first = start / 64;
  const uint64_t high = ~uint64_t{0} << (start % 64);  // bits at or after start in `first`
  auto load = [&](uint32_t i) { return (Invert ? ~words[i] : words[i]) & mask; };
  if (const uint64_t w = load(first) & high; w != 0)
    return first * 64 + static_cast<uint32_t>(std::countr_zero(w));
  for (uint32_t k = 1; k < nwords; k++) {
    const uint32_t i = first + k < nwords ? first + k : first + k - nwords;
    if (const uint64_t w = load(i); w != 0)
      return i * 64 + static_cast<uint32_t>(std::countr_zero(w));
  }
  if (const uint64_t w = load(first) & ~high; w != 0)
    return first * 64 + static_cast<uint32_t>(std::countr_zero(w));
  return kNoBit;
}

}  // namespace

uint32_t blocks_per_address(const PoolConfig& cfg, unsigned workers) noexcept {
  const uint32_t span = 65536 - uint32_t{cfg.port_min};
  if (workers == 0 || cfg.port_min == 0 || cfg.block_size == 0 || cfg.block_size > span ||
      cfg.addresses.size() > kMaxAddresses)
    return 0;
  return span / cfg.block_size;
}

bool check_pool(const PoolConfig& cfg, unsigned workers, std::string* error) {
  if (cfg.addresses.empty()) {
    *error = "the address pool is empty";
    return false;
  }
  if (cfg.addresses.size() > kMaxAddresses) {
    *error = "the address pool has " + std::to_string(cfg.addresses.size()) +
             " addresses, more than 65536";
    return false;
  }
  std::vector<uint32_t> sorted = cfg.addresses;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    *error = "the address pool lists an address twice";
    return false;
  }
  if (cfg.port_min == 0) {
    *error = "port_min must be at least 1 (port 0 is never handed out)";
    return false;
  }
  if (cfg.block_size == 0 || cfg.block_size > 65536 - uint32_t{cfg.port_min}) {
    *error = "block_size " + std::to_string(cfg.block_size) + " is not in 1.." +
             std::to_string(65536 - uint32_t{cfg.port_min});
    return false;
  }
  if (workers == 0) {
    *error = "no workers";
    return false;
  }
  const uint32_t per_address = blocks_per_address(cfg, workers);
  if (per_address < workers) {
    *error = std::to_string(per_address) + " blocks per address cannot be shared by " +
             std::to_string(workers) + " workers: lower block_size or port_min";
    return false;
  }
  return true;
}

PoolIndex::PoolIndex(const std::vector<uint32_t>& addresses) {
  size_t size = 2;
  while (size < 2 * addresses.size())
    size *= 2;
  slots_.assign(size, Slot{0, -1});
  mask_ = static_cast<uint32_t>(size - 1);
  for (size_t k = 0; k < addresses.size(); k++) {
    uint32_t i = hash(addresses[k]) & mask_;
    while (slots_[i].index >= 0 && slots_[i].ip != addresses[k])
      i = (i + 1) & mask_;
    if (slots_[i].index < 0) slots_[i] = Slot{addresses[k], static_cast<int32_t>(k)};
  }
}

PortBlocks::PortBlocks(const PoolConfig& cfg, unsigned worker, unsigned workers)
    : addresses_(cfg.addresses),
      hold_down_ms_(cfg.hold_down_ms),
      blocks_per_address_(blocks_per_address(cfg, workers)),
      per_address_(0),
      worker_(worker),
      workers_(workers),
      port_min_(cfg.port_min),
      block_size_(cfg.block_size) {
  if (blocks_per_address_ > worker)
    per_address_ = (blocks_per_address_ - worker + workers - 1) / workers;
  const uint32_t n = addresses() * per_address_;  // < 65536 * 65536: no overflow
  words_ = (uint32_t{block_size_} + 63) / 64;
  blocks_.resize(n);
  bitmaps_.assign(static_cast<size_t>(n) * kL4Protos * words_, 0);
  free_.resize(addresses());
  has_free_.assign((addresses() + 63) / 64, 0);

  // Bits past block_size in a bitmap's last word are permanently "in use", so
  // the search never finds them.
  const uint64_t padding = block_size_ % 64 ? ~uint64_t{0} << (block_size_ % 64) : 0;
  for (size_t i = 0; words_ > 0 && i < bitmaps_.size(); i += words_)
    bitmaps_[i + words_ - 1] = padding;

  for (uint32_t a = 0; a < addresses(); a++) {
    for (uint32_t j = 0; j < per_address_; j++) {
      const uint32_t id = a * per_address_ + j;
      const uint32_t b = worker + j * workers;  // block number on the address
      Block& blk = blocks_[id];
      blk = Block{};
      blk.address = a;
      blk.first_port = static_cast<uint16_t>(port_min_ + b * block_size_);
      blk.prev = blk.next = kNoBlock;
      push_free(id);
    }
  }
}

void PortBlocks::push_free(uint32_t block) noexcept {
  Block& b = blocks_[block];
  FreeFifo& f = free_[b.address];
  b.state = kFree;
  b.next = kNoBlock;
  if (f.tail != kNoBlock)
    blocks_[f.tail].next = block;
  else
    f.head = block;
  f.tail = block;
  if (f.count++ == 0) has_free_[b.address / 64] |= uint64_t{1} << (b.address % 64);
  free_total_++;
}

uint32_t PortBlocks::pop_free(uint32_t address) noexcept {
  FreeFifo& f = free_[address];
  const uint32_t block = f.head;
  f.head = blocks_[block].next;
  if (f.head == kNoBlock) f.tail = kNoBlock;
  if (--f.count == 0) has_free_[address / 64] &= ~(uint64_t{1} << (address % 64));
  free_total_--;
  return block;
}

uint32_t PortBlocks::allocate(uint32_t client, uint32_t address, uint32_t hint) noexcept {
  if (free_total_ == 0) return kNoBlock;
  if (address >= addresses() || free_[address].count == 0) {
    address = find_from<false>(has_free_.data(), static_cast<uint32_t>(has_free_.size()),
                               hint % addresses());
    if (address == kNoBit) return kNoBlock;  // not reached: free_total_ > 0
  }
  const uint32_t block = pop_free(address);
  Block& b = blocks_[block];
  b.state = kUsed;
  b.client = client;
  return block;
}

void PortBlocks::unlink_held(uint32_t block) noexcept {
  Block& b = blocks_[block];
  if (b.prev != kNoBlock)
    blocks_[b.prev].next = b.next;
  else
    held_head_ = b.next;
  if (b.next != kNoBlock)
    blocks_[b.next].prev = b.prev;
  else
    held_tail_ = b.prev;
  b.prev = b.next = kNoBlock;
  held_count_--;
}

void PortBlocks::mark_taken(uint32_t block) noexcept {
  Block& b = blocks_[block];
  b.in_use++;
  if (b.state == kHeld) {
    unlink_held(block);
    b.state = kUsed;
  }
}

uint16_t PortBlocks::take_port(uint32_t block, L4Proto proto, uint32_t random,
                               int parity) noexcept {
  const Block& b = blocks_[block];
  if (b.state == kFree) return 0;
  uint64_t* bits = bitmap(block, proto);
  const uint32_t start = random % block_size_;
  uint32_t bit = kNoBit;
  if (parity >= 0) {
    // Bits whose port has the wanted parity: every other bit, from the first.
    const bool odd_bits = ((b.first_port ^ static_cast<unsigned>(parity)) & 1) != 0;
    bit = find_from<true>(bits, words_, start,
                          odd_bits ? 0xaaaaaaaaaaaaaaaaull : 0x5555555555555555ull);
  }
  if (bit == kNoBit) bit = find_from<true>(bits, words_, start);
  if (bit == kNoBit) return 0;
  bits[bit / 64] |= uint64_t{1} << (bit % 64);
  mark_taken(block);
  return static_cast<uint16_t>(b.first_port + bit);
}

void PortBlocks::put_port(uint32_t block, L4Proto proto, uint16_t port, uint64_t now_ms) noexcept {
  Block& b = blocks_[block];
  if (b.state == kFree || !in_block(b, port)) return;
  const uint32_t bit = port - b.first_port;
  uint64_t& word = bitmap(block, proto)[bit / 64];
  const uint64_t mask = uint64_t{1} << (bit % 64);
  if (!(word & mask)) return;
  word &= ~mask;
  if (--b.in_use > 0) return;
  // Last port: start the hold-down at the tail of the FIFO.
  b.state = kHeld;
  b.empty_since = now_ms;
  b.next = kNoBlock;
  b.prev = held_tail_;
  if (held_tail_ != kNoBlock)
    blocks_[held_tail_].next = block;
  else
    held_head_ = block;
  held_tail_ = block;
  held_count_++;
}

uint32_t PortBlocks::pop_expired(uint64_t now_ms) noexcept {
  const uint32_t block = held_head_;
  if (block == kNoBlock || now_ms < blocks_[block].empty_since + hold_down_ms_) return kNoBlock;
  unlink_held(block);
  blocks_[block].state = kUsed;  // until expire() hands it to push_free()
  return block;
}

}  // namespace sluice
