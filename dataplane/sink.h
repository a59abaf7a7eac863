// Where a stage sends a packet that leaves the fast path: dropped (counted by
// reason, mbuf freed) or punted to the control thread over this worker's SPSC
// ring (counted; a full ring is a counted drop, never a wait).
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "counters.h"
#include "packet.h"

namespace sluice {

struct PacketSink {
  WorkerCounters& counters;
  rte_ring* punt_ring;

  void drop(rte_mbuf* m, Drop why) noexcept {
    counters.drop(why);
    rte_pktmbuf_free(m);
  }

  void punt(rte_mbuf* m, Punt why, uint8_t iface, uint16_t rx_port) noexcept {
    PacketMeta& pm = meta(m);
    pm.punt = why;
    pm.iface = iface;
    pm.rx_port = rx_port;
    if (rte_ring_sp_enqueue(punt_ring, m) != 0) {
      drop(m, Drop::punt_ring_full);
      return;
    }
    counters.punted.add();
  }
};

}  // namespace sluice
