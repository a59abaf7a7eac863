#include "telemetry.h"

#include <netinet/in.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_telemetry.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config.h"
#include "daemon.h"
#include "inspect.h"
#include "nat_tcp.h"

namespace sluice {

namespace {

const Daemon* g_daemon = nullptr;

// Adds one value; DPDK refuses some keys (22.11: letters, digits and '_'
// only, at most 64 characters) and a full dict. The first refusal is kept
// and returned to the client instead of a silently shorter answer. DPDK
// serves each client on its own thread, hence thread_local.
thread_local int g_add_error = 0;

// sluicectl clear (below): put() records a command's values as its baseline,
// or answers counters less their baseline; gauges are never subtracted.
using Values = std::map<std::string, uint64_t, std::less<>>;
struct View {
  Values* capture = nullptr;
  const Values* base = nullptr;
};
thread_local View g_view;
bool is_gauge(std::string_view key);

void put(rte_tel_data* d, const std::string& key, uint64_t v) {
  if (g_view.capture != nullptr) {
    (*g_view.capture)[key] = v;
    return;
  }
  if (g_view.base != nullptr && !is_gauge(key)) {
    const auto it = g_view.base->find(key);
    if (it != g_view.base->end()) v -= it->second;
  }
  const int rc = rte_tel_data_add_dict_u64(d, key.c_str(), v);
  if (rc != 0 && g_add_error == 0) g_add_error = rc;
}

void put(rte_tel_data* d, const std::string& key, const std::string& v) {
  if (g_view.capture != nullptr) return;  // a baseline holds counters only
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
  put(d, "fragments_made", t.fragments_made);
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
  put(d, "lacp_rate_limited", c.lacp_rate_limited.read());
  put(d, "control_tx_failed", c.tx_failed.read());
  put(d, "control_alloc_failed", c.alloc_failed.read());
  put(d, "control_no_member", c.no_member.read());
  put(d, "mbufs", g_daemon->mbufs());
  put(d, "mbufs_in_use", g_daemon->mbufs_in_use());
  put(d, "mbufs_exhausted_ms", c.mbufs_exhausted_ms.read());
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
    put(d, k + "looped_rx", n.looped_rx);
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

// Per profile: an array of 18 numbers, per direction (upload, then
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

// --- sluicectl's commands ----------------------------------------------------
//
//   /sluice/info           what sluicectl needs first: pipeline, workers,
//                          ports, uptime, clears, and which keys are gauges
//   /sluice/port,K         sluice's port K (K < ports): totals and per queue
//   /sluice/nat_states     sessions now by protocol, TCP sessions by state
//   /sluice/pool[,first=N] port-block and port use per public address
//   /sluice/sessions,...   a bounded listing of sessions, with filters
//   /sluice/clients,...    a bounded listing of clients, or the top by sessions
//   /sluice/clear          takes the "since clear" baseline
//   /sluice/since_clear,CMD[,PARAMS]  CMD's answer less the baseline
//
// Listings are served by the workers through their mailboxes (inspect.h):
// the telemetry thread never reads a session or client record itself.

uint64_t g_start_tsc = 0;
std::mutex g_clear_mutex;  // the baseline, g_clears and g_clear_tsc
uint64_t g_clears = 0;
uint64_t g_clear_tsc = 0;  // start-up until the first clear

// Keys that are a level, not a count: never subtracted, typed gauge.
std::vector<std::string> gauge_keys() {
  std::vector<std::string> g = {
      "workers",          "ports",         "rx_queues", "tx_queues",   "sessions",
      "session_capacity", "mappings",      "clients",   "port_blocks", "sessions_tcp",
      "sessions_udp",     "sessions_icmp", "addresses", "blocks",      "blocks_used",
      "pool_ports",       "ports_used",    "mbufs",     "mbufs_in_use"};
  for (unsigned s = 0; s < kTcpStates; s++)
    g.push_back("tcp_" + key_of(tcp_state_name(static_cast<TcpState>(s))));
  return g;
}

const std::vector<std::string>& gauges() {
  static const std::vector<std::string> g = gauge_keys();
  return g;
}

bool is_gauge(std::string_view key) {
  return std::find(gauges().begin(), gauges().end(), key) != gauges().end();
}

uint64_t ms_since(uint64_t tsc) {
  return (rte_rdtsc() - tsc) * 1000 / rte_get_tsc_hz();
}

// "k1=v1,k2=v2" -> map; a word without '=' maps to "".
std::map<std::string, std::string, std::less<>> parse_params(const char* params) {
  std::map<std::string, std::string, std::less<>> m;
  std::string_view rest = params == nullptr ? "" : params;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    const size_t eq = item.find('=');
    m[std::string(item.substr(0, eq))] = eq == std::string_view::npos ? "" : item.substr(eq + 1);
    rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
  }
  return m;
}

bool parse_uint(std::string_view text, uint64_t max, uint64_t* out) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v > max) return false;
  *out = v;
  return true;
}

