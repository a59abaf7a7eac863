// sluice's commands on DPDK's telemetry socket
// (/var/run/dpdk/PREFIX/dpdk_telemetry.v2), beside DPDK's own /ethdev/...:
//
//   /sluice/stats      totals of every worker counter and the control counters
//   /sluice/drops      drops by reason, summed over workers
//   /sluice/worker,K   one worker's counters and drops
//   /sluice/nat        NAT counters and gauges, summed over workers
//   and what sluicectl needs beside them: /sluice/info, /sluice/port,K,
//   /sluice/nat_states, /sluice/pool, /sluice/sessions, /sluice/clients,
//   /sluice/clear and /sluice/since_clear (see telemetry.cc).
//   /sluice/lacp       both aggregates in short; /sluice/lacp,inside (or
//                      outside): mode, rate, hash, actor and partner
//                      system/key/port/state, aggregator and the counters
//                      of each member (memberN_...), as /proc/net/bonding
//
// Handlers run on DPDK's telemetry threads (one per connected client) and
// only read relaxed atomics: a reader never disturbs a worker. Listings of
// per-session and per-client state are served by the owning workers through
// their mailboxes (inspect.h), never read here.
#pragma once

namespace sluice {

class Daemon;

void register_telemetry(const Daemon& daemon);

}  // namespace sluice
