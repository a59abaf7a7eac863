#include "steering.h"

#include <array>
#include <bit>
#include <map>

namespace sluice {

// Any 40 bytes with enough set bits spread out will do; this one is sluice's.
const uint8_t kRssKey[kRssKeyLen] = {
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
    0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
    0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
};

namespace {

// The 32-bit window of the key that starts at bit `bit` (bit 0: the most
// significant bit of byte 0).
uint32_t key_window(unsigned bit) {
  uint64_t w = 0;
  for (unsigned b = 0; b < 8; b++)
    w = (w << 8) | kRssKey[bit / 8 + b];
  return static_cast<uint32_t>(w >> (32 - bit % 8));
}

// table[k][v]: the hash of an address whose byte k (0: the most significant)
// is v and whose other bytes are 0.
std::array<std::array<uint32_t, 256>, 4> make_tables() {
  std::array<std::array<uint32_t, 256>, 4> t{};
  for (unsigned k = 0; k < 4; k++) {
    for (unsigned v = 0; v < 256; v++) {
      uint32_t h = 0;
      for (unsigned bit = 0; bit < 8; bit++) {
        if (v & (0x80u >> bit)) h ^= key_window(k * 8 + bit);
      }
      t[k][v] = h;
    }
  }
  return t;
}

const std::array<std::array<uint32_t, 256>, 4> kTables = make_tables();

// W rules on the block-number bits, if they say the same as owner.
std::vector<PortRule> periodic_rules(const PortOwner& owner) {
  const unsigned w = owner.workers;
  if (!std::has_single_bit(w) || !std::has_single_bit(unsigned{owner.block_size})) return {};
  const auto mask = static_cast<uint16_t>((w - 1) * owner.block_size);
  std::map<uint16_t, unsigned> worker_of;  // value -> worker
  for (uint32_t port = 0; port <= 0xffff; port++) {
    const unsigned o = owner.owner(static_cast<uint16_t>(port));
    if (o >= w) continue;
    const auto [it, added] = worker_of.emplace(static_cast<uint16_t>(port & mask), o);
    if (!added && it->second != o) return {};
  }
  std::vector<PortRule> rules;
  for (const auto& [value, worker] : worker_of)
    rules.push_back({value, mask, worker});
  return rules;
}

// The ports [first, first + 2^bits), split until each part has one owner.
bool prefix_rules(const PortOwner& owner, uint32_t first, unsigned bits, size_t max_rules,
                  std::vector<PortRule>* rules) {
  unsigned found = owner.workers;
  bool mixed = false;
  for (uint32_t port = first; port < first + (1u << bits) && !mixed; port++) {
    const unsigned o = owner.owner(static_cast<uint16_t>(port));
    if (o >= owner.workers) continue;
    if (found == owner.workers) found = o;
    mixed = o != found;
  }
  if (found == owner.workers) return true;  // nobody's
  if (!mixed) {
    if (rules->size() == max_rules) return false;
    rules->push_back({static_cast<uint16_t>(first), static_cast<uint16_t>(0xffff << bits), found});
    return true;
  }
  return prefix_rules(owner, first, bits - 1, max_rules, rules) &&
         prefix_rules(owner, first + (1u << (bits - 1)), bits - 1, max_rules, rules);
}

}  // namespace

std::vector<PortRule> port_block_rules(const PortOwner& owner, size_t max_rules) {
  if (owner.workers == 0 || owner.blocks == 0) return {};
  std::vector<PortRule> rules = periodic_rules(owner);
  if (!rules.empty()) return rules.size() <= max_rules ? rules : std::vector<PortRule>{};
  if (!prefix_rules(owner, 0, 16, max_rules, &rules)) rules.clear();
  return rules;
}

uint32_t rss_hash_ipv4(uint32_t ip) noexcept {
  return kTables[0][ip >> 24] ^ kTables[1][(ip >> 16) & 0xff] ^ kTables[2][(ip >> 8) & 0xff] ^
         kTables[3][ip & 0xff];
}

}  // namespace sluice