// "IP" or "IP:PORT" into the filter's fields for one endpoint.
bool parse_endpoint(const std::string& text, uint32_t* ip, uint16_t* port, uint8_t ip_bit,
                    uint8_t port_bit, InspectFilter* f) {
  const size_t colon = text.find(':');
  if (!parse_ip(text.substr(0, colon), ip)) return false;
  f->match |= ip_bit;
  if (colon == std::string::npos) return true;
  uint64_t p = 0;
  if (!parse_uint(std::string_view(text).substr(colon + 1), 65535, &p)) return false;
  *port = static_cast<uint16_t>(p);
  f->match |= port_bit;
  return true;
}

using F = InspectFilter;

bool parse_filter(const std::map<std::string, std::string, std::less<>>& params, F* f) {
  for (const auto& [key, value] : params) {
    bool ok = true;
    if (key == "inside") {
      ok = parse_endpoint(value, &f->inside_ip_value, &f->inside_port_value, F::inside_ip,
                          F::inside_port, f);
    } else if (key == "public") {
      ok = parse_endpoint(value, &f->public_ip_value, &f->public_port_value, F::public_ip,
                          F::public_port, f);
    } else if (key == "remote") {
      ok = parse_endpoint(value, &f->remote_ip_value, &f->remote_port_value, F::remote_ip,
                          F::remote_port, f);
    } else if (key == "proto") {
      f->match |= F::proto;
      f->proto_value = value == "tcp" ? IPPROTO_TCP : value == "udp" ? IPPROTO_UDP : 0;
      if (value == "icmp") f->proto_value = IPPROTO_ICMP;
      ok = f->proto_value != 0;
    } else if (key != "limit" && key != "cursor" && key != "top" && key != "first") {
      ok = false;
    }
    if (!ok) return false;
  }
  return true;
}

// One listing at a time over all mailboxes: DPDK serves each telemetry
// client on its own thread.
std::mutex g_inspect_mutex;

// Walks workers' tables from (worker, index) with `request` until `want`
// rows came, every table was walked or `budget` is spent, calling
// take(worker, reply) per step; false when a worker did not answer. *worker
// and *cursor say where it stopped (worker == W: done).
template <class Take>
bool walk(InspectRequest request, uint32_t want, std::chrono::milliseconds budget, unsigned* worker,
          uint32_t* cursor, Take&& take) {
  const auto& ws = g_daemon->workers();
  const auto deadline = std::chrono::steady_clock::now() + budget;
  uint32_t got = 0;
  request.cursor = *cursor;
  while (*worker < ws.size() && got < want && std::chrono::steady_clock::now() < deadline) {
    request.max_rows = std::min<uint32_t>(want - got, kInspectRows);
    InspectReply reply;
    if (!ws[*worker]->mailbox.ask(request, &reply, std::chrono::milliseconds(500))) return false;
    take(*worker, reply);
    got += reply.rows;
    if (!reply.supported || reply.done) {
      (*worker)++;
      request.cursor = 0;
    } else {
      request.cursor = reply.cursor;
    }
    *cursor = request.cursor;
    std::this_thread::sleep_for(kInspectPace);
  }
  return true;
}

std::string endpoint(uint32_t ip, uint16_t port) {
  return format_ip(ip) + ":" + std::to_string(port);
}

const char* proto_name(uint8_t p) {
  return p == IPPROTO_TCP ? "tcp" : p == IPPROTO_UDP ? "udp" : "icmp";
}

// Column arrays of a listing, handed to the answer at the end.
struct Columns {
  std::vector<std::pair<std::string, rte_tel_data*>> cols;
  rte_tel_data* add(const char* name, rte_tel_value_type type) {
    rte_tel_data* c = rte_tel_data_alloc();
    if (c == nullptr) return nullptr;
    rte_tel_data_start_array(c, type);
    cols.emplace_back(name, c);
    return c;
  }
  void str(size_t i, const std::string& v) {
    rte_tel_data_add_array_string(cols[i].second, v.c_str());
  }
  void num(size_t i, uint64_t v) { rte_tel_data_add_array_u64(cols[i].second, v); }
  bool ok() const {
    return std::none_of(cols.begin(), cols.end(),
                        [](const auto& c) { return c.second == nullptr; });
  }
  ~Columns() {
    for (auto& c : cols)
      rte_tel_data_free(c.second);
  }
  void finish(rte_tel_data* d) {
    for (auto& [name, c] : cols) {
      if (c != nullptr) rte_tel_data_add_dict_container(d, name.c_str(), c, 0);
    }
    cols.clear();
  }
};

