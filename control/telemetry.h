// sluice's commands on DPDK's telemetry socket
// (/var/run/dpdk/PREFIX/dpdk_telemetry.v2), beside DPDK's own /ethdev/...:
//
//   /sluice/stats      totals of every worker counter and the control counters
//   /sluice/drops      drops by reason, summed over workers
//   /sluice/worker,K   one worker's counters and drops
//   /sluice/lacp       both aggregates in short; /sluice/lacp,inside (or
//                      outside): mode, rate, hash, actor and partner
//                      system/key/port/state, aggregator and the counters
//                      of each member (memberN_...), as /proc/net/bonding
//
// Handlers run on DPDK's telemetry thread and only read relaxed atomics: a
// reader never disturbs a worker.
#pragma once

namespace sluice {

class Daemon;

void register_telemetry(const Daemon& daemon);

}  // namespace sluice
