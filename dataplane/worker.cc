#include "worker.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>

namespace sluice {

void worker_loop(WorkerContext& ctx, Pipeline& pipeline,
                 const std::atomic<bool>& running) noexcept {
  rte_mbuf* pkts[kBurst];
  WorkerCounters& c = ctx.counters;
  uint64_t round_start = rte_rdtsc();
  rte_rcu_qsbr_thread_online(ctx.rcu, ctx.id);
  while (running.load(std::memory_order_relaxed)) {
    uint64_t received = 0;
    for (const RxQueue& q : ctx.rx) {
      const uint16_t n = rte_eth_rx_burst(q.port, q.queue, pkts, kBurst);
      if (n == 0) continue;
      received += n;
      pipeline.process(q.iface, q.port, pkts, n, round_start);
    }
    const unsigned polled = pipeline.poll(round_start);
    ctx.mailbox.serve(pipeline, round_start);
    ctx.tx.flush();
    rte_rcu_qsbr_quiescent(ctx.rcu, ctx.id);
    const uint64_t now = rte_rdtsc();
    if (received != 0) c.rx_packets.add(received);
    if (received + polled != 0) {
      c.busy_polls.add();
      c.busy_cycles.add(now - round_start);
    } else {
      c.idle_polls.add();
      c.idle_cycles.add(now - round_start);
    }
    round_start = now;
  }
  ctx.tx.flush();
  rte_rcu_qsbr_thread_offline(ctx.rcu, ctx.id);
}

}  // namespace sluice