// "K:I" -> worker K, index I.
bool parse_cursor(const std::string& text, unsigned* worker, uint32_t* index) {
  const size_t colon = text.find(':');
  uint64_t k = 0, i = 0;
  if (colon == std::string::npos ||
      !parse_uint(std::string_view(text).substr(0, colon), 4096, &k) ||
      !parse_uint(std::string_view(text).substr(colon + 1), UINT32_MAX, &i)) {
    return false;
  }
  *worker = static_cast<unsigned>(k);
  *index = static_cast<uint32_t>(i);
  return true;
}

constexpr uint64_t kMaxListRows = 100;  // one answer stays below DPDK's 16 KiB
// A listing answers within kListBudget, with a cursor to go on from; the
// pool and the top clients need the whole walk.
constexpr auto kListBudget = std::chrono::milliseconds(2000);
constexpr auto kWholeWalk = std::chrono::milliseconds(60000);

int info(const char*, const char*, rte_tel_data* d) {
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(d, "pipeline", g_daemon->config().pipeline.c_str());
  rte_tel_data_add_dict_string(d, "prefix", g_daemon->config().prefix.c_str());
  put(d, "workers", g_daemon->workers().size());
  put(d, "ports", g_daemon->ports().size());
  put(d, "exporting", uint64_t{g_daemon->exporter() != nullptr});  // /sluice/export has figures
  put(d, "uptime_ms", ms_since(g_start_tsc));
  put(d, "tsc_hz", rte_get_tsc_hz());
  {
    const std::lock_guard lock(g_clear_mutex);
    put(d, "clears", g_clears);
    put(d, "since_clear_ms", ms_since(g_clear_tsc));
  }
  rte_tel_data* g = rte_tel_data_alloc();
  if (g == nullptr) return -ENOMEM;
  rte_tel_data_start_array(g, RTE_TEL_STRING_VAL);
  for (const std::string& k : gauges())
    rte_tel_data_add_array_string(g, k.c_str());
  rte_tel_data_add_dict_container(d, "gauges", g, 0);
  return finish();
}

int port(const char*, const char* params, rte_tel_data* d) {
  uint64_t k = 0;
  if (params == nullptr || !parse_uint(params, g_daemon->ports().size() - 1, &k)) return -EINVAL;
  const PortInfo& p = g_daemon->ports()[k];
  rte_eth_stats s{};
  if (rte_eth_stats_get(p.id, &s) != 0) return -EIO;
  const bool inside = k < g_daemon->config().inside.ports.size();
  rte_tel_data_start_dict(d);
  rte_tel_data_add_dict_string(d, "name", p.name.c_str());
  rte_tel_data_add_dict_string(d, "driver", p.driver.c_str());
  rte_tel_data_add_dict_string(d, "side", inside ? "inside" : "outside");
  put(d, "rx_queues", p.rx_queues);
  put(d, "tx_queues", p.tx_queues);
  put(d, "rx_packets", s.ipackets);
  put(d, "tx_packets", s.opackets);
  put(d, "rx_bytes", s.ibytes);
  put(d, "tx_bytes", s.obytes);
  put(d, "rx_missed", s.imissed);
  put(d, "rx_nombuf", s.rx_nombuf);
  put(d, "rx_errors", s.ierrors);
  put(d, "tx_errors", s.oerrors);
  for (unsigned q = 0; q < std::min<unsigned>(p.rx_queues, RTE_ETHDEV_QUEUE_STAT_CNTRS); q++) {
    put(d, fmt::format("rxq{}_packets", q), s.q_ipackets[q]);
    put(d, fmt::format("rxq{}_bytes", q), s.q_ibytes[q]);
  }
  for (unsigned q = 0; q < std::min<unsigned>(p.tx_queues, RTE_ETHDEV_QUEUE_STAT_CNTRS); q++) {
    put(d, fmt::format("txq{}_packets", q), s.q_opackets[q]);
    put(d, fmt::format("txq{}_bytes", q), s.q_obytes[q]);
  }
  return finish();
}

