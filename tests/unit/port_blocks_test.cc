// Port-block allocation (dataplane/port_blocks.h): geometry, worker shares,
// paired pooling, port choice within a block, hold-down and PoolIndex.
#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "port_blocks.h"
#include "support.h"

namespace sluice::test {
namespace {

constexpr L4Proto kProtos[] = {L4Proto::tcp, L4Proto::udp, L4Proto::icmp};

PoolConfig pool_of(unsigned addresses, uint16_t port_min, uint16_t block_size,
                   uint32_t hold_down_ms = 120000) {
  return test::pool_of(ip("192.0.2.0"), addresses, port_min, block_size, hold_down_ms);
}

// Every port of `block` for `proto`, taken with random offsets.
std::vector<uint16_t> take_all(PortBlocks& pb, uint32_t block, L4Proto proto, std::mt19937& rng) {
  std::vector<uint16_t> ports;
  for (uint16_t p; (p = pb.take_port(block, proto, rng())) != 0;)
    ports.push_back(p);
  return ports;
}

struct Geometry {
  uint16_t port_min;
  uint16_t block_size;
  unsigned workers;
  uint32_t blocks_per_address;  // expected
};

const std::vector<Geometry> kGeometries = {
    {1024, 128, 1, 504},   // the default: no remainder
    {1024, 128, 4, 504},   //
    {1024, 100, 4, 645},   // 64512 = 645 * 100 + 12: ports 65524.. unused
    {4096, 1000, 3, 61},   // 61440 = 61 * 1000 + 440
    {1, 65535, 1, 1},      // one block of every port but 0
    {1024, 64512, 1, 1},   // one block of every port from 1024
    {60000, 100, 7, 55},   // 5536 = 55 * 100 + 36; 55 blocks over 7 workers
    {1024, 1, 8, 64512},   // one port per block
    {32768, 32768, 1, 1},  // the top half
    {65535, 1, 1, 1},      // the single port 65535
};

TEST_CASE("PortBlocks: geometry, disjoint and covering worker shares, PortOwner agrees",
          "[port_blocks]") {
  for (const Geometry& g : kGeometries) {
    CAPTURE(g.port_min, g.block_size, g.workers);
    const PoolConfig cfg = pool_of(3, g.port_min, g.block_size);
    REQUIRE(blocks_per_address(cfg, g.workers) == g.blocks_per_address);
    const uint32_t top = g.port_min + g.blocks_per_address * g.block_size;  // first unused
    const PortOwner owner(cfg, g.workers);

    // (address index, block number on the address) -> owning worker
    std::map<std::pair<uint32_t, uint32_t>, unsigned> owned;
    uint32_t total = 0;
    for (unsigned k = 0; k < g.workers; k++) {
      const PortBlocks pb(cfg, k, g.workers);
      REQUIRE(pb.addresses() == 3);
      total += pb.blocks();
      for (uint32_t b = 0; b < pb.blocks(); b++) {
        const uint32_t first = pb.first_port(b);
        REQUIRE(first >= g.port_min);
        REQUIRE(first + g.block_size <= top);
        REQUIRE((first - g.port_min) % g.block_size == 0);
        const uint32_t number = (first - g.port_min) / g.block_size;
        REQUIRE(number % g.workers == k);
        REQUIRE(pb.address(b) == cfg.addresses[pb.address_index(b)]);
        REQUIRE(owned.emplace(std::pair{pb.address_index(b), number}, k).second);  // disjoint
        REQUIRE(pb.is_free(b));
        REQUIRE(pb.block_of(pb.address_index(b), static_cast<uint16_t>(first)) == b);
      }
      CHECK(pb.free_blocks() == pb.blocks());
      CHECK(pb.allocated_blocks() == 0);
      CHECK(pb.held_blocks() == 0);
    }
    CHECK(total == 3 * g.blocks_per_address);  // covering
    CHECK(owned.size() == total);

    // Every port: PortOwner names the worker whose share holds it, and only
    // that worker's block_of() finds it.
    std::vector<PortBlocks> shares;
    for (unsigned k = 0; k < g.workers; k++)
      shares.emplace_back(cfg, k, g.workers);
    for (uint32_t port = 0; port <= 65535; port++) {
      const unsigned w = owner.owner(static_cast<uint16_t>(port));
      if (port < g.port_min || port >= top) {
        REQUIRE(w == g.workers);
      } else {
        const uint32_t number = (port - g.port_min) / g.block_size;
        REQUIRE(w == owned.at({2, number}));
      }
      for (unsigned k = 0; k < g.workers; k++) {
        const uint32_t b = shares[k].block_of(2, static_cast<uint16_t>(port));
        if (k != w) {
          REQUIRE(b == kNoBlock);
        } else {
          REQUIRE(b != kNoBlock);
          REQUIRE(shares[k].address_index(b) == 2);
          REQUIRE(port - shares[k].first_port(b) < g.block_size);
        }
      }
    }
    CHECK(shares[0].block_of(3, g.port_min) == kNoBlock);  // no such address
  }
}

TEST_CASE("PortBlocks: only ports in [port_min, last full block] are handed out, each once",
          "[port_blocks]") {
  // 5536 ports from 60000: 55 blocks of 100, ports 65500..65535 unused.
  const PoolConfig cfg = pool_of(2, 60000, 100);
  constexpr unsigned kWorkers = 3;
  std::mt19937 rng(1);
  for (L4Proto proto : kProtos) {
    std::set<std::pair<uint32_t, uint16_t>> seen;  // (address, port)
    for (unsigned k = 0; k < kWorkers; k++) {
      PortBlocks pb(cfg, k, kWorkers);
      for (uint32_t n = 0; n < pb.blocks(); n++) {
        const uint32_t b = pb.allocate(100 + n, kNoAddress, n);
        REQUIRE(b != kNoBlock);
        for (uint16_t port : take_all(pb, b, proto, rng))
          REQUIRE(seen.emplace(pb.address(b), port).second);
      }
      CHECK(pb.allocate(1, kNoAddress, 0) == kNoBlock);
    }
    REQUIRE(seen.size() == 2 * 5500);
    CHECK(seen.begin()->second == 60000);
    CHECK(seen.rbegin()->second == 65499);
  }
}

TEST_CASE("PortBlocks: take_port hands out every port of a block once per protocol",
          "[port_blocks]") {
  const uint16_t size = GENERATE(as<uint16_t>{}, 1, 2, 63, 64, 65, 128, 1000, 4096);
  CAPTURE(size);
  PortBlocks pb(pool_of(1, 1024, size), 0, 1);
  const uint32_t b = pb.allocate(42, kNoAddress, 0);
  REQUIRE(b != kNoBlock);
  std::mt19937 rng(size);
  uint32_t taken = 0;
  for (L4Proto proto : kProtos) {  // each protocol independently covers the whole block
    const std::vector<uint16_t> ports = take_all(pb, b, proto, rng);
    const std::set<uint16_t> distinct(ports.begin(), ports.end());
    CHECK(ports.size() == size);
    CHECK(distinct.size() == size);
    CHECK(*distinct.begin() == pb.first_port(b));
    CHECK(*distinct.rbegin() == pb.first_port(b) + size - 1);
    CHECK(pb.take_port(b, proto, 0) == 0);
    taken += size;
    CHECK(pb.ports_in_use(b) == taken);
  }
  // A port put back is the only one to take again.
  const uint16_t port = static_cast<uint16_t>(pb.first_port(b) + size / 2);
  pb.put_port(b, L4Proto::udp, port, 0);
  CHECK(pb.ports_in_use(b) == taken - 1);
  CHECK(pb.take_port(b, L4Proto::tcp, rng()) == 0);
  CHECK(pb.take_port(b, L4Proto::udp, rng()) == port);
  CHECK(pb.take_port(b, L4Proto::udp, rng()) == 0);
}

TEST_CASE("PortBlocks: the random offset chooses the port, then the next free one, wrapping",
          "[port_blocks]") {
  PortBlocks pb(pool_of(1, 1024, 128), 0, 1);
  const uint32_t b = pb.allocate(1, kNoAddress, 0);
  const uint16_t first = pb.first_port(b);
  REQUIRE(first == 1024);

  struct Step {
    L4Proto proto;
    uint32_t random;
    uint16_t port;  // expected
  };
  const std::vector<Step> steps = {
      {L4Proto::tcp, 0, 1024},           // offset 0
      {L4Proto::tcp, 5, 1029},           // offset 5
      {L4Proto::tcp, 5 + 128, 1030},     // offset 5 again (mod 128), taken: the next
      {L4Proto::tcp, 0xffffffff, 1151},  // offset 2^32-1 mod 128 = 127, the last port
      {L4Proto::tcp, 127, 1025},         // last port taken: wraps past 1024 (taken) to 1025
      {L4Proto::udp, 5, 1029},           // udp has its own bitmap
      {L4Proto::icmp, 127, 1151},        // and icmp too
      {L4Proto::tcp, 63, 1087},          // across the word boundary
      {L4Proto::tcp, 63, 1088},          //
      {L4Proto::tcp, 64, 1089},          //
  };
  for (const Step& s : steps) {
    CAPTURE(static_cast<int>(s.proto), s.random);
    CHECK(pb.take_port(b, s.proto, s.random) == s.port);
  }
  CHECK(pb.ports_in_use(b) == steps.size());

  // Different random values spread over the block.
  PortBlocks fresh(pool_of(1, 1024, 128), 0, 1);
  const uint32_t c = fresh.allocate(1, kNoAddress, 0);
  std::set<uint16_t> chosen;
  std::mt19937 rng(7);
  for (int i = 0; i < 16; i++) {
    const uint16_t p = fresh.take_port(c, L4Proto::udp, rng());
    chosen.insert(p);
    fresh.put_port(c, L4Proto::udp, p, 0);
  }
  CHECK(chosen.size() > 8);
}

TEST_CASE("PortBlocks: put_port frees exactly the port of its protocol and block",
          "[port_blocks]") {
  PortBlocks pb(pool_of(1, 1024, 128), 0, 2);  // worker 0: blocks 1024.., 1280.., ...
  const uint32_t b = pb.allocate(9, kNoAddress, 0);
  REQUIRE(pb.first_port(b) == 1024);
  CHECK(pb.take_port(b, L4Proto::tcp, 1100 - 1024) == 1100);
  CHECK(pb.take_port(b, L4Proto::udp, 1100 - 1024) == 1100);  // another protocol
  CHECK(pb.ports_in_use(b) == 2);
  CHECK(pb.take_port(b, L4Proto::tcp, 1100 - 1024) == 1101);  // a port in use is skipped

  pb.put_port(b, L4Proto::icmp, 1100, 0);  // not in use for icmp: ignored
  pb.put_port(b, L4Proto::tcp, 1152, 0);   // not in the block: ignored
  pb.put_port(b, L4Proto::tcp, 1023, 0);   // below the block: ignored
  CHECK(pb.ports_in_use(b) == 3);
  pb.put_port(b, L4Proto::tcp, 1100, 0);
  CHECK(pb.ports_in_use(b) == 2);
  CHECK(pb.take_port(b, L4Proto::tcp, 1100 - 1024) == 1100);  // free again

  // A free block hands out nothing.
  const uint32_t other = b + 1;
  REQUIRE(pb.is_free(other));
  CHECK(pb.take_port(other, L4Proto::tcp, 0) == 0);
  CHECK(pb.ports_in_use(other) == 0);
}

TEST_CASE("PortBlocks: port parity is kept while the block has a port of that parity",
          "[port_blocks]") {
  PortBlocks pb(pool_of(1, 1024, 16), 0, 1);
  const uint32_t b = pb.allocate(9, kNoAddress, 0);
  REQUIRE(pb.first_port(b) == 1024);
  // Eight even ports (1024, 1026, ... 1038) from any starting offset.
  std::set<uint16_t> even;
  for (uint32_t r = 0; r < 8; r++) {
    const uint16_t port = pb.take_port(b, L4Proto::udp, r * 5 + 1, 0);
    CHECK(port % 2 == 0);
    even.insert(port);
  }
  CHECK(even.size() == 8);
  // No even port left: an odd one rather than none.
  const uint16_t odd = pb.take_port(b, L4Proto::udp, 3, 0);
  CHECK(odd % 2 == 1);
  // Odd asked for, odd given, in a block that starts on an odd port too.
  PortBlocks odd_start(pool_of(1, 1025, 16), 0, 1);
  const uint32_t c = odd_start.allocate(9, kNoAddress, 0);
  REQUIRE(odd_start.first_port(c) == 1025);
  for (uint32_t r = 0; r < 8; r++)
    CHECK(odd_start.take_port(c, L4Proto::udp, r, 1) % 2 == 1);
  CHECK(odd_start.take_port(c, L4Proto::udp, 0, 1) % 2 == 0);
}

TEST_CASE("PortBlocks: paired pooling stays on the client's address, then falls back",
          "[port_blocks]") {
  // 3 addresses, 4 blocks of 16128 each, two workers: 2 blocks per address each.
  PortBlocks pb(pool_of(3, 1024, 16128), 1, 2);
  REQUIRE(pb.blocks() == 6);

  struct Step {
    uint32_t client;
    uint32_t address;  // preferred address index
    uint32_t hint;
    uint32_t got;  // expected address index, or kNoAddress for kNoBlock
  };
  const std::vector<Step> steps = {
      {1, kNoAddress, 1, 1},           // a new client starts at hint % 3
      {1, 1, 0, 1},                    // its second block: same address while it has room
      {1, 1, 0, 0},                    // address 1 exhausted: from the hint on
      {2, kNoAddress, 5, 2},           // 5 % 3
      {2, 2, 5, 2},                    //
      {2, 2, 5, 0},                    // address 2 exhausted; 0 is next after 2 (wrapping)
      {3, kNoAddress, 7, kNoAddress},  // pool exhausted
      {3, 0, 7, kNoAddress},
  };
  for (const Step& s : steps) {
    CAPTURE(s.client, s.address, s.hint);
    const uint32_t b = pb.allocate(s.client, s.address, s.hint);
    if (s.got == kNoAddress) {
      CHECK(b == kNoBlock);
    } else {
      REQUIRE(b != kNoBlock);
      CHECK(pb.address_index(b) == s.got);
      CHECK(pb.client(b) == s.client);
      CHECK_FALSE(pb.is_free(b));
    }
  }
  CHECK(pb.free_blocks() == 0);
  CHECK(pb.allocated_blocks() == 6);
  for (uint32_t a = 0; a < 3; a++)
    CHECK(pb.free_blocks(a) == 0);
}

TEST_CASE("PortBlocks: exhaustion returns kNoBlock, and a released block can be had again",
          "[port_blocks]") {
  const PoolConfig cfg = pool_of(4, 1024, 2048, 1000);  // 31 blocks per address
  PortBlocks pb(cfg, 2, 4);                             // blocks 2, 6, ..., 30: 8 per address
  REQUIRE(pb.blocks() == 32);
  std::vector<uint32_t> got;
  for (uint32_t i = 0; i < 32; i++) {
    got.push_back(pb.allocate(i, kNoAddress, i));
    REQUIRE(got.back() != kNoBlock);
    CHECK(pb.free_blocks() == 31 - i);
  }
  CHECK(std::set<uint32_t>(got.begin(), got.end()).size() == 32);
  CHECK(pb.allocate(99, kNoAddress, 0) == kNoBlock);
  CHECK(pb.allocate(99, 3, 3) == kNoBlock);

  const uint32_t b = got[17];
  const uint16_t p = pb.take_port(b, L4Proto::udp, 0);
  pb.put_port(b, L4Proto::udp, p, 5000);
  CHECK(pb.expire(5999, 10, [](uint32_t, uint32_t) {}) == 0);
  CHECK(pb.allocate(99, kNoAddress, 0) == kNoBlock);  // still held for its client
  CHECK(pb.expire(6000, 10, [](uint32_t, uint32_t) {}) == 1);
  CHECK(pb.allocate(99, kNoAddress, 0) == b);
  CHECK(pb.client(b) == 99);
}

struct Released {
  std::vector<std::pair<uint32_t, uint32_t>> blocks;  // (block, client)
  auto callback() {
    return [this](uint32_t block, uint32_t client) { blocks.emplace_back(block, client); };
  }
};

TEST_CASE("PortBlocks: hold-down releases an empty block only after hold_down_ms",
          "[port_blocks]") {
  PortBlocks pb(pool_of(1, 1024, 128, 1000), 0, 1);
  const uint32_t b = pb.allocate(77, kNoAddress, 0);
  Released r;

  // Allocated but never used: not in hold-down, never expires.
  CHECK(pb.held_blocks() == 0);
  CHECK(pb.expire(1'000'000, 10, r.callback()) == 0);

  const uint16_t t = pb.take_port(b, L4Proto::tcp, 3);
  const uint16_t u = pb.take_port(b, L4Proto::udp, 3);
  pb.put_port(b, L4Proto::tcp, t, 100);
  CHECK(pb.held_blocks() == 0);  // udp still in use
  pb.put_port(b, L4Proto::udp, u, 200);
  CHECK(pb.held_blocks() == 1);
  CHECK(pb.allocated_blocks() == 1);

  CHECK(pb.expire(1199, 10, r.callback()) == 0);
  CHECK(pb.is_free(b) == false);
  CHECK(pb.expire(1200, 0, r.callback()) == 0);  // no budget
  CHECK(pb.expire(1200, 10, r.callback()) == 1);
  REQUIRE(r.blocks.size() == 1);
  CHECK(r.blocks[0] == std::pair<uint32_t, uint32_t>{b, 77});
  CHECK(pb.is_free(b));
  CHECK(pb.held_blocks() == 0);
  CHECK(pb.allocated_blocks() == 0);
  CHECK(pb.free_blocks() == pb.blocks());
  CHECK(pb.expire(1'000'000, 10, r.callback()) == 0);  // only once
}

TEST_CASE("PortBlocks: taking a port cancels the hold-down; emptied again it starts anew",
          "[port_blocks]") {
  PortBlocks pb(pool_of(1, 1024, 128, 1000), 0, 1);
  const uint32_t b = pb.allocate(5, kNoAddress, 0);
  Released r;
  uint16_t p = pb.take_port(b, L4Proto::icmp, 0);
  pb.put_port(b, L4Proto::icmp, p, 200);
  REQUIRE(pb.held_blocks() == 1);

  p = pb.take_port(b, L4Proto::tcp, 9);  // the client uses its block again
  CHECK(pb.held_blocks() == 0);
  CHECK(pb.expire(5000, 10, r.callback()) == 0);

  pb.put_port(b, L4Proto::tcp, p, 5100);
  CHECK(pb.held_blocks() == 1);
  CHECK(pb.expire(6099, 10, r.callback()) == 0);              // counted from 5100, not 200
  CHECK(pb.take_port(b, L4Proto::udp, 1100 - 1024) == 1100);  // taking any port cancels
  CHECK(pb.held_blocks() == 0);
  CHECK(pb.expire(6100, 10, r.callback()) == 0);
  pb.put_port(b, L4Proto::udp, 1100, 7000);
  CHECK(pb.expire(8000, 10, r.callback()) == 1);
  CHECK(r.blocks == std::vector<std::pair<uint32_t, uint32_t>>{{b, 5}});
}

TEST_CASE("PortBlocks: expire goes oldest first, within its budget, skipping reused blocks",
          "[port_blocks]") {
  PortBlocks pb(pool_of(2, 1024, 4096, 1000), 0, 1);  // 15 blocks per address
  std::vector<uint32_t> b;
  std::vector<uint16_t> port;
  for (uint32_t i = 0; i < 5; i++) {
    b.push_back(pb.allocate(10 + i, kNoAddress, i));
    port.push_back(pb.take_port(b[i], L4Proto::udp, i));
  }
  for (uint32_t i = 0; i < 5; i++)
    pb.put_port(b[i], L4Proto::udp, port[i], 100 * (i + 1));  // empty at 100, 200, ... 500
  REQUIRE(pb.held_blocks() == 5);
  pb.take_port(b[1], L4Proto::tcp, 0);  // client 11 reuses its block
  pb.take_port(b[3], L4Proto::tcp, 0);  // client 13 too

  Released r;
  CHECK(pb.expire(1250, 10, r.callback()) == 1);  // only b0 is due (100 + 1000)
  CHECK(pb.expire(5000, 1, r.callback()) == 1);   // budget 1: b2
  CHECK(pb.expire(5000, 10, r.callback()) == 1);  // b4; b1 and b3 are in use
  using R = std::vector<std::pair<uint32_t, uint32_t>>;
  CHECK(r.blocks == R{{b[0], 10}, {b[2], 12}, {b[4], 14}});
  CHECK(pb.held_blocks() == 0);
  CHECK(pb.allocated_blocks() == 2);
}

TEST_CASE("PortBlocks: a released block goes to the back of its address's free FIFO",
          "[port_blocks]") {
  PortBlocks pb(pool_of(1, 1024, 8064, 1000), 0, 1);  // 8 blocks
  REQUIRE(pb.blocks() == 8);
  const uint32_t first = pb.allocate(1, 0, 0);
  CHECK(pb.first_port(first) == 1024);  // blocks start in port order
  const uint16_t p = pb.take_port(first, L4Proto::tcp, 0);
  pb.put_port(first, L4Proto::tcp, p, 0);
  REQUIRE(pb.expire(1000, 1, [](uint32_t, uint32_t) {}) == 1);
  CHECK(pb.free_blocks(0) == 8);

  std::vector<uint32_t> order;
  for (int i = 0; i < 8; i++)
    order.push_back(pb.allocate(2, 0, 0));
  CHECK(order.back() == first);  // reused last
  for (int i = 0; i + 2 < 8; i++)
    CHECK(pb.first_port(order[i]) < pb.first_port(order[i + 1]));
}

// RFC 6888 REQ-8 as a property: under random churn, a port block changes
// client only after it has been empty for hold_down_ms, no port is ever held
// twice, and the counters add up.
TEST_CASE("PortBlocks: random churn keeps ports unique and blocks held down", "[port_blocks]") {
  constexpr uint32_t kHold = 120000;
  const PoolConfig cfg = pool_of(3, 1024, 8064, kHold);  // 8 blocks per address
  PortBlocks pb(cfg, 1, 2);                              // 4 per address here
  std::mt19937 rng(2024);

  struct Held {
    uint32_t block;
    L4Proto proto;
    uint16_t port;
  };
  std::vector<Held> held;
  std::set<std::tuple<uint32_t, int, uint16_t>> in_use;  // (address, proto, port)
  std::map<uint32_t, uint32_t> owner;                    // block -> client
  std::map<uint32_t, uint64_t> empty_since;              // block -> ms, while empty
  std::map<uint32_t, uint64_t> last_emptied;             // released block -> ms it emptied
  uint64_t now = 0;
  for (int step = 0; step < 20000; step++) {
    now += rng() % 2000;
    const unsigned op = rng() % 10;
    if (op < 5) {  // a client takes a port, in its block or a new one
      const uint32_t client = rng() % 20;
      const L4Proto proto = kProtos[rng() % 3];
      uint32_t block = kNoBlock;
      for (const auto& [blk, c] : owner)
        if (c == client) block = blk;
      uint16_t port = block == kNoBlock ? 0 : pb.take_port(block, proto, rng());
      if (port == 0) {
        block =
            pb.allocate(client, block == kNoBlock ? kNoAddress : pb.address_index(block), client);
        if (block == kNoBlock) continue;
        REQUIRE(owner.count(block) == 0);
        if (last_emptied.count(block)) REQUIRE(now - last_emptied[block] >= kHold);
        owner[block] = client;
        port = pb.take_port(block, proto, rng());
        REQUIRE(port != 0);
      }
      empty_since.erase(block);
      REQUIRE(in_use.emplace(pb.address(block), static_cast<int>(proto), port).second);
      held.push_back({block, proto, port});
    } else if (op < 9 && !held.empty()) {  // a session ends
      const size_t i = rng() % held.size();
      const Held h = held[i];
      held[i] = held.back();
      held.pop_back();
      in_use.erase({pb.address(h.block), static_cast<int>(h.proto), h.port});
      pb.put_port(h.block, h.proto, h.port, now);
      if (pb.ports_in_use(h.block) == 0) empty_since[h.block] = now;
    } else {
      pb.expire(now, 4, [&](uint32_t block, uint32_t client) {
        REQUIRE(owner.at(block) == client);
        REQUIRE(empty_since.count(block) == 1);
        REQUIRE(now - empty_since[block] >= kHold);
        last_emptied[block] = empty_since[block];
        owner.erase(block);
        empty_since.erase(block);
      });
    }
    REQUIRE(pb.allocated_blocks() == owner.size());
    REQUIRE(pb.held_blocks() == empty_since.size());
    REQUIRE(pb.free_blocks() + pb.allocated_blocks() == pb.blocks());
  }
  CHECK(last_emptied.size() > 0);
}

TEST_CASE("PoolIndex: finds every member and no non-member", "[port_blocks]") {
  SECTION("a few addresses, including 0.0.0.0 and 255.255.255.255") {
    const std::vector<uint32_t> addresses = {ip("203.0.113.7"), 0, ip("255.255.255.255"),
                                             ip("198.51.100.1")};
    const PoolIndex index(addresses);
    for (size_t i = 0; i < addresses.size(); i++)
      CHECK(index.find(addresses[i]) == static_cast<int>(i));
    for (const char* other : {"203.0.113.8", "0.0.0.1", "255.255.255.254", "198.51.100.0"})
      CHECK(index.find(ip(other)) == -1);
  }
  SECTION("an empty pool") {
    const PoolIndex index(std::vector<uint32_t>{});
    CHECK(index.find(0) == -1);
    CHECK(index.find(ip("192.0.2.1")) == -1);
  }
  SECTION("65536 addresses: a /16 and scattered ones") {
    std::vector<uint32_t> addresses;
    for (uint32_t i = 0; i < 32768; i++)
      addresses.push_back(ip("100.64.0.0") + i);  // consecutive: 100.64.0.0/17
    std::mt19937 rng(3);
    std::set<uint32_t> seen(addresses.begin(), addresses.end());
    while (addresses.size() < 65536) {
      const uint32_t a = (rng() & 0x00ffffff) | ip("11.0.0.0");  // in 11.0.0.0/8
      if (seen.insert(a).second) addresses.push_back(a);
    }
    const PoolIndex index(addresses);
    for (size_t i = 0; i < addresses.size(); i++)
      REQUIRE(index.find(addresses[i]) == static_cast<int>(i));
    CHECK(index.find(ip("100.63.255.255")) == -1);
    CHECK(index.find(ip("100.64.128.0")) == -1);
    unsigned misses = 0;
    for (uint32_t i = 0; i < 100000; i++) {
      const uint32_t a = ip("100.65.0.0") + i;
      misses += index.find(a) == -1 ? 1 : 0;
      const uint32_t r = (rng() & 0x00ffffff) | ip("11.0.0.0");
      const int found = index.find(r);
      if (seen.count(r)) {
        REQUIRE(found >= 0);
        REQUIRE(addresses[found] == r);
      } else {
        REQUIRE(found == -1);
      }
    }
    CHECK(misses == 100000);
  }
}

TEST_CASE("check_pool: refuses what the allocator cannot serve", "[port_blocks]") {
  struct Case {
    const char* what;
    PoolConfig cfg;
    unsigned workers;
    bool ok;
  };
  PoolConfig twice = pool_of(3, 1024, 128);
  twice.addresses.push_back(twice.addresses[1]);
  PoolConfig too_many;
  for (uint32_t i = 0; i < 65537; i++)
    too_many.addresses.push_back(i);
  const std::vector<Case> cases = {
      {"the default", pool_of(1, 1024, 128), 4, true},
      {"no addresses", pool_of(0, 1024, 128), 4, false},
      {"an address twice", twice, 1, false},
      {"more than 65536 addresses", too_many, 1, false},
      {"port_min 0", pool_of(1, 0, 128), 1, false},
      {"block_size 0", pool_of(1, 1024, 0), 1, false},
      {"block_size larger than the range", pool_of(1, 1024, 64513), 1, false},
      {"block_size the whole range", pool_of(1, 1024, 64512), 1, true},
      {"one block per worker", pool_of(1, 1024, 16128), 4, true},
      {"fewer blocks than workers", pool_of(1, 1024, 16128), 5, false},
      {"no workers", pool_of(1, 1024, 128), 0, false},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    std::string error;
    CHECK(check_pool(c.cfg, c.workers, &error) == c.ok);
    CHECK(error.empty() == c.ok);
    // What check_pool refuses never makes the classes misbehave: at worst an empty share.
    const PortBlocks pb(c.cfg, 0, c.workers);
    if (blocks_per_address(c.cfg, c.workers) == 0) CHECK(pb.blocks() == 0);
  }
}

}  // namespace
}  // namespace sluice::test
