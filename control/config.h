// sluice configuration: one INI file, every key also a command-line option.
//
// Options are declared once, with their defaults and help, in config.cc
// (options()); `sluice --help` prints them and the README reference follows
// them. load_config() parses and validates everything before any port is
// touched: an error names the key, the value and the reason.
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "lag.h"
#include "policer.h"

namespace sluice {

struct Prefix {
  uint32_t network = 0;  // host order
  uint8_t len = 0;
};

struct StaticNeighbour {
  uint32_t ip = 0;
  rte_ether_addr mac{};
};

// How the member ports of an interface form one aggregate (lag-mode and
// the keys after it in config.cc).
struct LagConfig {
  bool lacp = false;  // static: every member with link up carries traffic
  bool active = true;
  bool fast = true;
  uint16_t system_priority = 65535;
  std::optional<rte_ether_addr> system_id;  // default: the interface MAC
  uint16_t key = 1;
  uint16_t port_priority = 255;
  XmitHash hash = XmitHash::layer2_3;
  unsigned down_delay_ms = 200;
  unsigned up_delay_ms = 200;
  unsigned link_poll_ms = 10;
};

struct InterfaceConfig {
  uint32_t address = 0;
  uint8_t prefix_len = 0;
  std::vector<std::string> ports;  // member port specs: PCI address or vdev
  uint16_t vlan = 0;
  uint16_t mtu = 1500;
  std::optional<rte_ether_addr> mac;
  std::vector<StaticNeighbour> neighbours;
  LagConfig lag;
};

struct Route {
  Prefix prefix;
  uint32_t gateway = 0;
};

// [nat]: the cgnat pipeline. Times in seconds unless named _ms.
struct NatConfig {
  std::vector<uint32_t> pool;  // public addresses, host order
  unsigned port_min = 1024;
  unsigned block_size = 128;
  unsigned max_blocks = 8;       // per client
  unsigned max_sessions = 4096;  // per client
  unsigned hold_down = 120;
  bool endpoint_independent_filtering = false;
  unsigned sessions = 1048576;  // in all; each worker gets its share
  unsigned clients = 65536;
  unsigned udp_timeout = 300;
  unsigned tcp_established_timeout = 7440;
  unsigned tcp_transitory_timeout = 240;
  unsigned icmp_timeout = 60;
  bool exhausted_icmp = true;
  unsigned fragments = 1024;  // datagrams tracked per worker
  unsigned fragments_held = 256;
  unsigned fragment_timeout_ms = 2000;
};

// [policing]: per-client microflow policing on the cgnat pipeline.
struct PolicingConfig {
  bool enabled = true;
  // profiles[0] is the default profile (policing.cir ... on policing.match,
  // which defaults to inside.clients); then every policing.profile.
  std::vector<PolicerSpec> profiles;
};

// [export]: NAT events and flow records to IPFIX collectors and the local
// NAT log (control/exporter.h).
struct ExportConfig {
  struct Collector {
    uint32_t ip = 0;  // host order
    uint16_t port = 0;
  };
  std::vector<Collector> collectors;
  uint32_t observation_domain = 1;
  unsigned template_refresh = 60;  // s
  unsigned mtu = 1500;
  unsigned active_timeout = 60;  // s; 0: a flow record only at the end
  bool flows = true;
  bool destinations = false;
  bool accountability = false;
  unsigned ring = 262144;       // events per worker
  unsigned refusal_rate = 100;  // refusal events per second per worker
  std::string log;              // path; empty: no local log
  bool log_sessions = true;
  bool log_blocks = true;
  bool enabled() const { return !collectors.empty() || !log.empty(); }
};

struct Config {
  // [eal]
  std::string cores = "auto";
  unsigned memory_mb = 1024;
  std::string hugepages = "auto";
  std::string prefix = "sluice";
  std::string log_level = "notice";
  std::vector<std::string> eal_args;
  // [dataplane]
  std::string pipeline = "forward";
  unsigned workers = 1;
  unsigned mbufs = 0;  // 0: sized from ports and queues
  unsigned rx_desc = 1024;
  unsigned tx_desc = 1024;
  unsigned punt_ring = 1024;
  bool allow_ip_options = false;
  unsigned icmp_error_rate = 100;
  unsigned handoff_ring = 1024;
  // [inside], [outside]
  InterfaceConfig inside;
  InterfaceConfig outside;
  std::vector<Prefix> clients;
  // [routes]
  std::vector<Route> routes;
  // [nat]
  NatConfig nat;
  // [policing]
  PolicingConfig policing;
  // [export]
  ExportConfig exporting;
  // [arp]
  unsigned arp_reachable_ms = 30000;
  unsigned arp_retry_ms = 1000;
  unsigned arp_retries = 3;
  unsigned arp_queue = 3;
  unsigned arp_held = 0;  // 0: an eighth of the mbuf pool
  // [control]
  unsigned echo_rate = 100;
  unsigned arp_reply_rate = 1000;
  unsigned slow_protocols_rate = 10;  // per member port
  std::string user;                   // control.user, as given (empty: root)
  std::optional<uint32_t> uid;        // its uid, unless root
  std::string group;                  // control.group, or the user's primary group
  uint32_t gid = 0;
  std::string telemetry_group;            // control.telemetry-group
  std::optional<uint32_t> telemetry_gid;  // its gid
};

// A configuration error: which key, which value, why.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(const std::string& key, const std::string& value, const std::string& why);
};

enum class Action { run, check, help, version };

struct Invocation {
  Action action = Action::run;
  std::string config_file;
  Config config;
  std::vector<std::string> warnings;
};

// Parses the command line (and the file it names). Throws ConfigError, or
// std::runtime_error for a file that cannot be read.
Invocation load_config(int argc, const char* const* argv);

// The option reference, as `sluice --help` prints it.
std::string options_help();

std::string format_ip(uint32_t ip);
bool parse_ip(const std::string& text, uint32_t* ip);

}  // namespace sluice
