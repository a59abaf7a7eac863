// One worker's transmit side: a 32-packet buffer per port on the worker's own
// TX queue. Packets are buffered as the pipeline decides them and sent in
// bursts: when a buffer fills, and for every buffer at the end of each poll
// round (flush). A packet the queue does not take is freed and counted as
// tx-full, never retried in a loop.
#pragma once

#include <rte_ethdev.h>

#include <cstdint>
#include <vector>

#include "counters.h"

namespace sluice {

class TxQueues {
 public:
  TxQueues(uint16_t queue, WorkerCounters& counters) noexcept
      : queue_(queue), counters_(counters) {}
  ~TxQueues();
  TxQueues(const TxQueues&) = delete;
  TxQueues& operator=(const TxQueues&) = delete;

  // Control time: allocate the buffer for a port; false when out of memory.
  bool add_port(uint16_t port);

  void send(uint16_t port, rte_mbuf* m) noexcept {
    counters_.tx_packets.add(rte_eth_tx_buffer(port, queue_, buffers_[port], m));
  }
  void flush() noexcept {
    for (uint16_t port : ports_) {
      counters_.tx_packets.add(rte_eth_tx_buffer_flush(port, queue_, buffers_[port]));
    }
  }
  uint16_t queue() const noexcept { return queue_; }

 private:
  uint16_t queue_;
  WorkerCounters& counters_;
  std::vector<uint16_t> ports_;
  rte_eth_dev_tx_buffer* buffers_[RTE_MAX_ETHPORTS] = {};
};

}  // namespace sluice
