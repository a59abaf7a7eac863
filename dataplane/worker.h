// A poll-mode worker: one lcore, pinned, owning queue k of every member port.
//
// Worker k polls each RX queue assigned to it (queue q of a port goes to
// worker q mod W), hands each burst to its pipeline, and flushes its TX
// buffers (its own TX queue k on every port) after every round. It never
// blocks, locks, allocates or makes a system call; it stops when `running`
// goes false, after flushing what it has buffered. After every round it
// reports a quiescent state on `rcu` (thread id k), so control may free the
// snapshots it replaced (lag.h); it is offline while it does not run.
//
// Once per round it also serves its mailbox (inspect.h): a listing step a
// reader asked for, if any.
//
// Counters: rx-packets, tx-packets, busy/idle polls and the TSC cycles spent
// in rounds that found packets (busy) or none (idle).
#pragma once

#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "counters.h"
#include "inspect.h"
#include "pipeline.h"
#include "sink.h"
#include "token_bucket.h"
#include "tx.h"

namespace sluice {

struct RxQueue {
  uint16_t port;
  uint16_t queue;
  uint8_t iface;
};

// Everything one worker owns. Built by control before launch; the pipeline
// holds references into it.
struct WorkerContext {
  WorkerContext(unsigned id, rte_ring* punt_ring, rte_rcu_qsbr* rcu = nullptr) noexcept
      : id(id), rcu(rcu), tx(static_cast<uint16_t>(id), counters), sink{counters, punt_ring} {}

  unsigned id;
  rte_rcu_qsbr* rcu;  // registered for thread id `id` by control; worker_loop needs it
  WorkerCounters counters;
  TxQueues tx;
  PacketSink sink;
  TokenBucket icmp_limit;
  std::vector<RxQueue> rx;
  Mailbox mailbox;
};

void worker_loop(WorkerContext& ctx, Pipeline& pipeline, const std::atomic<bool>& running) noexcept;

}  // namespace sluice
