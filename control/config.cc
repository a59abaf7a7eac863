#include "config.h"

#include <arpa/inet.h>
#include <grp.h>
#include <pwd.h>

#include <fmt/format.h>
#include <boost/program_options.hpp>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "packet.h"
#include "port_blocks.h"

namespace po = boost::program_options;

namespace sluice {

ConfigError::ConfigError(const std::string& key, const std::string& value, const std::string& why)
    : std::runtime_error(value.empty() ? fmt::format("{}: {}", key, why)
                                       : fmt::format("{} = '{}': {}", key, value, why)) {}

std::string format_ip(uint32_t ip) {
  return fmt::format("{}.{}.{}.{}", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

bool parse_ip(const std::string& text, uint32_t* ip) {
  in_addr a{};
  if (inet_pton(AF_INET, text.c_str(), &a) != 1) return false;
  *ip = ntohl(a.s_addr);
  return true;
}

namespace {

// Every option, declared once: name, default (empty: none), help.
struct Option {
  const char* name;
  const char* def;
  const char* help;
  bool multi = false;
};

// clang-format off
const Option kOptions[] = {
  {"eal.cores", "auto", "CPUs to pin to: the control thread on the first, one worker on each of "
   "the others (e.g. 2,4,6). auto: the CPUs sluice may run on, shared in turn when there are "
   "fewer than workers + 1"},
  {"eal.memory-mb", "1024", "memory DPDK reserves for packet buffers and tables, in MiB"},
  {"eal.hugepages", "auto", "auto | yes | no. auto uses hugepages when some are free, else "
   "ordinary memory (--no-huge)"},
  {"eal.prefix", "sluice", "runtime name: /var/run/dpdk/PREFIX holds the telemetry socket "
   "sluicectl and dpdk-telemetry.py talk to; run two instances with two prefixes"},
  {"eal.log-level", "notice", "DPDK log level: emerg .. debug"},
  {"eal.arg", "", "extra EAL argument passed as is (repeat for several)", true},

  {"dataplane.pipeline", "forward", "packet path of the workers: forward (route only) or cgnat "
   "(NAT44 onto nat.pool, then route)"},
  {"dataplane.workers", "1", "poll-mode workers; worker k polls RX queue k of every port"},
  {"dataplane.mbufs", "0", "packet buffers in the pool; 0 sizes it from ports, queues and "
   "descriptors"},
  {"dataplane.rx-desc", "1024", "RX descriptors per queue"},
  {"dataplane.tx-desc", "1024", "TX descriptors per queue"},
  {"dataplane.punt-ring", "1024", "slots of each worker's ring to the control thread (power of 2)"},
  {"dataplane.ip-options", "drop", "drop | forward: what to do with IPv4 packets carrying options"},
  {"dataplane.icmp-error-rate", "100", "ICMP errors (time exceeded, fragmentation needed) each "
   "worker may send per second; 0 sends none"},
  {"dataplane.handoff-ring", "1024", "slots of each ring that hands a packet to the worker owning "
   "its client (power of 2)"},

  {"inside.address", "", "address/prefix of the inside interface, e.g. 10.255.0.1/30 (prefix "
   "/16 to /31)"},
  {"inside.port", "", "member port: a PCI address (0000:03:00.0) or a DPDK vdev "
   "(net_af_packet0,iface=eth1); repeat for several", true},
  {"inside.vlan", "0", "802.1Q VLAN id on the inside, 0 for untagged"},
  {"inside.mtu", "1500", "IP MTU of the inside"},
  {"inside.mac", "", "MAC address of the inside; default: the first member port's"},
  {"inside.neighbour", "", "static ARP entry 'IP MAC' on the inside subnet; repeat", true},
  {"inside.clients", "", "client prefix allowed as a source on the inside (anti-spoofing), "
   "e.g. 10.16.0.0/12; repeat for several", true},

  {"outside.address", "", "address/prefix of the outside interface, e.g. 192.0.2.2/30"},
  {"outside.port", "", "member port of the outside, as inside.port; repeat", true},
  {"outside.vlan", "0", "802.1Q VLAN id on the outside, 0 for untagged"},
  {"outside.mtu", "1500", "IP MTU of the outside"},
  {"outside.mac", "", "MAC address of the outside; default: the first member port's"},
  {"outside.neighbour", "", "static ARP entry 'IP MAC' on the outside subnet; repeat", true},

  {"inside.lag-mode", "static", "static | lacp: how the member ports form one aggregate. static: "
   "every member whose link is up carries traffic (the switch side is a static LAG); lacp: IEEE "
   "802.1AX LACP with the switch decides which members carry traffic"},
  {"inside.lacp-activity", "active", "active | passive: send LACPDUs unasked, or only answer a "
   "partner that does"},
  {"inside.lacp-rate", "fast", "fast | slow: ask the partner for a LACPDU every second (a member "
   "times out after 3 s of silence) or every 30 s (90 s)"},
  {"inside.lacp-system-priority", "65535", "LACP system priority of the aggregate"},
  {"inside.lacp-system-id", "", "LACP system id, a MAC address; default: the interface MAC"},
  {"inside.lacp-key", "1", "LACP key of the aggregate"},
  {"inside.lacp-port-priority", "255", "LACP port priority of every member"},
  {"inside.xmit-hash", "layer2+3", "layer2 | layer2+3 | layer3+4: the transmit hash that picks "
   "the member a packet leaves on (a flow always takes one member)"},
  {"inside.down-delay-ms", "200", "how long a member's link must stay down before traffic moves "
   "off it, ms"},
  {"inside.up-delay-ms", "200", "how long a member's link must stay up before it carries traffic "
   "again, ms"},
  {"inside.link-poll-ms", "10", "how often the link status of each member is read, ms"},
  {"outside.lag-mode", "static", "static | lacp, as inside.lag-mode"},
  {"outside.lacp-activity", "active", "active | passive, as inside.lacp-activity"},
  {"outside.lacp-rate", "fast", "fast | slow, as inside.lacp-rate"},
  {"outside.lacp-system-priority", "65535", "as inside.lacp-system-priority"},
  {"outside.lacp-system-id", "", "as inside.lacp-system-id; default: the outside MAC"},
  {"outside.lacp-key", "2", "LACP key of the outside aggregate"},
  {"outside.lacp-port-priority", "255", "as inside.lacp-port-priority"},
  {"outside.xmit-hash", "layer2+3", "layer2 | layer2+3 | layer3+4, as inside.xmit-hash"},
  {"outside.down-delay-ms", "200", "as inside.down-delay-ms"},
  {"outside.up-delay-ms", "200", "as inside.up-delay-ms"},
  {"outside.link-poll-ms", "10", "as inside.link-poll-ms"},

  {"routes.static", "", "static route 'PREFIX via GATEWAY', e.g. '0.0.0.0/0 via 192.0.2.1'; the "
   "gateway must be on the inside or outside subnet; repeat", true},

  {"nat.pool", "", "public addresses clients are translated to, as a prefix (198.51.100.0/26) "
   "or a single address; repeat for several. The backbone routes them to outside.address", true},
  {"nat.port-min", "1024", "lowest public port (and ICMP id) handed out"},
  {"nat.block-size", "128", "ports per port block; a client gets ports a block at a time"},
  {"nat.max-blocks-per-client", "8", "port blocks one client may hold (its port quota is this "
   "times block-size)"},
  {"nat.max-sessions-per-client", "4096", "sessions one client may have at once (RFC 6888 "
   "REQ-4), so one client cannot fill the table"},
  {"nat.hold-down", "120", "seconds a port block stays with its client after its last session "
   "ends, before another client may get it (RFC 6888: at least 120)"},
  {"nat.filtering", "address-dependent", "address-dependent | endpoint-independent: which "
   "outside hosts may send to a client's mapping (RFC 4787)"},
  {"nat.sessions", "1048576", "concurrent sessions in all (shared out evenly among workers)"},
  {"nat.clients", "65536", "concurrent clients (inside addresses) in all"},
  {"nat.udp-timeout", "300", "seconds a UDP session lives without traffic (RFC 4787: at least "
   "120, 300 recommended)"},
  {"nat.tcp-established-timeout", "7440", "seconds an established TCP session lives without "
   "traffic (RFC 5382: at least 7440)"},
  {"nat.tcp-transitory-timeout", "240", "seconds a TCP session opening, closing or reset lives "
   "(RFC 5382: at least 240)"},
  {"nat.icmp-timeout", "60", "seconds an ICMP query session lives (RFC 5508: at least 60)"},
  {"nat.exhausted-icmp", "yes", "yes | no: answer a refused new session (port quota or pool "
   "exhausted) with ICMP unreachable, code 13, to the client"},
  {"nat.fragments", "1024", "fragmented datagrams each worker tracks at once (power of 2)"},
  {"nat.fragments-held", "256", "fragments each worker holds that arrived before their first "
   "fragment"},
  {"nat.fragment-timeout-ms", "2000", "how long a fragmented datagram is tracked after its last "
   "fragment"},

  {"policing.enabled", "yes", "yes | no: police every client of the cgnat pipeline in both "
   "directions (per-client microflow policing)"},
  {"policing.match", "", "prefixes the default profile polices (repeat; default: "
   "inside.clients)", true},
  {"policing.cir", "8000000", "default profile: committed rate in bit/s of IPv4 packets (total "
   "length), per client and direction"},
  {"policing.cbs", "250000", "default profile: committed burst in bytes (at least the larger "
   "interface MTU)"},
  {"policing.pir", "0", "default profile: peak rate in bit/s for a two-rate three-colour policer "
   "(RFC 2698); 0: one rate, two colours (RFC 2697 srTCM, EBS 0)"},
  {"policing.pbs", "0", "default profile: peak burst in bytes, required with policing.pir"},
  {"policing.exceed", "drop", "default profile: what happens to a packet above CIR: drop | "
   "transmit (count only) | dscp:N (re-mark DSCP to N, 0-63)"},
  {"policing.violate", "drop", "default profile, with a peak rate: what happens above PIR: drop | "
   "transmit | dscp:N"},
  {"policing.profile", "", "another profile, for the longest matching prefix: 'NAME "
   "PREFIX[,PREFIX...] off' (not policed) or 'NAME PREFIX[,PREFIX...] cir=BPS cbs=BYTES "
   "[pir=BPS pbs=BYTES] [exceed=ACTION] [violate=ACTION]' (repeat)", true},
  {"export.collector", "", "IPFIX collector 'IP:PORT' (UDP) that gets NAT events and flow "
   "records; repeat for several", true},
  {"export.observation-domain", "1", "IPFIX observation domain id of this sluice"},
  {"export.template-refresh", "60", "seconds between template retransmissions to every collector"},
  {"export.mtu", "1500", "path MTU to the collectors: IPFIX messages stay within it"},
  {"export.active-timeout", "60", "seconds between flow records of a session that stays active; "
   "0: one record at its end"},
  {"export.flows", "yes", "yes | no: export a flow record per session (pre- and post-NAT, bytes "
   "and packets each way) besides the NAT events"},
  {"export.destinations", "no", "yes | no: put the remote address and port in NAT events, flow "
   "records and the log (RFC 6888 asks not to unless required)"},
  {"export.accountability", "no", "yes | no: refuse a new session (nat-unaccountable) when its "
   "creation event cannot be queued for export, rather than let it go unlogged"},
  {"export.ring", "262144", "NAT events each worker can queue for the exporter thread (power "
   "of 2; 64 bytes each)"},
  {"export.refusal-rate", "100", "refused-session events (addresses or ports exhausted, quota "
   "exceeded) each worker exports per second, a second's worth at once; the rest are counted "
   "(refusals_suppressed); 0: none"},
  {"export.log", "", "path of the local NAT log (one line per session or port block event; "
   "reopened on SIGHUP); empty: none"},
  {"export.log-events", "all", "all | sessions | blocks: which events the local log keeps "
   "(blocks: one line per port block, enough for a trace with paired pooling)"},

  {"arp.reachable-ms", "30000", "how long an ARP answer is trusted before it is re-checked"},
  {"arp.retry-ms", "1000", "interval between ARP requests for one address"},
  {"arp.retries", "3", "requests before an address is declared unreachable"},
  {"arp.queue", "3", "packets held per address while it is being resolved"},
  {"arp.held", "0", "packets held in all while addresses are resolved; 0: an eighth of the packet "
                    "buffers"},

  {"control.echo-rate", "100", "ICMP echo replies per second to our own addresses"},
  {"control.arp-reply-rate", "1000", "ARP replies per second"},
  {"control.slow-protocols-rate", "10", "LACPDUs and markers taken per second from each member "
   "port, a second's worth at once (a partner sends one a second, a few more when its state "
   "changes); the rest are dropped and counted (lacp_rate_limited)"},
  {"control.user", "", "user the daemon becomes once started (after DPDK, the ports, the "
   "telemetry socket and the NAT log are set up); empty: it stays root, without capabilities"},
  {"control.group", "", "group the daemon becomes with control.user; default: that user's "
   "primary group"},
  {"control.telemetry-group", "", "group whose members may use the telemetry socket "
   "(sluicectl, dpdk-telemetry.py); empty: root only"},
};
// clang-format on

po::options_description describe() {
  po::options_description desc;
  for (const Option& o : kOptions) {
    if (o.multi) {
      // Not composing: a repeatable key given on the command line replaces the
      // file's values instead of adding to them.
      desc.add_options()(o.name, po::value<std::vector<std::string>>(), o.help);
    } else if (*o.def != '\0') {
      desc.add_options()(o.name, po::value<std::string>()->default_value(o.def), o.help);
    } else {
      desc.add_options()(o.name, po::value<std::string>(), o.help);
    }
  }
  return desc;
}

po::options_description generic() {
  po::options_description desc("Invocation");
  desc.add_options()("help,h", "print this help and exit")("version", "print the version")(
      "config,c", po::value<std::string>(), "configuration file (INI)")(
      "check-config", po::value<std::string>(),
      "validate the configuration FILE, print warnings, and exit (0 when valid)");
  return desc;
}

class Reader {
 public:
  explicit Reader(const po::variables_map& vm) : vm_(vm) {}

  bool has(const std::string& key) const { return vm_.count(key) != 0; }

  std::string str(const std::string& key) const {
    return has(key) ? vm_[key].as<std::string>() : std::string();
  }

  std::vector<std::string> list(const std::string& key) const {
    return has(key) ? vm_[key].as<std::vector<std::string>>() : std::vector<std::string>{};
  }

  unsigned number(const std::string& key, unsigned lo, unsigned hi) const {
    const std::string v = str(key);
    unsigned out = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || ec != std::errc() || end != v.data() + v.size()) {
      throw ConfigError(key, v, "not a whole number");
    }
    if (out < lo || out > hi) {
      throw ConfigError(key, v, fmt::format("must be between {} and {}", lo, hi));
    }
    return out;
  }

  std::string choice(const std::string& key, std::initializer_list<const char*> allowed) const {
    const std::string v = str(key);
    for (const char* a : allowed) {
      if (v == a) return v;
    }
    std::string names;
    for (const char* a : allowed)
      names += (names.empty() ? "" : ", ") + std::string(a);
    throw ConfigError(key, v, "must be one of " + names);
  }

 private:
  const po::variables_map& vm_;
};

Prefix parse_prefix(const std::string& key, const std::string& text, bool allow_host_bits) {
  const auto slash = text.find('/');
  if (slash == std::string::npos) throw ConfigError(key, text, "expected A.B.C.D/LEN");
  uint32_t ip = 0;
  if (!parse_ip(text.substr(0, slash), &ip)) throw ConfigError(key, text, "not an IPv4 address");
  const std::string len_text = text.substr(slash + 1);
  unsigned len = 0;
  const auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
  if (len_text.empty() || ec != std::errc() || end != len_text.data() + len_text.size() ||
      len > 32) {
    throw ConfigError(key, text, "prefix length must be 0 to 32");
  }
  const uint32_t mask = len == 0 ? 0 : ~uint32_t{0} << (32 - len);
  if (!allow_host_bits && (ip & ~mask) != 0) {
    throw ConfigError(key, text,
                      fmt::format("host bits set; did you mean {}/{}?", format_ip(ip & mask), len));
  }
  return Prefix{allow_host_bits ? ip : ip & mask, static_cast<uint8_t>(len)};
}

rte_ether_addr parse_mac(const std::string& key, const std::string& text) {
  rte_ether_addr mac{};
  if (rte_ether_unformat_addr(text.c_str(), &mac) != 0) {
    throw ConfigError(key, text, "not a MAC address (expected xx:xx:xx:xx:xx:xx)");
  }
  return mac;
}

uint32_t mask_of(uint8_t len) {
  return len == 0 ? 0 : ~uint32_t{0} << (32 - len);
}

bool valid_port_spec(const std::string& spec) {
  static const std::regex pci(R"(^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7](,.*)?$)");
  static const std::regex vdev(R"(^net_[a-z_]+[0-9]+(,.*)?$)");
  return std::regex_match(spec, pci) || std::regex_match(spec, vdev);
}

// A host of the interface's subnet: not its own address, not the network
// or broadcast address (except on /31 linknets, RFC 3021).
bool is_host(const InterfaceConfig& ifc, uint32_t ip) {
  const uint32_t mask = mask_of(ifc.prefix_len);
  if ((ip & mask) != (ifc.address & mask) || ip == ifc.address) return false;
  return ifc.prefix_len >= 31 || ((ip & ~mask) != 0 && (ip | mask) != ~uint32_t{0});
}

LagConfig read_lag(const Reader& r, const std::string& side) {
  LagConfig lag;
  const auto key = [&side](const char* name) { return side + "." + name; };
  lag.lacp = r.choice(key("lag-mode"), {"static", "lacp"}) == "lacp";
  lag.active = r.choice(key("lacp-activity"), {"active", "passive"}) == "active";
  lag.fast = r.choice(key("lacp-rate"), {"fast", "slow"}) == "fast";
  lag.system_priority = static_cast<uint16_t>(r.number(key("lacp-system-priority"), 0, 65535));
  if (r.has(key("lacp-system-id"))) {
    const std::string text = r.str(key("lacp-system-id"));
    const rte_ether_addr mac = parse_mac(key("lacp-system-id"), text);
    if (!rte_is_unicast_ether_addr(&mac) || rte_is_zero_ether_addr(&mac)) {
      throw ConfigError(key("lacp-system-id"), text, "must be a unicast, non-zero MAC address");
    }
    lag.system_id = mac;
  }
  lag.key = static_cast<uint16_t>(r.number(key("lacp-key"), 1, 65535));
  lag.port_priority = static_cast<uint16_t>(r.number(key("lacp-port-priority"), 0, 65535));
  const std::string hash = r.choice(key("xmit-hash"), {"layer2", "layer2+3", "layer3+4"});
  lag.hash = hash == "layer2"     ? XmitHash::layer2
             : hash == "layer3+4" ? XmitHash::layer3_4
                                  : XmitHash::layer2_3;
  lag.down_delay_ms = r.number(key("down-delay-ms"), 0, 60000);
  lag.up_delay_ms = r.number(key("up-delay-ms"), 0, 60000);
  lag.link_poll_ms = r.number(key("link-poll-ms"), 1, 1000);
  return lag;
}

InterfaceConfig read_interface(const Reader& r, const std::string& side) {
  InterfaceConfig ifc;
  const std::string akey = side + ".address";
  if (!r.has(akey)) throw ConfigError(akey, "", "required (address/prefix of the interface)");
  const Prefix a = parse_prefix(akey, r.str(akey), true);
  if (a.len < 16 || a.len > 31) {
    throw ConfigError(akey, r.str(akey),
                      "prefix must be /16 to /31 (a linknet or a directly attached subnet)");
  }
  const uint32_t mask = mask_of(a.len);
  if (a.len < 31 && ((a.network & ~mask) == 0 || (a.network | mask) == ~uint32_t{0})) {
    throw ConfigError(akey, r.str(akey), "is the network or broadcast address of its subnet");
  }
  ifc.address = a.network;
  ifc.prefix_len = a.len;

  const std::string pkey = side + ".port";
  ifc.ports = r.list(pkey);
  if (ifc.ports.empty()) throw ConfigError(pkey, "", "required (at least one member port)");
  if (ifc.ports.size() > 8) throw ConfigError(pkey, "", "at most 8 member ports");
  for (const std::string& p : ifc.ports) {
    if (!valid_port_spec(p)) {
      throw ConfigError(pkey, p,
                        "expected a PCI address (0000:03:00.0) or a vdev (net_af_packet0,iface=X)");
    }
  }
  ifc.vlan = static_cast<uint16_t>(r.number(side + ".vlan", 0, 4094));
  // 576: every IPv4 link carries it (RFC 791), and so does every ICMP error.
  ifc.mtu = static_cast<uint16_t>(r.number(side + ".mtu", 576, 9000));
  if (r.has(side + ".mac")) ifc.mac = parse_mac(side + ".mac", r.str(side + ".mac"));

  const std::string nkey = side + ".neighbour";
  for (const std::string& text : r.list(nkey)) {
    const auto space = text.find_first_of(" \t");
    if (space == std::string::npos) throw ConfigError(nkey, text, "expected 'IP MAC'");
    StaticNeighbour n;
    if (!parse_ip(text.substr(0, space), &n.ip)) throw ConfigError(nkey, text, "bad IP address");
    const auto mac_start = text.find_first_not_of(" \t", space);
    n.mac = parse_mac(nkey, text.substr(mac_start));
    if (!is_host(ifc, n.ip)) {
      throw ConfigError(nkey, text, "address is not a host of the " + side + " subnet");
    }
    ifc.neighbours.push_back(n);
  }
  ifc.lag = read_lag(r, side);
  return ifc;
}

unsigned power_of_2(const Reader& r, const std::string& key, unsigned lo, unsigned hi) {
  const unsigned v = r.number(key, lo, hi);
  if ((v & (v - 1)) != 0) throw ConfigError(key, r.str(key), "must be a power of 2");
  return v;
}

// A timeout in seconds with the RFC's minimum: below it is accepted (the old
// campus profile did it on purpose) with a warning that says what it breaks.
unsigned timeout(const Reader& r, const std::string& key, unsigned minimum, const char* rfc,
                 std::vector<std::string>* warnings) {
  const unsigned v = r.number(key, 1, 86400 * 7);
  if (v < minimum) {
    warnings->push_back(fmt::format(
        "{} = {}: below the minimum of {} s that {} requires; idle connections of clients will "
        "break sooner than the applications expect",
        key, v, minimum, rfc));
  }
  return v;
}

NatConfig read_nat(const Reader& r, const Config& c, std::vector<std::string>* warnings) {
  NatConfig n;
  std::set<uint32_t> pool;
  for (const std::string& text : r.list("nat.pool")) {
    Prefix p;
    if (text.find('/') == std::string::npos) {
      if (!parse_ip(text, &p.network)) throw ConfigError("nat.pool", text, "not an IPv4 address");
      p.len = 32;
    } else {
      p = parse_prefix("nat.pool", text, false);
    }
    if (p.len < 16) throw ConfigError("nat.pool", text, "at most a /16 (65536 addresses)");
    for (uint64_t a = p.network; a <= (p.network | ~mask_of(p.len)); a++) {
      const auto ip = static_cast<uint32_t>(a);
      if (is_martian(ip)) throw ConfigError("nat.pool", text, "not a usable unicast address");
      const auto on = [ip](const InterfaceConfig& ic) {
        return (ip & mask_of(ic.prefix_len)) == (ic.address & mask_of(ic.prefix_len));
      };
      if (on(c.inside)) throw ConfigError("nat.pool", text, "overlaps the inside subnet");
      if (on(c.outside)) {
        throw ConfigError("nat.pool", text,
                          "on the outside subnet, where sluice does not answer ARP for it; use "
                          "addresses the backbone routes to outside.address");
      }
      for (const Prefix& cp : c.clients) {
        if ((ip & mask_of(cp.len)) == cp.network) {
          throw ConfigError("nat.pool", text, "overlaps the client prefixes (inside.clients)");
        }
      }
      if (!pool.insert(ip).second) throw ConfigError("nat.pool", text, "address given twice");
    }
  }
  if (pool.size() > 65536) throw ConfigError("nat.pool", "", "more than 65536 addresses");
  n.pool.assign(pool.begin(), pool.end());
  if (c.pipeline == "cgnat" && n.pool.empty()) {
    throw ConfigError("nat.pool", "", "required by dataplane.pipeline = cgnat");
  }
  n.port_min = r.number("nat.port-min", 1, 65535);
  if (n.port_min < 1024) {
    warnings->push_back(fmt::format(
        "nat.port-min = {}: well-known ports (below 1024) will be handed out to clients",
        n.port_min));
  }
  n.block_size = r.number("nat.block-size", 8, 65536 - n.port_min);
  PoolConfig geometry;
  geometry.port_min = static_cast<uint16_t>(n.port_min);
  geometry.block_size = static_cast<uint16_t>(n.block_size);
  const uint32_t blocks = blocks_per_address(geometry, c.workers);
  if (blocks < c.workers) {
    throw ConfigError(
        "nat.block-size", r.str("nat.block-size"),
        fmt::format("leaves {} blocks per address, fewer than the {} workers", blocks, c.workers));
  }
  n.max_blocks = r.number("nat.max-blocks-per-client", 1, 64);
  n.max_sessions = r.number("nat.max-sessions-per-client", 1, 1u << 28);
  n.hold_down = r.number("nat.hold-down", 0, 86400);
  if (n.hold_down < 120) {
    warnings->push_back(fmt::format(
        "nat.hold-down = {}: below 120 s (RFC 6888 REQ-8), a port may pass to another client "
        "while packets of the last one are still on the way, and an abuse report may name the "
        "wrong client",
        n.hold_down));
  }
  n.endpoint_independent_filtering =
      r.choice("nat.filtering", {"address-dependent", "endpoint-independent"}) ==
      "endpoint-independent";
  n.sessions = r.number("nat.sessions", 1024, 1u << 28);
  n.clients = r.number("nat.clients", 16, 1u << 24);
  n.udp_timeout = timeout(r, "nat.udp-timeout", 120, "RFC 4787 (REQ-5)", warnings);
  n.tcp_established_timeout =
      timeout(r, "nat.tcp-established-timeout", 7440, "RFC 5382 (REQ-5)", warnings);
  n.tcp_transitory_timeout =
      timeout(r, "nat.tcp-transitory-timeout", 240, "RFC 5382 (REQ-5)", warnings);
  n.icmp_timeout = timeout(r, "nat.icmp-timeout", 60, "RFC 5508 (REQ-1)", warnings);
  n.exhausted_icmp = r.choice("nat.exhausted-icmp", {"yes", "no"}) == "yes";
  n.fragments = power_of_2(r, "nat.fragments", 16, 1 << 20);
  n.fragments_held = r.number("nat.fragments-held", 0, 1 << 16);
  n.fragment_timeout_ms = r.number("nat.fragment-timeout-ms", 100, 60000);
  return n;
}

// A rate or size of the policing options: a whole number within [lo, hi].
uint64_t policing_number(const std::string& key, const std::string& text, uint64_t lo,
                         uint64_t hi) {
  uint64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    throw ConfigError(key, text, "not a whole number");
  }
  if (v < lo || v > hi) throw ConfigError(key, text, fmt::format("must be {} to {}", lo, hi));
  return v;
}

PolicerActionSpec policing_action(const std::string& key, const std::string& text) {
  if (text == "drop") return {PolicerAction::drop, 0};
  if (text == "transmit") return {PolicerAction::transmit, 0};
  if (text.rfind("dscp:", 0) == 0) {
    unsigned dscp = 0;
    const char* end = text.data() + text.size();
    const auto [at, ec] = std::from_chars(text.data() + 5, end, dscp);
    if (text.size() == 5 || ec != std::errc() || at != end || dscp > 63) {
      throw ConfigError(key, text, "the DSCP must be a number from 0 to 63");
    }
    return {PolicerAction::remark, static_cast<uint8_t>(dscp)};
  }
  throw ConfigError(key, text, "must be drop, transmit or dscp:N (N 0-63)");
}

// Rates and bursts of one profile, checked together: a burst must hold a
// full-size packet (else such packets never conform), a peak rate needs a
// peak burst and is at least the committed rate (RFC 2698).
void check_policer(const std::string& key, const std::string& text, const PolicerSpec& s,
                   unsigned mtu) {
  if (s.cbs < mtu) {
    throw ConfigError(key, text,
                      fmt::format("committed burst {} bytes is below the MTU ({}): full-size "
                                  "packets would never conform",
                                  s.cbs, mtu));
  }
  if (s.pir == 0 && s.pbs != 0) throw ConfigError(key, text, "a peak burst needs a peak rate");
  if (s.pir != 0 && s.pir < s.cir) throw ConfigError(key, text, "peak rate below committed rate");
  if (s.pir != 0 && s.pbs < mtu) {
    throw ConfigError(
        key, text, fmt::format("peak burst must be at least the MTU ({}) with a peak rate", mtu));
  }
}

constexpr uint64_t kMinRate = 8'000;               // bit/s
constexpr uint64_t kMaxRate = 400'000'000'000ull;  // bit/s
constexpr uint64_t kMaxBurst = (1ull << 31) - 1;   // bytes

// 'NAME PREFIX[,PREFIX...] off' or 'NAME PREFIX[,...] cir=.. cbs=.. [pir=.. pbs=..]
// [exceed=..] [violate=..]'.
PolicerSpec read_profile(const std::string& text, unsigned mtu) {
  const std::string key = "policing.profile";
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;)
    words.push_back(w);
  if (words.size() < 3) {
    throw ConfigError(key, text,
                      "expected 'NAME PREFIX[,PREFIX...] off' or '... cir=BPS cbs=BYTES'");
  }
  PolicerSpec s;
  s.name = words[0];
  if (!std::regex_match(s.name, std::regex(R"(^[a-z0-9_]{1,24}$)")) || s.name == "default") {
    throw ConfigError(key, text,
                      "profile name: 1-24 lower-case letters, digits or '_', not 'default'");
  }
  std::stringstream prefixes(words[1]);
  for (std::string p; std::getline(prefixes, p, ',');) {
    const Prefix pr = parse_prefix(key, p, false);
    s.prefixes.push_back({pr.network, pr.len});
  }
  if (words[2] == "off") {
    if (words.size() != 3) throw ConfigError(key, text, "nothing may follow 'off'");
    s.policed = false;
    return s;
  }
  bool has_cir = false;
  bool has_cbs = false;
  for (size_t i = 2; i < words.size(); i++) {
    const auto eq = words[i].find('=');
    const std::string k = words[i].substr(0, eq);
    const std::string v = eq == std::string::npos ? "" : words[i].substr(eq + 1);
    if (k == "cir") {
      s.cir = policing_number(key, v, kMinRate, kMaxRate);
      has_cir = true;
    } else if (k == "cbs") {
      s.cbs = policing_number(key, v, 1, kMaxBurst);
      has_cbs = true;
    } else if (k == "pir") {
      s.pir = policing_number(key, v, kMinRate, kMaxRate);
    } else if (k == "pbs") {
      s.pbs = policing_number(key, v, 1, kMaxBurst);
    } else if (k == "exceed") {
      s.exceed = policing_action(key, v);
    } else if (k == "violate") {
      s.violate = policing_action(key, v);
    } else {
      throw ConfigError(
          key, text,
          "unknown setting '" + words[i] + "' (cir=, cbs=, pir=, pbs=, exceed=, violate= or off)");
    }
  }
  if (!has_cir || !has_cbs) throw ConfigError(key, text, "cir= and cbs= are required");
  check_policer(key, text, s, mtu);
  return s;
}

PolicingConfig read_policing(const Reader& r, const Config& c, std::vector<std::string>* warnings) {
  PolicingConfig pc;
  pc.enabled = r.choice("policing.enabled", {"yes", "no"}) == "yes";
  const unsigned mtu = std::max(c.inside.mtu, c.outside.mtu);
  PolicerSpec d;
  d.name = "default";
  d.cir = policing_number("policing.cir", r.str("policing.cir"), kMinRate, kMaxRate);
  d.cbs = policing_number("policing.cbs", r.str("policing.cbs"), 1, kMaxBurst);
  const std::string pir = r.str("policing.pir");
  d.pir = pir == "0" ? 0 : policing_number("policing.pir", pir, kMinRate, kMaxRate);
  d.pbs = policing_number("policing.pbs", r.str("policing.pbs"), 0, kMaxBurst);
  d.exceed = policing_action("policing.exceed", r.str("policing.exceed"));
  d.violate = policing_action("policing.violate", r.str("policing.violate"));
  check_policer("policing.cbs", r.str("policing.cbs"), d, mtu);
  const std::vector<std::string> match = r.list("policing.match");
  for (const std::string& text : match) {
    const Prefix p = parse_prefix("policing.match", text, false);
    d.prefixes.push_back({p.network, p.len});
  }
  if (match.empty()) {
    for (const Prefix& p : c.clients)
      d.prefixes.push_back({p.network, p.len});
  }
  pc.profiles.push_back(d);
  std::set<std::string> names{"default"};
  std::set<std::pair<uint32_t, uint8_t>> seen;
  for (const PolicerSpec::Prefix& p : d.prefixes) {
    if (!seen.insert({p.network, p.len}).second) {
      throw ConfigError("policing.match", format_ip(p.network) + "/" + std::to_string(p.len),
                        "prefix given twice");
    }
  }
  for (const std::string& text : r.list("policing.profile")) {
    PolicerSpec s = read_profile(text, mtu);
    if (!names.insert(s.name).second) {
      throw ConfigError("policing.profile", text, "profile name given twice");
    }
    for (const PolicerSpec::Prefix& p : s.prefixes) {
      const std::string shown = format_ip(p.network) + "/" + std::to_string(p.len);
      if (!seen.insert({p.network, p.len}).second) {
        throw ConfigError("policing.profile", text, shown + " is in another profile already");
      }
      const bool inside = std::any_of(c.clients.begin(), c.clients.end(), [&](const Prefix& cp) {
        return cp.len <= p.len && (p.network & mask_of(cp.len)) == cp.network;
      });
      if (!inside) {
        warnings->push_back(fmt::format(
            "policing.profile {}: {} is not within inside.clients; no client can come from it",
            s.name, shown));
      }
    }
    pc.profiles.push_back(std::move(s));
  }
  return pc;
}

ExportConfig read_export(const Reader& r, const Config& c, std::vector<std::string>* warnings) {
  ExportConfig e;
  static const std::regex collector_re(R"(^(\d+\.\d+\.\d+\.\d+):(\d+)$)");
  for (const std::string& text : r.list("export.collector")) {
    std::smatch m;
    ExportConfig::Collector col;
    unsigned port = 0;
    if (!std::regex_match(text, m, collector_re) || !parse_ip(m[1], &col.ip)) {
      throw ConfigError("export.collector", text, "expected IP:PORT, e.g. 192.0.2.50:4739");
    }
    const std::string p = m[2];
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), port);
    if (ec != std::errc() || end != p.data() + p.size() || port == 0 || port > 65535) {
      throw ConfigError("export.collector", text, "port must be 1 to 65535");
    }
    col.port = static_cast<uint16_t>(port);
    e.collectors.push_back(col);
  }
  e.observation_domain = r.number("export.observation-domain", 0, ~0u);
  e.template_refresh = r.number("export.template-refresh", 1, 86400);
  e.mtu = r.number("export.mtu", 576, 9000);
  e.active_timeout = r.number("export.active-timeout", 0, 86400);
  e.flows = r.choice("export.flows", {"yes", "no"}) == "yes";
  e.destinations = r.choice("export.destinations", {"yes", "no"}) == "yes";
  e.accountability = r.choice("export.accountability", {"yes", "no"}) == "yes";
  e.ring = power_of_2(r, "export.ring", 64, 1 << 24);
  e.refusal_rate = r.number("export.refusal-rate", 0, 1'000'000);
  e.log = r.str("export.log");
  const std::string events = r.choice("export.log-events", {"all", "sessions", "blocks"});
  e.log_sessions = events != "blocks";
  e.log_blocks = events != "sessions";
  if (e.accountability && !e.enabled()) {
    throw ConfigError("export.accountability", "yes",
                      "needs somewhere to log to: export.collector or export.log");
  }
  if (e.enabled() && c.pipeline != "cgnat") {
    warnings->push_back(
        "export.collector / export.log: NAT events come only from dataplane.pipeline = cgnat; "
        "nothing will be exported");
  }
  return e;
}

