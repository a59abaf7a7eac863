// csum_update16 and ttl_decrement (dataplane/packet.h) against a full
// recomputation of the IPv4 header checksum.
#include <catch2/catch.hpp>

#include <rte_ip.h>

#include <cstring>
#include <random>

#include "packet.h"
#include "packet_builder.h"

namespace sluice::test {
namespace {

// A random 20-byte IPv4 header with a correct checksum.
rte_ipv4_hdr random_header(std::mt19937& rng) {
  uint16_t w[10];
  for (uint16_t& x : w)
    x = static_cast<uint16_t>(rng());
  rte_ipv4_hdr h;
  std::memcpy(&h, w, sizeof(h));
  h.version_ihl = 0x45;
  h.hdr_checksum = 0;
  h.hdr_checksum = rte_ipv4_cksum(&h);
  return h;
}

uint16_t recomputed(rte_ipv4_hdr h) {
  h.hdr_checksum = 0;
  return rte_ipv4_cksum(&h);
}

TEST_CASE("csum_update16: RFC 1624 section 4 example", "[checksum]") {
  // HC = 0xdd2f, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000 (not 0xffff).
  CHECK(csum_update16(0xdd2f, 0x5555, 0x3285) == 0x0000);
}

TEST_CASE("csum_update16: equals a full recomputation for random header words", "[checksum]") {
  std::mt19937 rng(1624);
  int mismatches = 0;
  for (int i = 0; i < 20000; i++) {
    rte_ipv4_hdr h = random_header(rng);
    uint16_t w[10];
    std::memcpy(w, &h, sizeof(h));
    int at = static_cast<int>(rng() % 9);
    if (at >= 5) at++;  // any word but the checksum itself
    const uint16_t old_word = w[at];
    const uint16_t new_word0 =
        (i % 7 == 0) ? static_cast<uint16_t>(~old_word) : static_cast<uint16_t>(rng());
    uint16_t changed = new_word0;
    if (at == 0) {  // keep version 4, IHL 5: the recomputation reads the IHL
      uint8_t b[2];
      std::memcpy(b, &changed, 2);
      b[0] = 0x45;
      std::memcpy(&changed, b, 2);
    }
    w[at] = changed;
    std::memcpy(&h, w, sizeof(h));
    h.hdr_checksum = csum_update16(h.hdr_checksum, old_word, changed);
    if (h.hdr_checksum != recomputed(h) || !checksum_ok(&h, sizeof(h))) {
      if (++mismatches <= 5) {
        INFO("word " << at << " " << old_word << " -> " << changed);
        CHECK(h.hdr_checksum == recomputed(h));
        CHECK(checksum_ok(&h, sizeof(h)));
      }
    }
  }
  CHECK(mismatches == 0);
}

TEST_CASE("csum_update16: a word changed to itself leaves the checksum alone", "[checksum]") {
  std::mt19937 rng(7);
  for (int i = 0; i < 1000; i++) {
    const auto c = static_cast<uint16_t>(rng());
    const auto w = static_cast<uint16_t>(rng());
    // 0x0000 and 0xffff are the same number in one's complement.
    const uint16_t got = csum_update16(c, w, w);
    CHECK((got == c || (got ^ c) == 0xffff));
  }
}

TEST_CASE("ttl_decrement: TTL - 1 and the checksum of a full recomputation", "[checksum]") {
  std::mt19937 rng(1812);
  int mismatches = 0;
  for (int i = 0; i < 20000; i++) {
    rte_ipv4_hdr h = random_header(rng);
    h.time_to_live = static_cast<uint8_t>(2 + i % 254);
    h.hdr_checksum = recomputed(h);
    const rte_ipv4_hdr before = h;
    ttl_decrement(&h);
    rte_ipv4_hdr expect = before;
    expect.time_to_live--;
    if (h.time_to_live != before.time_to_live - 1 || h.hdr_checksum != recomputed(expect) ||
        std::memcmp(&h, &expect, offsetof(rte_ipv4_hdr, hdr_checksum)) != 0 ||
        !checksum_ok(&h, sizeof(h))) {
      mismatches++;
    }
  }
  CHECK(mismatches == 0);
}

}  // namespace
}  // namespace sluice::test
