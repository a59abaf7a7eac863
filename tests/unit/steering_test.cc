// Steering (dataplane/steering.h): sluice's table-driven Toeplitz hash must
// be the one a NIC computes for RSS on the IPv4 source address, which DPDK's
// reference implementation (rte_softrss) stands in for, and the owner it
// gives must be the worker polling the queue the redirection table picks.
// On the outside, the flow rules must send every owned port to the owner of
// its block.
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

TEST_CASE("steering: port-block rules send every owned port to its owner", "[steering]") {
  struct Layout {
    uint16_t port_min;
    uint16_t block_size;
    unsigned workers;
    size_t rules;  // expected count; 0: any
  };
  const Layout layouts[] = {
      {1024, 128, 2, 2}, {1024, 128, 4, 4}, {1024, 64, 8, 8},  {1024, 1024, 2, 2},
      {1025, 128, 2, 0}, {1024, 100, 2, 0}, {1024, 128, 3, 0}, {2000, 500, 3, 0},
  };
  for (const Layout& l : layouts) {
    PoolConfig pool;
    pool.addresses = {0xc6336401};
    pool.port_min = l.port_min;
    pool.block_size = l.block_size;
    const PortOwner owner(pool, l.workers);
    const std::vector<PortRule> rules = port_block_rules(owner, 4096);
    INFO("port_min " << l.port_min << " block " << l.block_size << " workers " << l.workers);
    REQUIRE_FALSE(rules.empty());
    if (l.rules != 0) CHECK(rules.size() == l.rules);
    unsigned owned = 0;
    for (uint32_t port = 0; port <= 0xffff; port++) {
      const unsigned o = owner.owner(static_cast<uint16_t>(port));
      if (o >= l.workers) continue;
      owned++;
      unsigned matched = 0;
      for (const PortRule& r : rules) {
        if ((port & r.mask) != r.value) continue;
        matched++;
        if (r.worker != o) FAIL("port " << port << " goes to " << r.worker << ", owner " << o);
      }
      if (matched != 1) FAIL("port " << port << " matches " << matched << " rules");
    }
    CHECK(owned == owner.blocks * l.block_size);
  }
}

TEST_CASE("steering: too many port-block rules give none", "[steering]") {
  PoolConfig pool;
  pool.addresses = {0xc6336401};
  pool.port_min = 1024;
  pool.block_size = 100;  // not a power of two: many prefixes
  const PortOwner owner(pool, 2);
  CHECK(port_block_rules(owner, 16).empty());
  pool.block_size = 128;
  CHECK(port_block_rules(PortOwner(pool, 4), 3).empty());
  CHECK(port_block_rules(PortOwner(pool, 4), 4).size() == 4);
}

}  // namespace
}  // namespace sluice::test
