#include "support.h"

#include <arpa/inet.h>
#include <rte_ethdev.h>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <exception>

#include "port.h"

namespace sluice::test {

namespace {

uint16_t port_named(const char* name) {
  uint16_t id = 0;
  if (!port_by_name(name, &id)) FAIL("EAL did not create " << name << " (--vdev missing?)");
  return id;
}

}  // namespace

uint16_t inside_port() {
  static const uint16_t id = port_named("net_ring0");
  return id;
}

uint16_t outside_port() {
  static const uint16_t id = port_named("net_ring1");
  return id;
}

rte_ring* tx_ring(uint16_t port, uint16_t queue) {
  // The ring PMD backs RX and TX queue q of a vdev with one ring,
  // ETH_RXTX<q>_<device name>, so a port is its own loopback.
  char name[RTE_ETH_NAME_MAX_LEN];
  REQUIRE(rte_eth_dev_get_name_by_port(port, name) == 0);
  rte_ring* r = rte_ring_lookup(fmt::format("ETH_RXTX{}_{}", queue, name).c_str());
  REQUIRE(r != nullptr);
  return r;
}

std::vector<rte_mbuf*> drain(rte_ring* r) {
  std::vector<rte_mbuf*> out;
  void* obj = nullptr;
  while (rte_ring_dequeue(r, &obj) == 0)
    out.push_back(static_cast<rte_mbuf*>(obj));
  return out;
}

void free_all(std::vector<rte_mbuf*>& pkts) {
  for (rte_mbuf* m : pkts)
    rte_pktmbuf_free(m);
  pkts.clear();
}

uint32_t ip(const char* text) {
  in_addr a{};
  if (inet_pton(AF_INET, text, &a) != 1) FAIL("bad address in a test: " << text);
  return ntohl(a.s_addr);
}

std::string ip_text(uint32_t ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

rte_ether_addr mac(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f) {
  return rte_ether_addr{{a, b, c, d, e, f}};
}

std::string mac_text(const rte_ether_addr& m) {
  char buf[RTE_ETHER_ADDR_FMT_SIZE];
  rte_ether_format_addr(buf, sizeof(buf), &m);
  return buf;
}

Tables reference_tables(const std::string& clients_name) {
  Tables t;
  t.ifaces = reference_interfaces();
  t.routes = std::make_unique<RouteTable>();
  t.clients = std::make_unique<PrefixSet>(clients_name);
  REQUIRE(t.routes->ok());
  REQUIRE(t.clients->ok());
  std::string error;
  REQUIRE(t.routes->add(ip("10.16.1.0"), 24, next_hop::connected(0), &error));
  REQUIRE(t.routes->add(ip("192.0.2.0"), 24, next_hop::connected(1), &error));
  REQUIRE(t.routes->add(0, 0, next_hop::via(1, 2), &error));
  REQUIRE(t.clients->insert(ip("10.16.0.0"), 12, &error));
  return t;
}

PoolConfig pool_of(uint32_t first, unsigned addresses, uint16_t port_min, uint16_t block_size,
                   uint32_t hold_down_ms) {
  PoolConfig p;
  for (unsigned i = 0; i < addresses; i++)
    p.addresses.push_back(first + i);
  p.port_min = port_min;
  p.block_size = block_size;
  p.hold_down_ms = hold_down_ms;
  return p;
}

Interfaces reference_interfaces() {
  return reference_interfaces(inside_port(), outside_port());
}

Interfaces reference_interfaces(uint16_t inside_member, uint16_t outside_member) {
  Interfaces ifs;
  auto setup = [](Interface& i, Side side, uint32_t address, uint8_t len, rte_ether_addr m,
                  uint16_t member) {
    i.assign(side, address, len);
    i.mac = m;
    i.vlan = 0;
    i.mtu = 1500;
    i.members = {member};
    i.lag.publish({member});
  };
  setup(ifs[0], Side::inside, ip("10.16.1.1"), 24, kInsideMac, inside_member);
  setup(ifs[1], Side::outside, ip("192.0.2.1"), 24, kOutsideMac, outside_member);
  return ifs;
}

LeakCheck::LeakCheck() : start_(rte_mempool_avail_count(pool())) {}

LeakCheck::~LeakCheck() {
  if (std::uncaught_exceptions() != 0) return;
  CHECK(rte_mempool_avail_count(pool()) == start_);
}

PuntRing::PuntRing(unsigned size) {
  static std::atomic<unsigned> next{0};
  const std::string name = fmt::format("unit_punt{}", next.fetch_add(1));
  ring_ = rte_ring_create(name.c_str(), size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  REQUIRE(ring_ != nullptr);
}

PuntRing::~PuntRing() {
  auto left = drain();
  free_all(left);
  rte_ring_free(ring_);
}

}  // namespace sluice::test