int nat_states(const char*, const char*, rte_tel_data* d) {
  uint64_t tcp = 0, udp = 0, icmp = 0;
  std::array<uint64_t, kTcpStates> states{};
  for (const auto& table : g_daemon->nat_tables()) {
    const NatGauges& g = table->gauges();
    tcp += g.tcp.read();
    udp += g.udp.read();
    icmp += g.icmp.read();
    for (unsigned s = 0; s < kTcpStates; s++)
      states[s] += g.tcp_states[s].read();
  }
  rte_tel_data_start_dict(d);
  put(d, "sessions_tcp", tcp);
  put(d, "sessions_udp", udp);
  put(d, "sessions_icmp", icmp);
  for (unsigned s = 0; s < kTcpStates; s++)
    put(d, "tcp_" + key_of(tcp_state_name(static_cast<TcpState>(s))), states[s]);
  return finish();
}

int pool(const char*, const char* params, rte_tel_data* d) {
  const auto p = parse_params(params);
  uint64_t first = 0;
  if (p.count("first") != 0 && !parse_uint(p.at("first"), UINT32_MAX, &first)) return -EINVAL;
  // Every worker holds a share of every address, in the same order: the
  // rows are summed.
  std::vector<AddressRow> rows;
  unsigned worker = 0;
  uint32_t cursor = 0;
  unsigned row_worker = 0;
  size_t i = 0;
  InspectRequest q;
  q.what = InspectWhat::pool;
  const std::lock_guard lock(g_inspect_mutex);
  const bool ok =
      walk(q, UINT32_MAX, kWholeWalk, &worker, &cursor, [&](unsigned k, const InspectReply& r) {
        if (k != row_worker) i = 0;
        row_worker = k;
        for (uint32_t j = 0; j < r.rows; j++, i++) {
          if (i == rows.size()) rows.push_back(AddressRow{r.addresses[j].ip, 0, 0, 0});
          rows[i].blocks += r.addresses[j].blocks;
          rows[i].blocks_used += r.addresses[j].blocks_used;
          rows[i].ports_used += r.addresses[j].ports_used;
        }
      });
  if (!ok || worker < g_daemon->workers().size()) return -EBUSY;
  const uint64_t block_size =
      g_daemon->nat_tables().empty() ? 0 : g_daemon->nat_tables()[0]->params().pool.block_size;
  uint64_t blocks = 0, used = 0, ports_used = 0;
  for (const AddressRow& r : rows) {
    blocks += r.blocks;
    used += r.blocks_used;
    ports_used += r.ports_used;
  }
  rte_tel_data_start_dict(d);
  put(d, "addresses", rows.size());
  put(d, "blocks", blocks);
  put(d, "blocks_used", used);
  put(d, "pool_ports", blocks * block_size);
  put(d, "ports_used", ports_used);
  Columns c;
  c.add("address", RTE_TEL_STRING_VAL);
  c.add("address_blocks", RTE_TEL_U64_VAL);
  c.add("address_blocks_used", RTE_TEL_U64_VAL);
  c.add("address_ports_used", RTE_TEL_U64_VAL);
  if (!c.ok()) return -ENOMEM;
  for (size_t i = first; i < rows.size() && i < first + kMaxListRows; i++) {
    c.str(0, format_ip(rows[i].ip));
    c.num(1, rows[i].blocks);
    c.num(2, rows[i].blocks_used);
    c.num(3, rows[i].ports_used);
  }
  c.finish(d);
  return finish();
}

// Limit and cursor of a listing; false on a bad value.
bool list_bounds(const std::map<std::string, std::string, std::less<>>& p, uint64_t* limit,
                 unsigned* worker, uint32_t* cursor) {
  *limit = 50;
  if (p.count("limit") != 0 && (!parse_uint(p.at("limit"), kMaxListRows, limit) || *limit == 0)) {
    return false;
  }
  return p.count("cursor") == 0 || parse_cursor(p.at("cursor"), worker, cursor);
}

void add_walk_end(rte_tel_data* d, unsigned worker, uint32_t cursor, uint64_t rows,
                  uint64_t scanned) {
  put(d, "rows", rows);
  put(d, "scanned", scanned);
  const std::string next = worker < g_daemon->workers().size()
                               ? std::to_string(worker) + ":" + std::to_string(cursor)
                               : "";
  rte_tel_data_add_dict_string(d, "next", next.c_str());
}

