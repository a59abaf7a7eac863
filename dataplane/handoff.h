// Handoff: moving a packet to the worker that owns its client.
//
// Every ordered pair of workers (from, to) has one single-producer,
// single-consumer rte_ring, made by control. A worker stages packets for
// other workers during a burst (one small array per destination) and
// enqueues each array with one burst call when it flushes, at the end of the
// burst; a ring that is full drops the rest, counted as handoff-ring-full,
// never waits. receive() takes what the other workers sent, a burst at a
// time, taking the rings in turn so none is starved.
//
// Counters (WorkerCounters): handed_off (sent to another worker), handed_in
// (received), and the handoff-ring-full drop. handed_off / rx_packets is the
// handoff share: zero when the NIC steers every packet to its owner.
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <cstdint>
#include <vector>

#include "packet.h"
#include "sink.h"

namespace sluice {

class Handoff {
 public:
  // to[k]: the ring from this worker to worker k; from[k]: from worker k to
  // this one (nullptr at this worker's own index).
  Handoff(std::vector<rte_ring*> to, std::vector<rte_ring*> from, PacketSink& sink);
  ~Handoff();
  Handoff(const Handoff&) = delete;
  Handoff& operator=(const Handoff&) = delete;

  void stage(rte_mbuf* m, unsigned owner) noexcept {
    Staged& s = staged_[owner];
    s.pkts[s.n++] = m;
    if (s.n == kBurst) flush(owner);
  }
  void flush() noexcept {
    for (unsigned k = 0; k < staged_.size(); k++)
      if (staged_[k].n != 0) flush(k);
  }
  // Up to max packets handed to this worker; their metadata says where each
  // arrived (PacketMeta::iface, rx_port).
  uint16_t receive(rte_mbuf** out, uint16_t max) noexcept;

 private:
  struct Staged {
    rte_mbuf* pkts[kBurst];
    uint16_t n = 0;
  };
  void flush(unsigned owner) noexcept;

  std::vector<rte_ring*> to_;
  std::vector<rte_ring*> from_;
  std::vector<Staged> staged_;
  unsigned next_from_ = 0;
  PacketSink& sink_;
};

}  // namespace sluice