// The user and groups of [control], looked up now: a name that does not
// exist is a configuration error, not a failure after DPDK has started.
// Empty is as not given.
void read_identity(const Reader& r, Config* c) {
  const auto group_id = [&r](const char* key) {
    const std::string name = r.str(key);
    const group* g = getgrnam(name.c_str());
    if (g == nullptr) throw ConfigError(key, name, "no such group");
    return g->gr_gid;
  };
  c->user = r.str("control.user");
  if (!c->user.empty()) {
    const passwd* pw = getpwnam(c->user.c_str());
    if (pw == nullptr) throw ConfigError("control.user", c->user, "no such user");
    if (pw->pw_uid != 0) c->uid = pw->pw_uid;
    c->gid = pw->pw_gid;
    const group* g = getgrgid(pw->pw_gid);
    c->group = g != nullptr ? g->gr_name : std::to_string(pw->pw_gid);
  }
  if (!r.str("control.group").empty()) {
    if (!c->uid) {
      throw ConfigError("control.group", r.str("control.group"),
                        "needs control.user (a user other than root to go with it)");
    }
    c->group = r.str("control.group");
    c->gid = group_id("control.group");
  }
  c->telemetry_group = r.str("control.telemetry-group");
  if (!c->telemetry_group.empty()) c->telemetry_gid = group_id("control.telemetry-group");
}