int sessions(const char*, const char* params, rte_tel_data* d) {
  const auto p = parse_params(params);
  InspectRequest q;
  uint64_t limit = 0;
  unsigned worker = 0;
  uint32_t cursor = 0;
  if (!parse_filter(p, &q.filter) || !list_bounds(p, &limit, &worker, &cursor)) return -EINVAL;
  Columns c;
  c.add("proto", RTE_TEL_STRING_VAL);
  c.add("inside", RTE_TEL_STRING_VAL);
  c.add("public", RTE_TEL_STRING_VAL);
  c.add("remote", RTE_TEL_STRING_VAL);
  c.add("state", RTE_TEL_STRING_VAL);
  c.add("idle_ms", RTE_TEL_U64_VAL);
  c.add("worker", RTE_TEL_U64_VAL);
  if (!c.ok()) return -ENOMEM;
  uint64_t rows = 0, scanned = 0;
  const std::lock_guard lock(g_inspect_mutex);
  const bool ok =
      walk(q, static_cast<uint32_t>(limit), kListBudget, &worker, &cursor,
           [&](unsigned k, const InspectReply& r) {
             scanned += r.scanned;
             for (uint32_t j = 0; j < r.rows; j++, rows++) {
               const SessionRow& s = r.sessions[j];
               c.str(0, proto_name(s.proto));
               c.str(1, endpoint(s.inside_ip, s.inside_port));
               c.str(2, endpoint(s.public_ip, s.public_port));
               c.str(3, endpoint(s.remote_ip, s.remote_port));
               c.str(4, s.proto == IPPROTO_TCP ? tcp_state_name(static_cast<TcpState>(s.tcp_state))
                                               : "-");
               c.num(5, s.idle_ms);
               c.num(6, k);
             }
           });
  if (!ok) return -EBUSY;
  rte_tel_data_start_dict(d);
  c.finish(d);
  add_walk_end(d, worker, cursor, rows, scanned);
  return finish();
}

int clients(const char*, const char* params, rte_tel_data* d) {
  const auto p = parse_params(params);
  InspectRequest q;
  q.what = InspectWhat::clients;
  uint64_t limit = 0;
  unsigned worker = 0;
  uint32_t cursor = 0;
  if (!parse_filter(p, &q.filter) || !list_bounds(p, &limit, &worker, &cursor)) return -EINVAL;
  // top: every client is looked at and the `limit` with most sessions kept.
  const bool top = p.count("top") != 0;
  struct Row {
    ClientRow c;
    unsigned worker;
  };
  std::vector<Row> rows;
  uint64_t scanned = 0;
  const std::lock_guard lock(g_inspect_mutex);
  const bool ok = walk(
      q, top ? UINT32_MAX : static_cast<uint32_t>(limit), top ? kWholeWalk : kListBudget, &worker,
      &cursor, [&](unsigned k, const InspectReply& r) {
        scanned += r.scanned;
        for (uint32_t j = 0; j < r.rows; j++)
          rows.push_back(Row{r.clients[j], k});
        if (!top) return;
        const auto more = [](const Row& a, const Row& b) { return a.c.sessions > b.c.sessions; };
        std::sort(rows.begin(), rows.end(), more);
        if (rows.size() > limit) rows.resize(limit);
      });
  if (!ok) return -EBUSY;
  Columns c;
  c.add("client", RTE_TEL_STRING_VAL);
  c.add("public", RTE_TEL_STRING_VAL);
  c.add("sessions", RTE_TEL_U64_VAL);
  c.add("port_blocks", RTE_TEL_U64_VAL);
  c.add("worker", RTE_TEL_U64_VAL);
  if (!c.ok()) return -ENOMEM;
  for (const Row& r : rows) {
    c.str(0, format_ip(r.c.ip));
    c.str(1, format_ip(r.c.public_ip));
    c.num(2, r.c.sessions);
    c.num(3, r.c.blocks);
    c.num(4, r.worker);
  }
  rte_tel_data_start_dict(d);
  c.finish(d);
  add_walk_end(d, worker, cursor, rows.size(), scanned);
  return finish();
}

// The commands whose counters "since clear" applies to, with the parameters
// of every instance.
struct Clearable {
  const char* cmd;
  telemetry_cb fn;
  size_t (*instances)();  // nullptr: one, without parameters
};

size_t worker_count() {
  return g_daemon->workers().size();
}
size_t port_count() {
  return g_daemon->ports().size();
}

