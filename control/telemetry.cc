#include "telemetry.h"

#include <rte_telemetry.h>

#include <fmt/format.h>

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

void put(rte_tel_data* d, const std::string& key, const std::string& v) {
  const int rc = rte_tel_data_add_dict_string(d, key.c_str(), v.c_str());
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
  put(d, "control_no_member", c.no_member.read());
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

std::string mac_text(const lacp::Mac& m) {
  return fmt::format("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4],
                     m[5]);
}

const char* hash_name(XmitHash h) {
  switch (h) {
    case XmitHash::layer2:
      return "layer2";
    case XmitHash::layer2_3:
      return "layer2+3";
    case XmitHash::layer3_4:
      return "layer3+4";
  }
  return "?";
}

// The aggregate as /proc/net/bonding shows a bond: with `prefix` only a
// summary (for both sides in one answer), else every member in detail
// (memberN_...). DPDK 22.11 nests no dicts, hence the flat keys.
void add_aggregate(rte_tel_data* d, const AggregateStatus& a, const std::string& prefix,
                   bool detail) {
  const LagConfig& c = a.config;
  unsigned distributing = 0;
  for (const auto& m : a.members)
    distributing += m.distributing;
  put(d, prefix + "mode", c.lacp ? "802.3ad" : "static");
  put(d, prefix + "xmit_hash_policy", hash_name(c.hash));
  put(d, prefix + "members", a.members.size());
  put(d, prefix + "distributing", distributing);
  put(d, prefix + "aggregator_id", a.aggregator_member + 1);
  put(d, prefix + "partner_mac", mac_text(a.partner.system));
  if (!detail) return;
  put(d, "lacp_rate", c.fast ? "fast" : "slow");
  put(d, "lacp_activity", c.active ? "active" : "passive");
  put(d, "down_delay_ms", c.down_delay_ms);
  put(d, "up_delay_ms", c.up_delay_ms);
  put(d, "link_poll_ms", c.link_poll_ms);
  put(d, "system_priority", c.system_priority);
  put(d, "system_mac", mac_text(a.system));
  put(d, "key", c.key);
  put(d, "partner_system_priority", a.partner.system_priority);
  put(d, "partner_key", a.partner.key);
  for (size_t i = 0; i < a.members.size(); i++) {
    const AggregateStatus::Member& m = a.members[i];
    const lacp::MemberStatus& s = m.lacp;
    const lacp::MemberCounters& n = s.counters;
    const std::string k = fmt::format("member{}_", i);
    put(d, k + "port", m.port.name);
    put(d, k + "link", s.link_up ? "up" : "down");
    put(d, k + "link_failures", n.link_failures);
    put(d, k + "state_changes", n.state_changes);
    put(d, k + "distributing", m.distributing);
    put(d, k + "mux", lacp::name(s.mux));
    put(d, k + "rx", lacp::name(s.rx));
    put(d, k + "actor_port", s.actor.port);
    put(d, k + "actor_port_priority", s.actor.port_priority);
    put(d, k + "actor_key", s.actor.key);
    put(d, k + "actor_state", s.actor.state);
    put(d, k + "actor_state_flags", lacp::state_text(s.actor.state));
    put(d, k + "partner_system_priority", s.partner.system_priority);
    put(d, k + "partner_mac", mac_text(s.partner.system));
    put(d, k + "partner_key", s.partner.key);
    put(d, k + "partner_port", s.partner.port);
    put(d, k + "partner_port_priority", s.partner.port_priority);
    put(d, k + "partner_state", s.partner.state);
    put(d, k + "partner_state_flags", lacp::state_text(s.partner.state));
    put(d, k + "actor_churn", lacp::name(s.actor_churn));
    put(d, k + "partner_churn", lacp::name(s.partner_churn));
    put(d, k + "actor_churns", n.actor_churns);
    put(d, k + "partner_churns", n.partner_churns);
    put(d, k + "lacpdus_rx", n.lacpdus_rx);
    put(d, k + "lacpdus_tx", n.lacpdus_tx);
    put(d, k + "markers_rx", n.markers_rx);
    put(d, k + "marker_responses_tx", n.marker_responses_tx);
    put(d, k + "bad_rx", n.truncated_rx + n.malformed_rx + n.unknown_rx + n.ignored_rx);
  }
}

int lacp_cmd(const char*, const char* params, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  const std::string which = params == nullptr ? "" : params;
  if (which.empty()) {
    for (Side side : {Side::inside, Side::outside}) {
      add_aggregate(d, g_daemon->aggregator(side).status(), std::string(side_name(side)) + "_",
                    false);
    }
  } else if (which == "inside" || which == "outside") {
    const Side side = which == "inside" ? Side::inside : Side::outside;
    add_aggregate(d, g_daemon->aggregator(side).status(), "", true);
  } else {
    return -EINVAL;
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
  rte_telemetry_register_cmd("/sluice/lacp", lacp_cmd,
                             "Aggregates: without a parameter a summary of both; with inside "
                             "or outside every member's link, LACP state and counters");
  rte_telemetry_register_cmd("/sluice/worker", worker,
                             "One worker's counters and drops. Parameters: int worker_id");
}

}  // namespace sluice
