// The sluice daemon: brings up EAL, ports, tables and workers from a
// validated configuration, runs the control loop on the main lcore until
// SIGINT/SIGTERM, then stops the workers (they flush), stops the ports and
// prints the counters.
//
// With the cgnat pipeline each worker also gets its NAT table (its share of
// sessions, clients and port blocks) and the handoff rings to every other
// worker; with [export] also its NAT event ring, which the exporter thread
// (exporter.h) drains. The exporter starts before the workers and stops
// after them, once the events of the sessions and blocks still held have
// been queued (NatTable::end_all), so every event is written or counted.
//
// The control loop, every pass (at most 1 ms apart):
//  - drains each worker's punt ring: ARP to the resolver (arp.h), ICMP echo
//    requests to our addresses answered (rate-limited), packets waiting for
//    a next hop's MAC to the resolver;
//  - advances ARP timers;
//  - once a second, samples the policing counters (policing_stats.h).
//  - polls each aggregate (aggregator.h): member links, LACP, publishing the
//    members that carry traffic; LACPDUs and markers punted by the workers
//    go to it.
// Control transmits on its own TX queue (index W) of each port.
#pragma once

#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <atomic>
#include <memory>
#include <vector>

#include "aggregator.h"
#include "arp.h"
#include "cgnat.h"
#include "config.h"
#include "control_counters.h"
#include "exporter.h"
#include "pipeline.h"
#include "policing_stats.h"
#include "port.h"
#include "tables.h"
#include "worker.h"

namespace sluice {

class Daemon : public ControlTx {
 public:
  explicit Daemon(const Config& config) : config_(config) {}
  ~Daemon() override;

  // After rte_eal_init. Throws std::runtime_error with a message for the
  // operator when a port, table or pool cannot be set up.
  void setup();
  // Runs the control loop until `running` goes false; then stops the workers.
  void run(std::atomic<bool>& running);
  void print_summary() const;

  rte_mbuf* alloc() noexcept override { return rte_pktmbuf_alloc(pool_); }
  void send(uint16_t port, rte_mbuf* m) noexcept override;

  const std::vector<std::unique_ptr<WorkerContext>>& workers() const noexcept { return workers_; }
  const ControlCounters& control_counters() const noexcept { return counters_; }
  const std::vector<PortInfo>& ports() const noexcept { return ports_; }
  const Config& config() const noexcept { return config_; }
  // One per worker with the cgnat pipeline, else empty.
  const std::vector<std::unique_ptr<NatTable>>& nat_tables() const noexcept { return nat_; }
  // With the cgnat pipeline and policing on, else nullptr.
  const PolicingStats* policing() const noexcept { return policing_stats_.get(); }
  // Null without [export] (or without the cgnat pipeline).
  const Exporter* exporter() const noexcept { return exporter_.get(); }
  const Aggregator& aggregator(Side side) const { return *aggregators_[static_cast<size_t>(side)]; }
  // The packet buffer pool: its size, and how many are out of it now (held
  // by a worker, a ring, a driver or the control thread; lcore caches are
  // not counted as in use).
  unsigned mbufs() const noexcept { return pool_->size; }
  unsigned mbufs_in_use() const noexcept { return rte_mempool_in_use_count(pool_); }

 private:
  void setup_interface(Side side, const InterfaceConfig& ic);
  void setup_aggregate(Side side, const InterfaceConfig& ic);
  void setup_tables();
  void setup_workers();
  void setup_nat();
  void setup_export(uint64_t now_ms);
  void handle_punt(rte_mbuf* m, uint64_t now_tsc, uint64_t now_ms);
  void answer_echo(rte_mbuf* m, uint64_t now_tsc);

  const Config& config_;
  rte_mempool* pool_ = nullptr;
  Tables tables_;
  std::vector<PortInfo> ports_;
  std::vector<rte_ring*> punt_rings_;
  std::vector<std::unique_ptr<WorkerContext>> workers_;
  std::vector<std::unique_ptr<Pipeline>> pipelines_;
  std::vector<std::unique_ptr<NatTable>> nat_;
  std::vector<rte_ring*> handoff_rings_;
  std::vector<std::unique_ptr<Handoff>> handoffs_;
  std::unique_ptr<PolicerProfiles> policing_;
  std::vector<std::unique_ptr<Policer>> policers_;
  std::unique_ptr<PolicingStats> policing_stats_;
  std::vector<rte_ring*> event_rings_;
  std::vector<std::unique_ptr<NatEvents>> events_;
  std::unique_ptr<Exporter> exporter_;
  ControlCounters counters_;
  std::unique_ptr<Arp> arp_;
  rte_rcu_qsbr* rcu_ = nullptr;  // the workers' quiescent states, for the LAG snapshots
  std::array<std::unique_ptr<Aggregator>, kInterfaces> aggregators_;
  TokenBucket echo_limit_;
  // LACPDUs and markers taken from each port (by port id): a flood on one
  // member costs the control thread little and its LACP machines nothing.
  std::array<TokenBucket, RTE_MAX_ETHPORTS> slow_limits_;
  std::atomic<bool> workers_running_{false};
  uint16_t control_queue_ = 0;
};

}  // namespace sluice
