#include "telemetry.h"

#include <rte_telemetry.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon.h"

namespace sluice {

namespace {

const Daemon* g_daemon = nullptr;

// Adds one value; DPDK refuses some keys (22.11: letters, digits and '_'
// only, at most 64 characters) and a full dict. The first refusal is kept
// and returned to the client instead of a silently shorter answer. DPDK
// serves each client on its own thread, hence thread_local.
thread_local int g_add_error = 0;

void put(rte_tel_data* d, const std::string& key, uint64_t v) {
  const int rc = rte_tel_data_add_dict_u64(d, key.c_str(), v);
  if (rc != 0 && g_add_error == 0) g_add_error = rc;
}

// Drop reasons are spelled with '-' for operators; telemetry keys use '_'.
std::string key_of(std::string_view reason) {
  std::string k(reason);
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

int finish() {
  const int rc = g_add_error;
  g_add_error = 0;
  return rc;
}

void add_worker_counters(rte_tel_data* d, const WorkerCounters& c) {
  put(d, "rx_packets", c.rx_packets.read());
  put(d, "tx_packets", c.tx_packets.read());
  put(d, "forwarded", c.forwarded.read());
  put(d, "punted", c.punted.read());
  put(d, "icmp_errors_sent", c.icmp_errors_sent.read());
  put(d, "icmp_errors_suppressed", c.icmp_errors_suppressed.read());
  put(d, "busy_polls", c.busy_polls.read());
  put(d, "idle_polls", c.idle_polls.read());
  put(d, "busy_cycles", c.busy_cycles.read());
  put(d, "idle_cycles", c.idle_cycles.read());
  uint64_t dropped = 0;
  for (const Counter& x : c.drops)
    dropped += x.read();
  put(d, "dropped", dropped);
}

// DPDK 22.11 nests only arrays, so one worker's drops are flat keys
// (key_prefix + reason) beside its other counters.
void add_drops(rte_tel_data* d, const WorkerCounters* one, const char* key_prefix) {
  for (size_t i = 0; i < kDropCount; i++) {
    uint64_t v = 0;
    if (one != nullptr) {
      v = one->drops[i].read();
    } else {
      for (const auto& wk : g_daemon->workers())
        v += wk->counters.drops[i].read();
    }
    put(d, key_prefix + key_of(kDropInfo[i].name), v);
  }
}

int stats(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  WorkerCounters sum;
  for (const auto& wk : g_daemon->workers()) {
    const WorkerCounters& c = wk->counters;
    sum.rx_packets.add(c.rx_packets.read());
    sum.tx_packets.add(c.tx_packets.read());
    sum.forwarded.add(c.forwarded.read());
    sum.punted.add(c.punted.read());
    sum.icmp_errors_sent.add(c.icmp_errors_sent.read());
    sum.icmp_errors_suppressed.add(c.icmp_errors_suppressed.read());
    sum.busy_polls.add(c.busy_polls.read());
    sum.idle_polls.add(c.idle_polls.read());
    sum.busy_cycles.add(c.busy_cycles.read());
    sum.idle_cycles.add(c.idle_cycles.read());
    for (size_t i = 0; i < kDropCount; i++)
      sum.drops[i].add(c.drops[i].read());
  }
  put(d, "workers", g_daemon->workers().size());
  add_worker_counters(d, sum);
  const ControlCounters& c = g_daemon->control_counters();
  put(d, "arp_requests_in", c.arp_requests_in.read());
  put(d, "arp_replies_in", c.arp_replies_in.read());
  put(d, "arp_requests_out", c.arp_requests_out.read());
  put(d, "arp_replies_out", c.arp_replies_out.read());
  put(d, "arp_rate_limited", c.arp_rate_limited.read());
  put(d, "arp_conflicts", c.arp_conflicts.read());
  put(d, "neighbours_resolved", c.neighbours_resolved.read());
  put(d, "neighbours_failed", c.neighbours_failed.read());
  put(d, "resolve_sent", c.resolve_sent.read());
  put(d, "resolve_dropped", c.resolve_dropped.read());
  put(d, "echo_replies", c.echo_replies.read());
  put(d, "echo_rate_limited", c.echo_rate_limited.read());
  put(d, "control_tx_failed", c.tx_failed.read());
  put(d, "control_alloc_failed", c.alloc_failed.read());
  return finish();
}

int drops(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  add_drops(d, nullptr, "");
  return finish();
}

int worker(const char*, const char* params, rte_tel_data* d) {
  if (params == nullptr || *params == '\0') return -EINVAL;
  char* end = nullptr;
  const unsigned long k = std::strtoul(params, &end, 10);
  if (*end != '\0' || k >= g_daemon->workers().size()) return -EINVAL;
  const WorkerCounters& c = g_daemon->workers()[k]->counters;
  rte_tel_data_start_dict(d);
  add_worker_counters(d, c);
  add_drops(d, &c, "drop_");
  return finish();
}

}  // namespace

void register_telemetry(const Daemon& daemon) {
  g_daemon = &daemon;
  rte_telemetry_register_cmd("/sluice/stats", stats,
                             "Totals of worker and control counters. Takes no parameters");
  rte_telemetry_register_cmd("/sluice/drops", drops,
                             "Drops by reason, summed over workers. Takes no parameters");
  rte_telemetry_register_cmd("/sluice/worker", worker,
                             "One worker's counters and drops. Parameters: int worker_id");
}

}  // namespace sluice
