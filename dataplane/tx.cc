#include "tx.h"

#include <rte_malloc.h>

namespace sluice {

namespace {

void count_unsent(rte_mbuf** pkts, uint16_t unsent, void* userdata) {
  auto* counters = static_cast<WorkerCounters*>(userdata);
  counters->drop(Drop::tx_full, unsent);
  rte_pktmbuf_free_bulk(pkts, unsent);
}

}  // namespace

TxQueues::~TxQueues() {
  for (uint16_t port : ports_)
    rte_free(buffers_[port]);
}

bool TxQueues::add_port(uint16_t port) {
  if (buffers_[port] != nullptr) return true;
  auto* b = static_cast<rte_eth_dev_tx_buffer*>(rte_zmalloc_socket(
      "tx_buffer", RTE_ETH_TX_BUFFER_SIZE(32), RTE_CACHE_LINE_SIZE, rte_eth_dev_socket_id(port)));
  if (b == nullptr) return false;
  rte_eth_tx_buffer_init(b, 32);
  rte_eth_tx_buffer_set_err_callback(b, count_unsent, &counters_);
  buffers_[port] = b;
  ports_.push_back(port);
  return true;
}

}  // namespace sluice