const Clearable kClearable[] = {
    {"/sluice/stats", stats, nullptr},  {"/sluice/drops", drops, nullptr},
    {"/sluice/nat", nat, nullptr},      {"/sluice/worker", worker, worker_count},
    {"/sluice/port", port, port_count},
};

std::map<std::string, Values> g_baseline;  // by command with its parameters

int clear(const char*, const char*, rte_tel_data* d) {
  std::map<std::string, Values> base;
  for (const Clearable& c : kClearable) {
    const size_t n = c.instances == nullptr ? 1 : c.instances();
    for (size_t i = 0; i < n; i++) {
      const std::string params = c.instances == nullptr ? "" : std::to_string(i);
      const std::string key = params.empty() ? c.cmd : std::string(c.cmd) + "," + params;
      rte_tel_data* scratch = rte_tel_data_alloc();
      if (scratch == nullptr) return -ENOMEM;
      g_view.capture = &base[key];
      c.fn(c.cmd, params.c_str(), scratch);
      g_view.capture = nullptr;
      rte_tel_data_free(scratch);
    }
  }
  rte_tel_data_start_dict(d);
  const std::lock_guard lock(g_clear_mutex);
  g_baseline = std::move(base);
  g_clears++;
  g_clear_tsc = rte_rdtsc();
  put(d, "clears", g_clears);
  return finish();
}

int since_clear(const char*, const char* params, rte_tel_data* d) {
  const std::string_view full = params == nullptr ? "" : params;
  const size_t comma = full.find(',');
  const std::string_view cmd = full.substr(0, comma);
  const std::string inner(comma == std::string_view::npos ? "" : full.substr(comma + 1));
  for (const Clearable& c : kClearable) {
    if (cmd != c.cmd) continue;
    Values base;
    {
      const std::lock_guard lock(g_clear_mutex);
      const auto it = g_baseline.find(std::string(full));
      if (it != g_baseline.end()) base = it->second;
    }
    g_view.base = &base;
    const int rc = c.fn(c.cmd, inner.c_str(), d);
    g_view.base = nullptr;
    return rc;
  }
  return -EINVAL;
}

}  // namespace

void register_telemetry(const Daemon& daemon) {
  g_daemon = &daemon;
  g_start_tsc = g_clear_tsc = rte_rdtsc();
  // DPDK 22.11 refuses a help text of 128 characters or more.
  const struct {
    const char* cmd;
    telemetry_cb fn;
    const char* help;
  } commands[] = {
      {"/sluice/stats", stats, "Totals of worker and control counters. Takes no parameters"},
      {"/sluice/drops", drops, "Drops by reason, summed over workers. Takes no parameters"},
      {"/sluice/nat", nat,
       "NAT sessions, mappings, clients, port blocks, summed over workers. No parameters"},
      {"/sluice/worker", worker, "One worker's counters and drops. Parameters: int worker_id"},
      {"/sluice/lacp", lacp_cmd,
       "Aggregates: a summary of both; with inside or outside each member's link, LACP, counters"},
      {"/sluice/policing", policing,
       "Per profile, up then down: conformed, exceeded, violated [packets, bytes, bit/s]. No "
       "params"},
      {"/sluice/policing/clients", policing_clients,
       "Top policed clients: [profile, up conformed, exceeded, down ...: packets, bytes, bit/s]. "
       "Param: count"},
      {"/sluice/info", info, "Pipeline, workers, ports, uptime, clears, gauge keys. No parameters"},
      {"/sluice/port", port, "One port's counters, totals and per queue. Parameters: int index"},
      {"/sluice/nat_states", nat_states,
       "NAT sessions now by protocol, TCP ones by state. No parameters"},
      {"/sluice/pool", pool, "Blocks and ports in use per public address. Parameters: [first=N]"},
      {"/sluice/sessions", sessions,
       "NAT sessions. Parameters: [inside|public|remote=IP[:PORT]][,proto=P][,limit=N][,cursor=C]"},
      {"/sluice/clients", clients,
       "NAT clients. Parameters: [inside=IP][,limit=N][,top][,cursor=C]"},
      {"/sluice/clear", clear, "Takes the since-clear baseline (counters never reset). No params"},
      {"/sluice/since_clear", since_clear,
       "A command's counters since /sluice/clear. Parameters: command[,its parameters]"},
  };
  for (const auto& c : commands) {
    if (rte_telemetry_register_cmd(c.cmd, c.fn, c.help) != 0)
      fmt::print(stderr, "sluice: warning: telemetry command {} not registered\n", c.cmd);
  }
}

}  // namespace sluice