Config read_config(const Reader& r, std::vector<std::string>* warnings) {
  Config c;
  c.cores = r.str("eal.cores");
  if (c.cores != "auto") {
    std::stringstream in(c.cores);
    for (std::string cpu; std::getline(in, cpu, ',');) {
      unsigned n = 0;
      const auto [end, ec] = std::from_chars(cpu.data(), cpu.data() + cpu.size(), n);
      if (cpu.empty() || ec != std::errc() || end != cpu.data() + cpu.size() || n >= 4096) {
        throw ConfigError("eal.cores", c.cores,
                          "expected auto or a comma-separated list of CPU numbers below 4096");
      }
    }
  }
  c.memory_mb = r.number("eal.memory-mb", 64, 1 << 20);
  c.hugepages = r.choice("eal.hugepages", {"auto", "yes", "no"});
  c.prefix = r.str("eal.prefix");
  if (!std::regex_match(c.prefix, std::regex(R"(^[A-Za-z0-9_.-]{1,64}$)"))) {
    throw ConfigError("eal.prefix", c.prefix, "letters, digits, '.', '_' and '-' only");
  }
  c.log_level = r.choice("eal.log-level",
                         {"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug"});
  c.eal_args = r.list("eal.arg");

  c.pipeline = r.choice("dataplane.pipeline", {"forward", "cgnat"});
  c.workers = r.number("dataplane.workers", 1, 64);
  c.mbufs = r.number("dataplane.mbufs", 0, 1u << 26);
  if (c.mbufs != 0 && c.mbufs < 1024) {
    throw ConfigError("dataplane.mbufs", r.str("dataplane.mbufs"), "0 (auto) or at least 1024");
  }
  c.rx_desc = r.number("dataplane.rx-desc", 64, 32768);
  c.tx_desc = r.number("dataplane.tx-desc", 64, 32768);
  c.punt_ring = power_of_2(r, "dataplane.punt-ring", 64, 1 << 20);
  c.allow_ip_options = r.choice("dataplane.ip-options", {"drop", "forward"}) == "forward";
  c.icmp_error_rate = r.number("dataplane.icmp-error-rate", 0, 1000000);
  c.handoff_ring = power_of_2(r, "dataplane.handoff-ring", 64, 1 << 20);

  c.inside = read_interface(r, "inside");
  c.outside = read_interface(r, "outside");
  const uint32_t common = mask_of(std::min(c.inside.prefix_len, c.outside.prefix_len));
  if ((c.inside.address & common) == (c.outside.address & common)) {
    throw ConfigError("outside.address", r.str("outside.address"),
                      "overlaps the inside subnet " + r.str("inside.address"));
  }
  std::set<std::string> seen;
  for (const char* side : {"inside", "outside"}) {
    for (const std::string& p : (side[0] == 'i' ? c.inside : c.outside).ports) {
      if (!seen.insert(p.substr(0, p.find(','))).second) {
        throw ConfigError(std::string(side) + ".port", p, "device used twice");
      }
    }
  }

  for (const std::string& text : r.list("inside.clients")) {
    c.clients.push_back(parse_prefix("inside.clients", text, false));
  }
  if (c.clients.empty()) {
    throw ConfigError("inside.clients", "",
                      "required: the prefixes inside clients use (anything else arriving on the "
                      "inside is dropped as spoofed)");
  }

  std::set<std::pair<uint32_t, uint8_t>> prefixes;
  static const std::regex route_re(R"(^\s*(\S+)\s+via\s+(\S+)\s*$)");
  for (const std::string& text : r.list("routes.static")) {
    std::smatch m;
    if (!std::regex_match(text, m, route_re)) {
      throw ConfigError("routes.static", text, "expected 'PREFIX via GATEWAY'");
    }
    Route route;
    route.prefix = parse_prefix("routes.static", m[1], false);
    if (!parse_ip(m[2], &route.gateway)) {
      throw ConfigError("routes.static", text, "gateway is not an IPv4 address");
    }
    if (!is_host(c.inside, route.gateway) && !is_host(c.outside, route.gateway)) {
      throw ConfigError("routes.static", text,
                        "gateway is not a host of the inside or outside subnet");
    }
    if (!prefixes.insert({route.prefix.network, route.prefix.len}).second) {
      throw ConfigError("routes.static", text, "prefix given twice");
    }
    c.routes.push_back(route);
  }
  if (c.routes.empty()) {
    warnings->push_back(
        "routes.static: no routes; only the inside and outside subnets are reachable");
  }

  c.nat = read_nat(r, c, warnings);
  c.policing = read_policing(r, c, warnings);
  c.exporting = read_export(r, c, warnings);

  c.arp_reachable_ms = r.number("arp.reachable-ms", 1000, 3600000);
  c.arp_retry_ms = r.number("arp.retry-ms", 10, 60000);
  c.arp_retries = r.number("arp.retries", 1, 100);
  c.arp_queue = r.number("arp.queue", 0, 256);
  c.arp_held = r.number("arp.held", 0, 1u << 26);
  c.echo_rate = r.number("control.echo-rate", 0, 1000000);
  c.arp_reply_rate = r.number("control.arp-reply-rate", 0, 1000000);
  c.slow_protocols_rate = r.number("control.slow-protocols-rate", 1, 100000);
  read_identity(r, &c);
  return c;
}

}  // namespace

std::string options_help() {
  std::ostringstream out;
  out << generic() << "\nConfiguration (INI: [section] then key = value; on the command line: "
      << "--section.key=value, which wins over the file):\n";
  const auto desc = describe();
  out << desc;
  return out.str();
}

Invocation load_config(int argc, const char* const* argv) {
  Invocation inv;
  po::options_description all;
  all.add(generic()).add(describe());
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, all), vm);
    if (vm.count("help")) {
      inv.action = Action::help;
      return inv;
    }
    if (vm.count("version")) {
      inv.action = Action::version;
      return inv;
    }
    if (vm.count("check-config")) {
      inv.action = Action::check;
      inv.config_file = vm["check-config"].as<std::string>();
    } else if (vm.count("config")) {
      inv.config_file = vm["config"].as<std::string>();
    }
    if (!inv.config_file.empty()) {
      std::ifstream in(inv.config_file);
      if (!in) throw ConfigError("config", inv.config_file, "cannot open the file");
      po::store(po::parse_config_file(in, describe(), false), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    throw ConfigError(inv.config_file.empty() ? "command line" : inv.config_file, "", e.what());
  }
  inv.config = read_config(Reader(vm), &inv.warnings);
  return inv;
}

}  // namespace sluice
