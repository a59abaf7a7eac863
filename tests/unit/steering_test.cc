// Steering (dataplane/steering.h): sluice's table-driven Toeplitz hash must
// be the one a NIC computes for RSS on the IPv4 source address, which DPDK's
// reference implementation (rte_softrss) stands in for, and the owner it
// gives must be the worker polling the queue the redirection table picks.
#include <catch2/catch.hpp>

#include <rte_thash.h>

#include <random>

#include "steering.h"
#include "support.h"

namespace sluice::test {
namespace {

TEST_CASE("steering: the hash is DPDK's Toeplitz on the source address", "[steering]") {
  std::mt19937 rng(7);
  std::vector<uint32_t> addresses = {0, ip("10.16.0.1"), ip("10.31.255.254"), ~uint32_t{0}};
  for (int i = 0; i < 100000; i++)
    addresses.push_back(static_cast<uint32_t>(rng()));
  for (uint32_t a : addresses) {
    uint32_t tuple = a;
    const uint32_t expected = rte_softrss(&tuple, 1, kRssKey);
    if (rss_hash_ipv4(a) != expected) FAIL("address " << ip_text(a));
  }
}

TEST_CASE("steering: the owner is the worker polling the queue RSS picks", "[steering]") {
  std::mt19937 rng(8);
  for (unsigned workers : {1u, 2u, 3u, 4u, 6u, 8u}) {
    for (uint32_t reta_size : {64u, 128u, 512u}) {
      for (int i = 0; i < 2000; i++) {
        const uint32_t a = 0x0a100000 | (rng() & 0x000fffff);  // 10.16.0.0/12
        // The NIC: queue = reta[hash mod reta size]; worker k polls queue q when q mod W = k.
        const uint16_t queue =
            rss_reta_entry(rss_hash_ipv4(a) & (reta_size - 1), static_cast<uint16_t>(workers));
        if (queue % workers != client_owner(a, workers)) {
          FAIL("W " << workers << " reta " << reta_size << " address " << ip_text(a));
        }
      }
    }
  }
}

TEST_CASE("steering: clients spread over the workers", "[steering]") {
  // 20,000 clients of 10.16.0.0/12 over 4 workers: each within 10% of a quarter.
  unsigned count[4] = {};
  for (uint32_t i = 0; i < 20000; i++)
    count[client_owner(0x0a100000 + i * 7, 4)]++;
  for (unsigned c : count) {
    CHECK(c > 4500);
    CHECK(c < 5500);
  }
}

}  // namespace
}  // namespace sluice::test
