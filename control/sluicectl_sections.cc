// The sections `sluicectl stats` and `sluicectl top` are made of, in the
// order they are shown. Each reads some telemetry commands and renders
// them as tables (stats), Prometheus samples (stats --prometheus) and
// lines of the live view (top). A new group of counters (policing,
// export) is one more Section in kSections.
#include <fmt/format.h>

#include <algorithm>

#include "sluicectl.h"

namespace sluice::ctl {

namespace {

uint64_t num(const Json& j, const std::string& key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

// Per second between two readings of a counter.
double rate(const Json& now, const Json& before, const std::string& key, double seconds) {
  const uint64_t a = num(now, key), b = num(before, key);
  return seconds > 0 && a >= b ? static_cast<double>(a - b) / seconds : 0;
}

double share(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

std::string worker_cmd(uint64_t k) {
  return "/sluice/worker," + std::to_string(k);
}
std::string port_cmd(uint64_t k) {
  return "/sluice/port," + std::to_string(k);
}

// A table of counters: label, total and, when cleared, since clear.
struct Table {
  std::string& out;
  bool cleared;
  void heading(const std::string& title, const char* column = "total") {
    out += fmt::format("{:<36} {:>16}{}\n", title, column, cleared ? "      since clear" : "");
  }
  void row(const std::string& label, uint64_t total, uint64_t since) {
    if (cleared) {
      out += fmt::format("  {:<34} {:>16} {:>16}\n", label, thousands(total), thousands(since));
    } else {
      out += fmt::format("  {:<34} {:>16}\n", label, thousands(total));
    }
  }
  void rows(const Json& abs, const Json& since, const std::vector<std::string>& keys) {
    for (const std::string& k : keys)
      row(label_of(k), num(abs, k), num(since, k));
  }
};

std::vector<std::string> number_keys(const Json& j) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : j.items())
    if (v.is_number_unsigned()) keys.push_back(k);
  return keys;
}

// --- dataplane: the workers ----------------------------------------------------

const std::vector<std::string> kWorkerRows = {
    "rx_packets",    "forwarded",        "tx_packets",
    "punted",        "handed_off",       "handed_in",
    "dropped",       "icmp_errors_sent", "icmp_errors_suppressed",
    "fragments_made"};

std::vector<std::string> dataplane_commands(const Snapshot& s) {
  std::vector<std::string> c = {"/sluice/stats"};
  for (uint64_t k = 0; k < s.workers(); k++)
    c.push_back(worker_cmd(k));
  return c;
}

void dataplane_table(const Snapshot& s, bool cleared, std::string& out) {
  Table t{out, cleared};
  const Json& all = s.at("/sluice/stats");
  t.heading(fmt::format("Dataplane ({} workers)", s.workers()));
  t.rows(all, s.at("/sluice/stats", true), kWorkerRows);
  if (all.contains("mbufs")) {
    // A level: after a burst it must come back to where it was.
    out += fmt::format(
        "  {:<34} {:>16}\n", "packet buffers in use",
        fmt::format("{} of {}", thousands(num(all, "mbufs_in_use")), thousands(num(all, "mbufs"))));
  }
  out += fmt::format("\n  {:<7} {:>14} {:>14} {:>12} {:>12} {:>8}\n", "worker", "received",
                     "transmitted", "dropped", "handed off", "busy");
  for (uint64_t k = 0; k < s.workers(); k++) {
    const Json& w = s.at(worker_cmd(k));
    const uint64_t busy = num(w, "busy_cycles");
    out += fmt::format("  {:<7} {:>14} {:>14} {:>12} {:>12} {:>7.1f}%\n", k,
                       thousands(num(w, "rx_packets")), thousands(num(w, "tx_packets")),
                       thousands(num(w, "dropped")), thousands(num(w, "handed_off")),
                       share(busy, busy + num(w, "idle_cycles")));
  }
}

void dataplane_prometheus(const Snapshot& s, Prometheus& p) {
  const Json& all = s.at("/sluice/stats");
  for (const char* k : {"mbufs", "mbufs_in_use"}) {
    if (all.contains(k))
      p.add(k, false, std::string("packet buffer pool: ") + k + " (/sluice/stats)", {},
            num(all, k));
  }
  for (uint64_t k = 0; k < s.workers(); k++) {
    const std::string worker = std::to_string(k);
    for (const auto& [key, v] : s.at(worker_cmd(k)).items()) {
      if (!v.is_number_unsigned()) continue;
      if (key.starts_with("drop_")) {
        std::string reason = key.substr(5);
        std::replace(reason.begin(), reason.end(), '_', '-');
        p.add("drops", true, "packets dropped, by worker and reason (sluicectl drops)",
              {{"worker", worker}, {"reason", reason}}, v.get<uint64_t>());
      } else {
        p.add("worker_" + key, true, "worker counter " + key + " (/sluice/worker,K)",
              {{"worker", worker}}, v.get<uint64_t>());
      }
    }
  }
}

void dataplane_top(const Snapshot& now, const Snapshot& before, double sec,
                   std::vector<std::string>& out) {
  out.push_back(fmt::format("{:<7} {:>7} {:>9} {:>10} {:>10} {:>10}", "WORKER", "busy", "handoff",
                            "rx pps", "tx pps", "drops/s"));
  for (uint64_t k = 0; k < now.workers(); k++) {
    const Json& a = now.at(worker_cmd(k));
    const Json& b = before.at(worker_cmd(k));
    const double busy = rate(a, b, "busy_cycles", 1);
    const double idle = rate(a, b, "idle_cycles", 1);
    const double rx = rate(a, b, "rx_packets", 1);
    out.push_back(fmt::format("w{:<6} {:>6.1f}% {:>8.1f}% {:>10} {:>10} {:>10}", k,
                              busy + idle > 0 ? 100 * busy / (busy + idle) : 0.0,
                              rx > 0 ? 100 * rate(a, b, "handed_off", 1) / rx : 0.0, si(rx / sec),
                              si(rate(a, b, "tx_packets", sec)), si(rate(a, b, "dropped", sec))));
  }
}

// --- ports and queues ------------------------------------------------------------

std::vector<std::string> ports_commands(const Snapshot& s) {
  std::vector<std::string> c;
  for (uint64_t k = 0; k < s.ports(); k++)
    c.push_back(port_cmd(k));
  return c;
}

bool queue_key(const std::string& k) {
  return k.starts_with("rxq") || k.starts_with("txq");
}

uint64_t queues(const Json& p) {
  return std::max(num(p, "rx_queues"), num(p, "tx_queues"));
}

void ports_table(const Snapshot& s, bool cleared, std::string& out) {
  Table t{out, cleared};
  for (uint64_t k = 0; k < s.ports(); k++) {
    const Json& p = s.at(port_cmd(k));
    if (k != 0) out += "\n";
    t.heading(fmt::format("Port {} ({}, {})", p.value("name", "?"), p.value("side", "?"),
                          p.value("driver", "?")));
    std::vector<std::string> keys;
    for (const std::string& key : number_keys(p))
      if (!queue_key(key) && !s.is_gauge(key)) keys.push_back(key);
    t.rows(p, s.at(port_cmd(k), true), keys);
    out += fmt::format("  {:<7} {:>14} {:>16} {:>14} {:>16}\n", "queue", "rx packets", "rx bytes",
                       "tx packets", "tx bytes");
    for (uint64_t q = 0; q < queues(p); q++) {
      const std::string rx = fmt::format("rxq{}_", q), tx = fmt::format("txq{}_", q);
      if (!p.contains(rx + "packets") && !p.contains(tx + "packets")) continue;
      out += fmt::format("  {:<7} {:>14} {:>16} {:>14} {:>16}\n", q,
                         thousands(num(p, rx + "packets")), thousands(num(p, rx + "bytes")),
                         thousands(num(p, tx + "packets")), thousands(num(p, tx + "bytes")));
    }
  }
}

void ports_prometheus(const Snapshot& s, Prometheus& out) {
  for (uint64_t k = 0; k < s.ports(); k++) {
    const Json& p = s.at(port_cmd(k));
    const Prometheus::Labels port = {{"port", p.value("name", "?")},
                                     {"side", p.value("side", "?")}};
    for (const std::string& key : number_keys(p)) {
      const uint64_t v = num(p, key);
      if (!queue_key(key)) {
        out.add("port_" + key, !s.is_gauge(key), "port counter " + key + " (/sluice/port,K)", port,
                v);
        continue;
      }
      // rxq3_packets -> port_queue_rx_packets{queue="3"}
      const size_t under = key.find('_');
      Prometheus::Labels l = port;
      l.emplace_back("queue", key.substr(3, under - 3));
      out.add("port_queue_" + key.substr(0, 2) + key.substr(under), true,
              "per-queue counter (/sluice/port,K)", l, v);
    }
  }
}

std::string traffic(const Json& a, const Json& b, const std::string& rx, const std::string& tx,
                    double sec) {
  return fmt::format("{:>8} {:>9} {:>8} {:>9}", si(rate(a, b, rx + "packets", sec)),
                     si(8 * rate(a, b, rx + "bytes", sec)), si(rate(a, b, tx + "packets", sec)),
                     si(8 * rate(a, b, tx + "bytes", sec)));
}

void ports_top(const Snapshot& now, const Snapshot& before, double sec,
               std::vector<std::string>& out) {
  out.push_back(fmt::format("{:<24} {:>8} {:>9} {:>8} {:>9} {:>7} {:>7}", "PORT / QUEUE", "rx pps",
                            "rx bit/s", "tx pps", "tx bit/s", "missed", "no-mbuf"));
  for (uint64_t k = 0; k < now.ports(); k++) {
    const Json& a = now.at(port_cmd(k));
    const Json& b = before.at(port_cmd(k));
    const std::string name = fmt::format("{} {}", a.value("side", "?"), a.value("name", "?"));
    out.push_back(fmt::format("{:<24.24} {} {:>7} {:>7}", name, traffic(a, b, "rx_", "tx_", sec),
                              si(rate(a, b, "rx_missed", sec)), si(rate(a, b, "rx_nombuf", sec))));
    for (uint64_t q = 0; q < queues(a); q++) {
      const std::string rx = fmt::format("rxq{}_", q), tx = fmt::format("txq{}_", q);
      if (!a.contains(rx + "packets") && !a.contains(tx + "packets")) continue;
      out.push_back(fmt::format("  q{:<21} {}", q, traffic(a, b, rx, tx, sec)));
    }
  }
}

// --- NAT -------------------------------------------------------------------------

std::vector<std::string> nat_commands(const Snapshot& s) {
  if (!s.nat()) return {};
  return {"/sluice/nat", "/sluice/nat_states"};
}

void nat_table(const Snapshot& s, bool cleared, std::string& out) {
  Table t{out, cleared};
  const Json& n = s.at("/sluice/nat");
  t.heading("NAT");
  t.rows(n, s.at("/sluice/nat", true), number_keys(n));
  const Json& st = s.at("/sluice/nat_states");
  out += "\n";
  Table levels{out, false};
  levels.heading("NAT sessions by protocol and TCP state", "now");
  for (const std::string& k : number_keys(st))
    levels.row(label_of(k), num(st, k), 0);
}

void nat_prometheus(const Snapshot& s, Prometheus& out) {
  for (const std::string& k : number_keys(s.at("/sluice/nat"))) {
    out.add("nat_" + k, !s.is_gauge(k), "NAT " + label_of(k) + " (/sluice/nat)", {},
            num(s.at("/sluice/nat"), k));
  }
  const Json& st = s.at("/sluice/nat_states");
  for (const std::string& k : number_keys(st)) {
    if (k.starts_with("sessions_")) {
      out.add("nat_sessions_by_protocol", false, "NAT sessions now by protocol",
              {{"protocol", k.substr(9)}}, num(st, k));
    } else if (k.starts_with("tcp_")) {
      std::string state = k.substr(4);
      std::replace(state.begin(), state.end(), '_', '-');
      out.add("nat_tcp_sessions", false, "NAT TCP sessions now by state", {{"state", state}},
              num(st, k));
    }
  }
}

void nat_top(const Snapshot& now, const Snapshot& before, double sec,
             std::vector<std::string>& out) {
  const Json& n = now.at("/sluice/nat");
  const Json& b = before.at("/sluice/nat");
  const Json& st = now.at("/sluice/nat_states");
  out.push_back(fmt::format(
      "NAT sessions {} of {} ({:.1f}%)  new/s {}  expired/s {}", thousands(num(n, "sessions")),
      thousands(num(n, "session_capacity")), share(num(n, "sessions"), num(n, "session_capacity")),
      si(rate(n, b, "sessions_created", sec)), si(rate(n, b, "sessions_deleted", sec))));
  const auto tcp = [&](const char* s) { return thousands(num(st, std::string("tcp_") + s)); };
  out.push_back(fmt::format("  tcp {} (est {} syn {}/{} fin {}/{}/{} rst {} closed {})",
                            thousands(num(st, "sessions_tcp")), tcp("established"), tcp("syn_out"),
                            tcp("syn_in"), tcp("fin_out"), tcp("fin_in"), tcp("fin_both"),
                            tcp("transitory"), tcp("closed")));
  out.push_back(fmt::format("  udp {}  icmp {}  clients {}  mappings {}  hairpins/s {}",
                            thousands(num(st, "sessions_udp")), thousands(num(st, "sessions_icmp")),
                            thousands(num(n, "clients")), thousands(num(n, "mappings")),
                            si(rate(n, b, "hairpins", sec))));
}

// --- the public pool ---------------------------------------------------------------

std::vector<std::string> pool_commands(const Snapshot& s) {
  if (!s.nat()) return {};
  return {"/sluice/pool"};
}

struct Address {
  std::string ip;
  uint64_t blocks, used, ports;
};

std::vector<Address> addresses(const Json& p) {
  std::vector<Address> v;
  const Json& ip = p.contains("address") ? p["address"] : Json::array();
  for (size_t i = 0; i < ip.size(); i++) {
    v.push_back(Address{ip[i].get<std::string>(), p["address_blocks"][i].get<uint64_t>(),
                        p["address_blocks_used"][i].get<uint64_t>(),
                        p["address_ports_used"][i].get<uint64_t>()});
  }
  return v;
}

std::vector<Address> busiest(const Json& p) {
  std::vector<Address> v = addresses(p);
  std::stable_sort(v.begin(), v.end(), [](const Address& a, const Address& b) {
    return a.ports > b.ports || (a.ports == b.ports && a.used > b.used);
  });
  return v;
}

void pool_table(const Snapshot& s, bool, std::string& out) {
  Table t{out, false};  // levels, not counts: nothing to clear
  const Json& p = s.at("/sluice/pool");
  t.heading("Public pool", "now");
  t.rows(p, p, number_keys(p));
  out += fmt::format("\n  {:<18} {:>12} {:>12} {:>12}\n", "address", "blocks", "blocks used",
                     "ports used");
  unsigned shown = 0, in_use = 0;
  for (const Address& a : busiest(p)) {
    if (a.used == 0) continue;
    if (++in_use > 16) continue;
    shown++;
    out += fmt::format("  {:<18} {:>12} {:>12} {:>12}\n", a.ip, thousands(a.blocks),
                       thousands(a.used), thousands(a.ports));
  }
  if (in_use == 0) out += "  (no address in use)\n";
  if (in_use > shown) out += fmt::format("  ... {} more addresses in use\n", in_use - shown);
}

void pool_prometheus(const Snapshot& s, Prometheus& out) {
  const Json& p = s.at("/sluice/pool");
  for (const std::string& k : number_keys(p))
    out.add("pool_" + k, false, "public pool " + label_of(k) + " (/sluice/pool)", {}, num(p, k));
  for (const Address& a : addresses(p)) {
    out.add("pool_address_blocks", false, "port blocks of a public address", {{"address", a.ip}},
            a.blocks);
    out.add("pool_address_blocks_used", false, "port blocks of a public address held by clients",
            {{"address", a.ip}}, a.used);
    out.add("pool_address_ports_used", false, "ports of a public address in use",
            {{"address", a.ip}}, a.ports);
  }
}

void pool_top(const Snapshot& now, const Snapshot&, double, std::vector<std::string>& out) {
  const Json& p = now.at("/sluice/pool");
  out.push_back(fmt::format("POOL {} addresses  blocks {} of {} ({:.1f}%)  ports {} of {}",
                            num(p, "addresses"), thousands(num(p, "blocks_used")),
                            thousands(num(p, "blocks")),
                            share(num(p, "blocks_used"), num(p, "blocks")),
                            thousands(num(p, "ports_used")), thousands(num(p, "pool_ports"))));
  unsigned n = 0;
  for (const Address& a : busiest(p)) {
    if (a.used == 0 || n++ == 4) break;
    out.push_back(fmt::format("  {:<16} blocks {:>5} of {:<5} ports {:>7}", a.ip, thousands(a.used),
                              thousands(a.blocks), thousands(a.ports)));
  }
}

// --- per-client policing ---------------------------------------------------------
//
// /sluice/policing: profile -> [18 numbers]: per direction (upload, download)
// and colour (conformed, exceeded, violated) packets, bytes, bit/s.
// /sluice/policing/clients,N: address -> [profile, per direction conformed
// packets, bytes, bit/s, exceeded packets, bytes, bit/s].

constexpr const char* kDirection[] = {"upload", "download"};
constexpr const char* kColour[] = {"conformed", "exceeded", "violated"};
const std::string kTopPoliced = "/sluice/policing/clients,5";

uint64_t at(const Json& a, size_t i) {
  return a.is_array() && i < a.size() && a[i].is_number_unsigned() ? a[i].get<uint64_t>() : 0;
}
uint64_t profile_value(const Json& a, unsigned dir, unsigned colour, unsigned what) {
  return at(a, dir * 9 + colour * 3 + what);
}

std::vector<std::string> policing_commands(const Snapshot& s) {
  if (!s.nat()) return {};
  return {"/sluice/policing", kTopPoliced};
}

void policing_table(const Snapshot& s, bool, std::string& out) {
  out += fmt::format("{:<22} {:<9} {:>14} {:>9} {:>14} {:>9} {:>10}\n", "Policing: profile",
                     "direction", "conformed pkts", "bit/s", "exceeded pkts", "bit/s", "violated");
  for (const auto& [name, a] : s.at("/sluice/policing").items()) {
    for (unsigned d = 0; d < 2; d++) {
      out += fmt::format("  {:<20} {:<9} {:>14} {:>9} {:>14} {:>9} {:>10}\n", name, kDirection[d],
                         thousands(profile_value(a, d, 0, 0)), si(profile_value(a, d, 0, 2)),
                         thousands(profile_value(a, d, 1, 0)), si(profile_value(a, d, 1, 2)),
                         thousands(profile_value(a, d, 2, 0)));
    }
  }
  const Json& top = s.at(kTopPoliced);
  if (top.empty()) return;
  out += fmt::format("\n  {:<18} {:>12} {:>12} {:>12} {:>12}\n", "clients policed now",
                     "up conf b/s", "up exc b/s", "down conf", "down exc");
  for (const auto& [ip, r] : top.items()) {
    std::string addr = ip;
    std::replace(addr.begin(), addr.end(), '_', '.');
    out += fmt::format("  {:<18} {:>12} {:>12} {:>12} {:>12}\n", addr, si(at(r, 3)), si(at(r, 6)),
                       si(at(r, 9)), si(at(r, 12)));
  }
}

void policing_prometheus(const Snapshot& s, Prometheus& out) {
  for (const auto& [name, a] : s.at("/sluice/policing").items()) {
    for (unsigned d = 0; d < 2; d++) {
      for (unsigned c = 0; c < 3; c++) {
        const Prometheus::Labels l = {
            {"profile", name}, {"direction", kDirection[d]}, {"colour", kColour[c]}};
        out.add("policing_packets", true, "packets metered by the per-client policers", l,
                profile_value(a, d, c, 0));
        out.add("policing_bytes", true, "IPv4 bytes metered by the per-client policers", l,
                profile_value(a, d, c, 1));
        out.add("policing_bits_per_second", false, "policed traffic over the last second", l,
                profile_value(a, d, c, 2));
      }
    }
  }
}

void policing_top(const Snapshot& now, const Snapshot&, double, std::vector<std::string>& out) {
  uint64_t bps[2][3] = {};
  for (const auto& [name, a] : now.at("/sluice/policing").items()) {
    for (unsigned d = 0; d < 2; d++) {
      for (unsigned c = 0; c < 3; c++)
        bps[d][c] += profile_value(a, d, c, 2);
    }
  }
  out.push_back(fmt::format("POLICING up conf {} exc {} viol {}  down conf {} exc {} viol {} b/s",
                            si(bps[0][0]), si(bps[0][1]), si(bps[0][2]), si(bps[1][0]),
                            si(bps[1][1]), si(bps[1][2])));
  unsigned n = 0;
  for (const auto& [ip, r] : now.at(kTopPoliced).items()) {
    if (n++ == 3) break;
    std::string addr = ip;
    std::replace(addr.begin(), addr.end(), '_', '.');
    out.push_back(fmt::format("  {:<16} up {:>6}/{:<6} down {:>6}/{:<6} (conformed/exceeded b/s)",
                              addr, si(at(r, 3)), si(at(r, 6)), si(at(r, 9)), si(at(r, 12))));
  }
}

// --- drops ----------------------------------------------------------------------------

std::vector<std::string> drops_commands(const Snapshot&) {
  return {"/sluice/drops"};
}

void drops_table(const Snapshot& s, bool cleared, std::string& out) {
  Table t{out, cleared};
  const Json& d = s.at("/sluice/drops");
  t.heading("Drops by reason (sluicectl drops: by worker)");
  unsigned shown = 0;
  for (const std::string& k : number_keys(d)) {
    if (num(d, k) == 0) continue;
    std::string reason = k;
    std::replace(reason.begin(), reason.end(), '_', '-');
    t.row(reason, num(d, k), num(s.at("/sluice/drops", true), k));
    shown++;
  }
  if (shown == 0) out += "  (none)\n";
}

void drops_top(const Snapshot& now, const Snapshot& before, double sec,
               std::vector<std::string>& out) {
  const Json& a = now.at("/sluice/drops");
  const Json& b = before.at("/sluice/drops");
  std::vector<std::pair<double, std::string>> r;
  for (const std::string& k : number_keys(a))
    if (const double v = rate(a, b, k, sec); v > 0) r.emplace_back(v, k);
  std::sort(r.rbegin(), r.rend());
  std::string line = "DROPS/s";
  if (r.empty()) line += " none";
  for (size_t i = 0; i < r.size() && i < 4; i++) {
    std::string reason = r[i].second;
    std::replace(reason.begin(), reason.end(), '_', '-');
    line += fmt::format("  {} {}", reason, si(r[i].first));
  }
  out.push_back(line);
}

// --- the control thread ------------------------------------------------------------

std::vector<std::string> control_commands(const Snapshot& s) {
  std::vector<std::string> c = {"/sluice/stats"};
  if (s.workers() != 0) c.push_back(worker_cmd(0));
  return c;
}

// /sluice/stats keys that are not worker totals.
std::vector<std::string> control_keys(const Snapshot& s) {
  std::vector<std::string> keys;
  const Json& w = s.at(worker_cmd(0));
  for (const std::string& k : number_keys(s.at("/sluice/stats")))
    if (!w.contains(k) && !s.is_gauge(k)) keys.push_back(k);
  return keys;
}

void control_table(const Snapshot& s, bool cleared, std::string& out) {
  Table t{out, cleared};
  t.heading("Control thread: ARP, ICMP to sluice");
  t.rows(s.at("/sluice/stats"), s.at("/sluice/stats", true), control_keys(s));
}

void control_prometheus(const Snapshot& s, Prometheus& out) {
  for (const std::string& k : control_keys(s)) {
    out.add("control_" + k, true, "control thread counter " + k + " (/sluice/stats)", {},
            num(s.at("/sluice/stats"), k));
  }
}

// --- export: IPFIX and the NAT log -----------------------------------------------------

const std::vector<std::string> kExportRows = {
    "events_queued",        "events_exported", "events_ring_full",  "refusals_suppressed",
    "ipfix_messages",       "ipfix_records",   "ipfix_send_errors", "ipfix_records_lost",
    "ipfix_templates_sent", "log_lines",       "log_lines_lost",    "log_write_errors",
    "log_reopens"};

std::vector<std::string> export_commands(const Snapshot& s) {
  if (s.info.value("exporting", uint64_t{0}) == 0) return {};
  return {"/sluice/export"};
}

void export_table(const Snapshot& s, bool, std::string& out) {
  Table t{out, false};  // the exporter's counters have no since-clear view
  const Json& e = s.at("/sluice/export");
  t.heading("Export (IPFIX to collectors, the NAT log)");
  t.rows(e, e, kExportRows);
}

void export_prometheus(const Snapshot& s, Prometheus& out) {
  const Json& e = s.at("/sluice/export");
  for (const std::string& k : kExportRows)
    out.add("export_" + k, true, "export counter " + k + " (/sluice/export)", {}, num(e, k));
}

// Rates of what flows; totals of what is lost, which should stay 0.
void export_top(const Snapshot& now, const Snapshot& before, double sec,
                std::vector<std::string>& out) {
  const Json& a = now.at("/sluice/export");
  const Json& b = before.at("/sluice/export");
  out.push_back(fmt::format(
      "EXPORT events/s {}  sent/s {}  lost: ring-full {}  send-errors {}  suppressed {}",
      si(rate(a, b, "events_exported", sec)), si(rate(a, b, "ipfix_records", sec)),
      thousands(num(a, "events_ring_full")), thousands(num(a, "ipfix_send_errors")),
      thousands(num(a, "refusals_suppressed"))));
  out.push_back(fmt::format("  log lines/s {}  lost {}  write-errors {}  reopens {}",
                            si(rate(a, b, "log_lines", sec)), thousands(num(a, "log_lines_lost")),
                            thousands(num(a, "log_write_errors")),
                            thousands(num(a, "log_reopens"))));
}

// --- link aggregation (LACP) ---------------------------------------------------------

const std::vector<std::string> kSides = {"inside", "outside"};

std::string lag_cmd(const std::string& side) {
  return "/sluice/lacp," + side;
}

std::vector<std::string> lag_commands(const Snapshot&) {
  return {lag_cmd("inside"), lag_cmd("outside")};
}

std::string str(const Json& j, const std::string& key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "?";
}

bool lacp_mode(const Json& a) {
  return str(a, "mode") == "802.3ad";
}

// "802.3ad fast 2/2 distributing" or "static 1/1 distributing"
std::string lag_summary(const Json& a) {
  return fmt::format("{}{} {}/{} distributing", lacp_mode(a) ? "802.3ad " : "static",
                     lacp_mode(a) ? str(a, "lacp_rate") : "", num(a, "distributing"),
                     num(a, "members"));
}

// A member's state in a word: its mux state with LACP, else whether its link carries traffic.
std::string member_state(const Json& a, const std::string& k) {
  if (lacp_mode(a)) return str(a, k + "mux");
  return num(a, k + "distributing") != 0 ? "distributing" : "standby";
}

void lag_table(const Snapshot& s, bool, std::string& out) {
  Table t{out, false};  // /sluice/lacp has no since-clear view
  t.heading("Link aggregation (sluicectl lacp: in detail)", "now");
  for (const std::string& side : kSides) {
    const Json& a = s.at(lag_cmd(side));
    out += fmt::format("  {:<8} {}", side, lag_summary(a));
    if (lacp_mode(a) && num(a, "aggregator_id") != 0) {
      out += fmt::format(", partner {} key {}", str(a, "partner_mac"), num(a, "partner_key"));
    }
    out += "\n";
  }
  out += fmt::format("\n  {:<10} {:<14} {:<4} {:<12} {:>5} {:>7} {:>7} {:>4} {:>4}\n", "member",
                     "port", "link", "state", "fails", "pdu in", "out", "bad", "loop");
  for (const std::string& side : kSides) {
    const Json& a = s.at(lag_cmd(side));
    for (uint64_t i = 0; i < num(a, "members"); i++) {
      const std::string k = fmt::format("member{}_", i);
      out += fmt::format("  {:<10} {:<14.14} {:<4} {:<12} {:>5} {:>7} {:>7} {:>4} {:>4}\n",
                         fmt::format("{} {}", side, i), str(a, k + "port"), str(a, k + "link"),
                         member_state(a, k), thousands(num(a, k + "link_failures")),
                         thousands(num(a, k + "lacpdus_rx")), thousands(num(a, k + "lacpdus_tx")),
                         thousands(num(a, k + "bad_rx")), thousands(num(a, k + "looped_rx")));
    }
  }
}

void lag_prometheus(const Snapshot& s, Prometheus& out) {
  for (const std::string& side : kSides) {
    const Json& a = s.at(lag_cmd(side));
    out.add("lag_members_distributing", false, "members of the aggregate carrying traffic",
            {{"side", side}}, num(a, "distributing"));
    for (uint64_t i = 0; i < num(a, "members"); i++) {
      const std::string k = fmt::format("member{}_", i);
      const Prometheus::Labels l = {
          {"side", side}, {"member", std::to_string(i)}, {"port", str(a, k + "port")}};
      out.add("lag_member_distributing", false, "1 while the member carries traffic", l,
              num(a, k + "distributing"));
      out.add("lag_member_link_up", false, "1 while the member's link is up (after the delays)", l,
              str(a, k + "link") == "up" ? 1 : 0);
      out.add("lag_member_link_failures", true, "times the member's link went down", l,
              num(a, k + "link_failures"));
      out.add("lag_member_state_changes", true, "the member's mux state changes", l,
              num(a, k + "state_changes"));
      if (!lacp_mode(a)) continue;
      out.add("lag_member_actor_state", false, "our LACP port state bits on the member", l,
              num(a, k + "actor_state"));
      out.add("lag_member_partner_state", false, "the partner's LACP port state bits", l,
              num(a, k + "partner_state"));
      out.add("lag_member_lacpdus_rx", true, "LACPDUs received on the member", l,
              num(a, k + "lacpdus_rx"));
      out.add("lag_member_lacpdus_tx", true, "LACPDUs sent on the member", l,
              num(a, k + "lacpdus_tx"));
      out.add("lag_member_bad_rx", true, "slow protocols frames ignored (malformed, truncated)", l,
              num(a, k + "bad_rx"));
      out.add("lag_member_looped_rx", true, "our own LACPDUs come back (a loop)", l,
              num(a, k + "looped_rx"));
    }
  }
}

void lag_top(const Snapshot& now, const Snapshot& before, double sec,
             std::vector<std::string>& out) {
  std::string head = "LAG";
  for (const std::string& side : kSides)
    head += fmt::format("  {} {}", side, lag_summary(now.at(lag_cmd(side))));
  out.push_back(head);
  for (const std::string& side : kSides) {
    const Json& a = now.at(lag_cmd(side));
    const Json& b = before.at(lag_cmd(side));
    for (uint64_t i = 0; i < num(a, "members"); i++) {
      const std::string k = fmt::format("member{}_", i);
      std::string line =
          fmt::format("  {:<9} {:<14.14} {:<4} {:<12} fails {}", fmt::format("{} {}", side, i),
                      str(a, k + "port"), str(a, k + "link"), member_state(a, k),
                      thousands(num(a, k + "link_failures")));
      if (lacp_mode(a)) {
        line += fmt::format(" state {}/{} LACPDU/s {}/{}", num(a, k + "actor_state"),
                            num(a, k + "partner_state"), si(rate(a, b, k + "lacpdus_rx", sec)),
                            si(rate(a, b, k + "lacpdus_tx", sec)));
      }
      out.push_back(line);
    }
  }
}

const std::vector<Section> kSections = {
    {"ports", ports_commands, ports_table, ports_prometheus, ports_top},
    {"dataplane", dataplane_commands, dataplane_table, dataplane_prometheus, dataplane_top},
    {"nat", nat_commands, nat_table, nat_prometheus, nat_top},
    {"pool", pool_commands, pool_table, pool_prometheus, pool_top},
    {"policing", policing_commands, policing_table, policing_prometheus, policing_top},
    {"drops", drops_commands, drops_table, nullptr, drops_top},
    {"export", export_commands, export_table, export_prometheus, export_top},
    {"lag", lag_commands, lag_table, lag_prometheus, lag_top},
    {"control", control_commands, control_table, control_prometheus, nullptr},
};

}  // namespace

const std::vector<Section>& sections() {
  return kSections;
}

}  // namespace sluice::ctl
