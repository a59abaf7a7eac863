#include "telemetry.h"

#include <rte_telemetry.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

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

// One worker's counters, or all workers' summed.
WorkerTotals totals(const WorkerCounters* one) {
  WorkerTotals t;
  if (one != nullptr) return t += *one;
  for (const auto& wk : g_daemon->workers())
    t += wk->counters;
  return t;
}

void add_totals(rte_tel_data* d, const WorkerTotals& t) {
  put(d, "rx_packets", t.rx_packets);
  put(d, "tx_packets", t.tx_packets);
  put(d, "forwarded", t.forwarded);
  put(d, "punted", t.punted);
  put(d, "handed_off", t.handed_off);
  put(d, "handed_in", t.handed_in);
  put(d, "icmp_errors_sent", t.icmp_errors_sent);
  put(d, "icmp_errors_suppressed", t.icmp_errors_suppressed);
  put(d, "busy_polls", t.busy_polls);
  put(d, "idle_polls", t.idle_polls);
  put(d, "busy_cycles", t.busy_cycles);
  put(d, "idle_cycles", t.idle_cycles);
  put(d, "dropped", t.dropped);
}

// DPDK 22.11 nests only arrays, so one worker's drops are flat keys
// (key_prefix + reason) beside its other counters.
void add_drops(rte_tel_data* d, const WorkerTotals& t, const char* key_prefix) {
  for (size_t i = 0; i < kDropCount; i++)
    put(d, key_prefix + key_of(kDropInfo[i].name), t.drops[i]);
}

int stats(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  put(d, "workers", g_daemon->workers().size());
  add_totals(d, totals(nullptr));
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
  add_drops(d, totals(nullptr), "");
  return finish();
}

int worker(const char*, const char* params, rte_tel_data* d) {
  if (params == nullptr || *params == '\0') return -EINVAL;
  char* end = nullptr;
  const unsigned long k = std::strtoul(params, &end, 10);
  if (*end != '\0' || k >= g_daemon->workers().size()) return -EINVAL;
  const WorkerTotals t = totals(&g_daemon->workers()[k]->counters);
  rte_tel_data_start_dict(d);
  add_totals(d, t);
  add_drops(d, t, "drop_");
  return finish();
}

int nat(const char*, const char*, rte_tel_data* d) {
  NatTotals n;
  for (const auto& table : g_daemon->nat_tables())
    n += *table;
  rte_tel_data_start_dict(d);
  put(d, "sessions", n.sessions);
  put(d, "session_capacity", n.capacity);
  put(d, "sessions_created", n.sessions_created);
  put(d, "sessions_deleted", n.sessions_deleted);
  put(d, "mappings", n.mappings);
  put(d, "clients", n.clients);
  put(d, "port_blocks", n.blocks);
  put(d, "port_blocks_allocated", n.blocks_allocated);
  put(d, "port_blocks_released", n.blocks_released);
  put(d, "hairpins", n.hairpins);
  return finish();
}

// One array of numbers under key; counted like put() when refused.
void put_array(rte_tel_data* d, const std::string& key, const std::vector<uint64_t>& values) {
  rte_tel_data* a = rte_tel_data_alloc();
  if (a == nullptr) {
    if (g_add_error == 0) g_add_error = -ENOMEM;
    return;
  }
  rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
  for (uint64_t v : values)
    rte_tel_data_add_array_u64(a, v);
  const int rc = rte_tel_data_add_dict_container(d, key.c_str(), a, 0);
  if (rc != 0) {
    rte_tel_data_free(a);
    if (g_add_error == 0) g_add_error = rc;
  }
}

// Per profile: an array of 24 numbers, per direction (upload, then
// download) packets, bytes and bit/s of conformed, exceeded and violated.
int policing(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const PolicingStats* ps = g_daemon->policing();
  if (ps == nullptr) return finish();
  for (const ProfileFigures& f : ps->profiles()) {
    std::vector<uint64_t> v;
    for (unsigned dir = 0; dir < kDirections; dir++) {
      for (unsigned c = 0; c < kColours; c++)
        v.insert(v.end(), {f.packets[dir][c], f.bytes[dir][c], f.bps[dir][c]});
    }
    put_array(d, key_of(f.name), v);
  }
  return finish();
}

// The clients policed hardest now (at most the parameter, default 10):
// key = address with '_' for '.', value = [profile index, then per
// direction conformed packets, bytes, bit/s, exceeded packets, bytes, bit/s].
int policing_clients(const char*, const char* params, rte_tel_data* d) {
  size_t n = 10;
  if (params != nullptr && *params != '\0') {
    char* end = nullptr;
    n = std::strtoul(params, &end, 10);
    if (*end != '\0' || n == 0 || n > PolicingStats::kTopKept) return -EINVAL;
  }
  rte_tel_data_start_dict(d);
  const PolicingStats* ps = g_daemon->policing();
  if (ps == nullptr) return finish();
  for (const ClientFigures& f : ps->top_clients(n)) {
    std::string k = format_ip(f.ip);
    std::replace(k.begin(), k.end(), '.', '_');
    put_array(d, k,
              {f.profile, f.packets[0][kConformed], f.bytes[0][kConformed], f.bps[0][kConformed],
               f.packets[0][kExceeded], f.bytes[0][kExceeded], f.bps[0][kExceeded],
               f.packets[1][kConformed], f.bytes[1][kConformed], f.bps[1][kConformed],
               f.packets[1][kExceeded], f.bytes[1][kExceeded], f.bps[1][kExceeded]});
  }
  return finish();
}

}  // namespace

void register_telemetry(const Daemon& daemon) {
  g_daemon = &daemon;
  rte_telemetry_register_cmd("/sluice/stats", stats,
                             "Totals of worker and control counters. Takes no parameters");
  rte_telemetry_register_cmd("/sluice/drops", drops,
                             "Drops by reason, summed over workers. Takes no parameters");
  rte_telemetry_register_cmd("/sluice/nat", nat,
                             "NAT sessions, mappings, clients and port blocks, summed over "
                             "workers (all 0 without the cgnat pipeline). Takes no parameters");
  // DPDK refuses a help text of 128 characters or more (and the command).
  rte_telemetry_register_cmd("/sluice/policing", policing,
                             "Per profile, up then down: conformed, exceeded, violated "
                             "[packets, bytes, bit/s]. No parameters");
  rte_telemetry_register_cmd("/sluice/policing/clients", policing_clients,
                             "Top policed clients: [profile, up conformed, exceeded, down "
                             "conformed, exceeded: packets, bytes, bit/s]. Param: count");
  rte_telemetry_register_cmd("/sluice/worker", worker,
                             "One worker's counters and drops. Parameters: int worker_id");
}

}  // namespace sluice
