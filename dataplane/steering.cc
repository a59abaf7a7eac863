#include "steering.h"

#include <array>

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

}  // namespace

uint32_t rss_hash_ipv4(uint32_t ip) noexcept {
  return kTables[0][ip >> 24] ^ kTables[1][(ip >> 16) & 0xff] ^ kTables[2][(ip >> 8) & 0xff] ^
         kTables[3][ip & 0xff];
}

}  // namespace sluice
