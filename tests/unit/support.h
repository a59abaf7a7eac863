// What every unit test shares: the EAL-backed mbuf pool, the two net_ring
// ports standing in for the inside and outside NICs, punt rings, a leak check
// on the pool, and the two interfaces of the reference topology:
//
//   inside  10.16.1.1/24   MAC 02:00:00:00:01:01   port net_ring0
//   outside 192.0.2.1/24   MAC 02:00:00:00:02:01   port net_ring1
//
// main.cc brings up EAL (no hugepages, no PCI) and starts the ports with one
// RX and two TX queues (worker 0 and control), as port_start() does for a
// single worker.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <cstdint>
#include <string>
#include <vector>

#include "counters.h"
#include "interface.h"
#include "port_blocks.h"
#include "tables.h"

namespace sluice::test {

rte_mempool* pool();

// DPDK port ids of net_ring0 (inside) and net_ring1 (outside).
uint16_t inside_port();
uint16_t outside_port();

// The ring that receives what a net_ring port transmits on TX queue q.
rte_ring* tx_ring(uint16_t port, uint16_t queue);

// Dequeues everything waiting on r (caller owns the mbufs).
std::vector<rte_mbuf*> drain(rte_ring* r);
void free_all(std::vector<rte_mbuf*>& pkts);

// Host-order IPv4 address from dotted text; aborts the test on a typo.
uint32_t ip(const char* text);
std::string ip_text(uint32_t ip);
rte_ether_addr mac(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t e, uint8_t f);
std::string mac_text(const rte_ether_addr& m);

inline const rte_ether_addr kInsideMac = mac(0x02, 0, 0, 0, 0x01, 0x01);
inline const rte_ether_addr kOutsideMac = mac(0x02, 0, 0, 0, 0x02, 0x01);
inline const rte_ether_addr kBroadcast = mac(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

// inside 10.16.1.1/24 and outside 192.0.2.1/24 with empty neighbour tables,
// members {inside_port()} and {outside_port()} (or the given ids).
Interfaces reference_interfaces();
Interfaces reference_interfaces(uint16_t inside_member, uint16_t outside_member);

// The reference interfaces with their tables: connected routes for both
// subnets, the default route via 192.0.2.2 (outside host 2), and 10.16.0.0/12
// as the client prefixes (a PrefixSet named clients_name, unique per test).
// Neighbour tables start empty.
Tables reference_tables(const std::string& clients_name);

// A port-block pool of `addresses` consecutive addresses from first.
PoolConfig pool_of(uint32_t first, unsigned addresses, uint16_t port_min, uint16_t block_size,
                   uint32_t hold_down_ms);

// Sum of every drop counter: a packet is counted under exactly one reason.
inline uint64_t total_drops(const WorkerCounters& c) {
  uint64_t n = 0;
  for (const Counter& d : c.drops)
    n += d.read();
  return n;
}

// Fails the current test when the pool does not hold as many free mbufs at
// the end of the scope as at its start (skipped while an assertion unwinds).
class LeakCheck {
 public:
  LeakCheck();
  ~LeakCheck();
  LeakCheck(const LeakCheck&) = delete;
  LeakCheck& operator=(const LeakCheck&) = delete;

 private:
  unsigned start_;
};

// A worker's SPSC punt ring with a unique name; frees what is left in it.
class PuntRing {
 public:
  explicit PuntRing(unsigned size = 64);
  ~PuntRing();
  PuntRing(const PuntRing&) = delete;
  PuntRing& operator=(const PuntRing&) = delete;

  rte_ring* get() const noexcept { return ring_; }
  std::vector<rte_mbuf*> drain() { return test::drain(ring_); }

 private:
  rte_ring* ring_;
};

}  // namespace sluice::test
