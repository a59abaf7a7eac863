// Configuration (control/config.h): load_config() on argv arrays and INI
// files. A valid file gets the documented defaults; every kind of bad input
// is refused with a ConfigError naming the key and the reason.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "support.h"

namespace sluice::test {
namespace {

// key = value pairs in order; a key may repeat.
using Options = std::vector<std::pair<std::string, std::string>>;

Options minimal() {
  return {
      {"inside.address", "10.16.1.1/24"}, {"inside.port", "net_ring0"},
      {"inside.clients", "10.16.0.0/12"}, {"outside.address", "192.0.2.1/24"},
      {"outside.port", "net_ring1"},      {"routes.static", "0.0.0.0/0 via 192.0.2.2"},
  };
}

// The minimal configuration of the cgnat pipeline: a pool is all it adds.
Options minimal_cgnat() {
  Options o = minimal();
  o.emplace_back("dataplane.pipeline", "cgnat");
  o.emplace_back("nat.pool", "198.51.100.0/30");
  return o;
}

// Every value of key replaced by one.
Options set(Options o, const std::string& key, const std::string& value) {
  std::erase_if(o, [&](const auto& kv) { return kv.first == key; });
  o.emplace_back(key, value);
  return o;
}
Options add(Options o, const std::string& key, const std::string& value) {
  o.emplace_back(key, value);
  return o;
}
Options unset(Options o, const std::string& key) {
  std::erase_if(o, [&](const auto& kv) { return kv.first == key; });
  return o;
}

Invocation load_argv(const std::vector<std::string>& args) {
  std::vector<const char*> argv = {"sluice"};
  for (const auto& a : args)
    argv.push_back(a.c_str());
  return load_config(static_cast<int>(argv.size()), argv.data());
}

std::vector<std::string> as_args(const Options& o) {
  std::vector<std::string> args;
  for (const auto& [k, v] : o)
    args.push_back("--" + k + "=" + v);
  return args;
}

Invocation load(const Options& o) {
  return load_argv(as_args(o));
}

// A temporary INI file, removed at the end of the scope.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/sluice-unit-XXXXXX.conf";
    const int fd = mkstemps(tmpl, 5);
    REQUIRE(fd >= 0);
    close(fd);
    path_ = tmpl;
    std::ofstream(path_) << text;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The same options as an INI file, grouped by section.
std::string as_ini(const Options& o) {
  std::string out;
  for (const std::string section :
       {"eal", "dataplane", "inside", "outside", "routes", "nat", "policing", "arp", "control"}) {
    std::string body;
    for (const auto& [k, v] : o) {
      if (k.size() > section.size() && k.compare(0, section.size(), section) == 0 &&
          k[section.size()] == '.') {
        body.append(k, section.size() + 1).append(" = ").append(v).append("\n");
      }
    }
    if (!body.empty()) out.append("[").append(section).append("]\n").append(body).append("\n");
  }
  return out;
}

TEST_CASE("config: a minimal file loads with the documented defaults", "[config]") {
  TempFile file("# the smallest working configuration\n" + as_ini(minimal()));
  const Invocation inv = load_argv({"-c", file.path()});
  CHECK(inv.action == Action::run);
  CHECK(inv.config_file == file.path());
  CHECK(inv.warnings.empty());
  const Config& c = inv.config;
  CHECK(c.cores == "auto");
  CHECK(c.memory_mb == 1024);
  CHECK(c.hugepages == "auto");
  CHECK(c.prefix == "sluice");
  CHECK(c.log_level == "notice");
  CHECK(c.eal_args.empty());
  CHECK(c.pipeline == "forward");
  CHECK(c.workers == 1);
  CHECK(c.mbufs == 0);
  CHECK(c.rx_desc == 1024);
  CHECK(c.tx_desc == 1024);
  CHECK(c.punt_ring == 1024);
  CHECK_FALSE(c.allow_ip_options);
  CHECK(c.icmp_error_rate == 100);
  CHECK(c.arp_reachable_ms == 30000);
  CHECK(c.arp_retry_ms == 1000);
  CHECK(c.arp_retries == 3);
  CHECK(c.arp_queue == 3);
  CHECK(c.echo_rate == 100);
  CHECK(c.arp_reply_rate == 1000);
  CHECK(c.slow_protocols_rate == 10);

  CHECK(c.inside.address == ip("10.16.1.1"));
  CHECK(c.inside.prefix_len == 24);
  CHECK(c.inside.ports == std::vector<std::string>{"net_ring0"});
  CHECK(c.inside.vlan == 0);
  CHECK(c.inside.mtu == 1500);
  CHECK_FALSE(c.inside.mac.has_value());
  CHECK(c.inside.neighbours.empty());
  CHECK(c.outside.address == ip("192.0.2.1"));
  CHECK(c.outside.prefix_len == 24);
  CHECK(c.outside.ports == std::vector<std::string>{"net_ring1"});
  REQUIRE(c.clients.size() == 1);
  CHECK(c.clients[0].network == ip("10.16.0.0"));
  CHECK(c.clients[0].len == 12);
  REQUIRE(c.routes.size() == 1);
  CHECK(c.routes[0].prefix.network == 0);
  CHECK(c.routes[0].prefix.len == 0);
  CHECK(c.routes[0].gateway == ip("192.0.2.2"));
}

TEST_CASE("config: every option set, from the command line", "[config]") {
  Options o = minimal();
  o = set(o, "eal.cores", "0,1,2");
  o = set(o, "eal.memory-mb", "512");
  o = set(o, "eal.hugepages", "no");
  o = set(o, "eal.prefix", "sluice-test_1.a");
  o = set(o, "eal.log-level", "debug");
  o = add(o, "eal.arg", "--no-telemetry");
  o = add(o, "eal.arg", "--vdev=net_null0");
  o = set(o, "dataplane.workers", "2");
  o = set(o, "dataplane.mbufs", "8192");
  o = set(o, "dataplane.rx-desc", "512");
  o = set(o, "dataplane.tx-desc", "256");
  o = set(o, "dataplane.punt-ring", "4096");
  o = set(o, "dataplane.ip-options", "forward");
  o = set(o, "dataplane.icmp-error-rate", "0");
  o = set(o, "inside.vlan", "4094");
  o = set(o, "inside.mtu", "9000");
  o = set(o, "inside.mac", "02:00:00:00:01:01");
  o = add(o, "inside.neighbour", "10.16.1.5 02:00:00:00:00:05");
  o = add(o, "inside.clients", "100.64.0.0/28");
  o = add(o, "inside.port", "0000:03:00.1");
  o = set(o, "outside.mtu", "576");
  o = add(o, "routes.static", "172.16.0.0/12 via 10.16.1.254");
  o = set(o, "arp.reachable-ms", "1000");
  o = set(o, "arp.retry-ms", "10");
  o = set(o, "arp.retries", "100");
  o = set(o, "arp.queue", "0");
  o = set(o, "control.echo-rate", "0");
  o = set(o, "control.arp-reply-rate", "1000000");
  o = set(o, "control.slow-protocols-rate", "3");
  const Config c = load(o).config;
  CHECK(c.cores == "0,1,2");
  CHECK(c.memory_mb == 512);
  CHECK(c.hugepages == "no");
  CHECK(c.prefix == "sluice-test_1.a");
  CHECK(c.log_level == "debug");
  CHECK(c.eal_args == std::vector<std::string>{"--no-telemetry", "--vdev=net_null0"});
  CHECK(c.workers == 2);
  CHECK(c.mbufs == 8192);
  CHECK(c.rx_desc == 512);
  CHECK(c.tx_desc == 256);
  CHECK(c.punt_ring == 4096);
  CHECK(c.allow_ip_options);
  CHECK(c.icmp_error_rate == 0);
  CHECK(c.inside.vlan == 4094);
  CHECK(c.inside.mtu == 9000);
  REQUIRE(c.inside.mac.has_value());
  CHECK(mac_text(*c.inside.mac) == "02:00:00:00:01:01");
  REQUIRE(c.inside.neighbours.size() == 1);
  CHECK(c.inside.neighbours[0].ip == ip("10.16.1.5"));
  CHECK(mac_text(c.inside.neighbours[0].mac) == "02:00:00:00:00:05");
  CHECK(c.inside.ports == std::vector<std::string>{"net_ring0", "0000:03:00.1"});
  CHECK(c.clients.size() == 2);
  CHECK(c.outside.mtu == 576);
  CHECK(c.routes.size() == 2);
  CHECK(c.arp_reachable_ms == 1000);
  CHECK(c.arp_retry_ms == 10);
  CHECK(c.arp_retries == 100);
  CHECK(c.arp_queue == 0);
  CHECK(c.echo_rate == 0);
  CHECK(c.arp_reply_rate == 1000000);
  CHECK(c.slow_protocols_rate == 3);
}

TEST_CASE("config: /31 linknets may use either address", "[config]") {
  Options o = set(minimal(), "outside.address", "192.0.2.0/31");
  o = set(o, "routes.static", "0.0.0.0/0 via 192.0.2.1");
  CHECK(load(o).config.outside.address == ip("192.0.2.0"));
  o = set(o, "outside.address", "192.0.2.1/31");
  o = set(o, "routes.static", "0.0.0.0/0 via 192.0.2.0");
  CHECK(load(o).config.outside.prefix_len == 31);
}

TEST_CASE("config: no static routes is valid, with a warning", "[config]") {
  const Invocation inv = load(unset(minimal(), "routes.static"));
  REQUIRE(inv.warnings.size() == 1);
  CHECK_THAT(inv.warnings[0], Catch::Contains("routes.static"));
}

struct BadCase {
  const char* description;
  Options options;
  std::vector<std::string> message;  // substrings of what()
};

std::vector<BadCase> bad_cases() {
  const Options m = minimal();
  const Options cg = minimal_cgnat();
  return {
      {"an unknown aggregate mode",
       set(m, "inside.lag-mode", "active-backup"),
       {"inside.lag-mode", "'active-backup'", "static, lacp"}},
      {"an unknown transmit hash",
       set(m, "outside.xmit-hash", "layer3"),
       {"outside.xmit-hash", "layer2, layer2+3, layer3+4"}},
      {"a multicast LACP system id",
       set(m, "inside.lacp-system-id", "01:80:c2:00:00:02"),
       {"inside.lacp-system-id", "unicast"}},
      {"LACP key 0", set(m, "outside.lacp-key", "0"), {"outside.lacp-key", "between 1 and 65535"}},
      {"link polling of 0 ms",
       set(m, "inside.link-poll-ms", "0"),
       {"inside.link-poll-ms", "between 1 and 1000"}},
      {"address not IPv4",
       set(m, "inside.address", "10.16.1.300/24"),
       {"inside.address = '10.16.1.300/24'", "not an IPv4 address"}},
      {"address without a prefix length",
       set(m, "inside.address", "10.16.1.1"),
       {"inside.address", "expected A.B.C.D/LEN"}},
      {"prefix length not a number",
       set(m, "inside.address", "10.16.1.1/x"),
       {"inside.address", "prefix length must be 0 to 32"}},
      {"prefix length 33",
       set(m, "inside.address", "10.16.1.1/33"),
       {"inside.address", "prefix length must be 0 to 32"}},
      {"prefix /15",
       set(m, "inside.address", "10.16.1.1/15"),
       {"inside.address = '10.16.1.1/15'", "/16 to /31"}},
      {"prefix /32",
       set(m, "outside.address", "192.0.2.1/32"),
       {"outside.address = '192.0.2.1/32'", "/16 to /31"}},
      {"the network address as interface address",
       set(m, "inside.address", "10.16.1.0/24"),
       {"inside.address", "network or broadcast address"}},
      {"the broadcast address as interface address",
       set(m, "outside.address", "192.0.2.255/24"),
       {"outside.address", "network or broadcast address"}},
      {"outside inside the inside subnet",
       set(m, "outside.address", "10.16.1.2/24"),
       {"outside.address", "overlaps the inside subnet 10.16.1.1/24"}},
      {"outside subnet containing the inside one",
       set(m, "outside.address", "10.16.200.1/16"),
       {"outside.address", "overlaps"}},
      {"missing inside.address", unset(m, "inside.address"), {"inside.address", "required"}},
      {"missing inside.port", unset(m, "inside.port"), {"inside.port", "required"}},
      {"missing outside.port", unset(m, "outside.port"), {"outside.port", "required"}},
      {"port that is neither PCI nor vdev",
       set(m, "inside.port", "eth0"),
       {"inside.port = 'eth0'", "expected a PCI address"}},
      {"vdev without an instance number",
       set(m, "outside.port", "net_ring"),
       {"outside.port = 'net_ring'", "expected a PCI address"}},
      {"nine member ports",
       [&] {
         Options o = unset(m, "inside.port");
         for (int i = 0; i < 9; i++)
           o = add(o, "inside.port", "net_null" + std::to_string(i));
         return o;
       }(),
       {"inside.port", "at most 8"}},
      {"the same device on both sides",
       set(m, "outside.port", "net_ring0,size=1"),
       {"net_ring0,size=1", "device used twice"}},
      {"the same PCI device twice",
       add(set(m, "inside.port", "0000:03:00.0"), "inside.port", "0000:03:00.0"),
       {"0000:03:00.0", "device used twice"}},
      {"vlan 4095", set(m, "inside.vlan", "4095"), {"inside.vlan = '4095'", "between 0 and 4094"}},
      {"mtu 67", set(m, "outside.mtu", "67"), {"outside.mtu = '67'", "between 576 and 9000"}},
      {"mtu 9001", set(m, "inside.mtu", "9001"), {"inside.mtu = '9001'", "between 576 and 9000"}},
      {"MAC too short",
       set(m, "inside.mac", "02:00:00:00:01"),
       {"inside.mac = '02:00:00:00:01'", "not a MAC address"}},
      {"MAC not hex",
       set(m, "outside.mac", "02:00:00:00:01:zz"),
       {"outside.mac", "not a MAC address"}},
      {"neighbour without a MAC",
       add(m, "inside.neighbour", "10.16.1.5"),
       {"inside.neighbour = '10.16.1.5'", "expected 'IP MAC'"}},
      {"neighbour with a bad address",
       add(m, "inside.neighbour", "10.16.1.500 02:00:00:00:00:05"),
       {"inside.neighbour", "bad IP address"}},
      {"neighbour with a bad MAC",
       add(m, "inside.neighbour", "10.16.1.5 02:00:00:00:00"),
       {"inside.neighbour", "not a MAC address"}},
      {"neighbour off the subnet",
       add(m, "inside.neighbour", "10.17.0.5 02:00:00:00:00:05"),
       {"inside.neighbour = '10.17.0.5 02:00:00:00:00:05'", "not a host of the inside subnet"}},
      {"neighbour at our own address",
       add(m, "outside.neighbour", "192.0.2.1 02:00:00:00:00:05"),
       {"outside.neighbour", "not a host of the outside subnet"}},
      {"missing inside.clients", unset(m, "inside.clients"), {"inside.clients", "required"}},
      {"client prefix with host bits",
       set(m, "inside.clients", "10.16.1.0/12"),
       {"inside.clients = '10.16.1.0/12'", "host bits set", "did you mean 10.16.0.0/12?"}},
      {"client prefix not IPv4",
       set(m, "inside.clients", "10.16.0/12"),
       {"inside.clients", "not an IPv4 address"}},
      {"route gateway off both subnets",
       set(m, "routes.static", "0.0.0.0/0 via 203.0.113.1"),
       {"routes.static = '0.0.0.0/0 via 203.0.113.1'", "not a host of the inside or outside"}},
      {"route via our own address",
       set(m, "routes.static", "0.0.0.0/0 via 192.0.2.1"),
       {"routes.static", "not a host of the inside or outside"}},
      {"route without via",
       set(m, "routes.static", "0.0.0.0/0 192.0.2.2"),
       {"routes.static = '0.0.0.0/0 192.0.2.2'", "expected 'PREFIX via GATEWAY'"}},
      {"route with 'default'",
       set(m, "routes.static", "default via 192.0.2.2"),
       {"routes.static = 'default'", "expected A.B.C.D/LEN"}},
      {"route with a gateway name",
       set(m, "routes.static", "0.0.0.0/0 via gw"),
       {"routes.static", "gateway is not an IPv4 address"}},
      {"route prefix with host bits",
       set(m, "routes.static", "172.16.0.1/12 via 192.0.2.2"),
       {"routes.static", "did you mean 172.16.0.0/12?"}},
      {"the same prefix twice",
       add(m, "routes.static", "0.0.0.0/0 via 10.16.1.254"),
       {"routes.static = '0.0.0.0/0 via 10.16.1.254'", "prefix given twice"}},
      {"workers not a number",
       set(m, "dataplane.workers", "two"),
       {"dataplane.workers = 'two'", "not a whole number"}},
      {"workers negative",
       set(m, "dataplane.workers", "-1"),
       {"dataplane.workers = '-1'", "not a whole number"}},
      {"workers with trailing text",
       set(m, "dataplane.workers", "2x"),
       {"dataplane.workers = '2x'", "not a whole number"}},
      {"workers empty", set(m, "dataplane.workers", ""), {"dataplane.workers"}},
      {"workers 0",
       set(m, "dataplane.workers", "0"),
       {"dataplane.workers = '0'", "between 1 and 64"}},
      {"workers 65", set(m, "dataplane.workers", "65"), {"dataplane.workers", "between 1 and 64"}},
      {"memory beyond unsigned",
       set(m, "eal.memory-mb", "99999999999"),
       {"eal.memory-mb", "not a whole number"}},
      {"punt ring not a power of 2",
       set(m, "dataplane.punt-ring", "1000"),
       {"dataplane.punt-ring = '1000'", "power of 2"}},
      {"a few mbufs",
       set(m, "dataplane.mbufs", "100"),
       {"dataplane.mbufs = '100'", "at least 1024"}},
      {"rx-desc too small",
       set(m, "dataplane.rx-desc", "32"),
       {"dataplane.rx-desc", "between 64 and 32768"}},
      {"arp.retries 0", set(m, "arp.retries", "0"), {"arp.retries", "between 1 and 100"}},
      {"arp.retry-ms 5", set(m, "arp.retry-ms", "5"), {"arp.retry-ms", "between 10 and 60000"}},
      {"hugepages maybe",
       set(m, "eal.hugepages", "maybe"),
       {"eal.hugepages = 'maybe'", "must be one of auto, yes, no"}},
      {"ip-options allow",
       set(m, "dataplane.ip-options", "allow"),
       {"dataplane.ip-options = 'allow'", "must be one of drop, forward"}},
      {"log level verbose",
       set(m, "eal.log-level", "verbose"),
       {"eal.log-level = 'verbose'", "must be one of emerg"}},
      {"pipeline unknown",
       set(m, "dataplane.pipeline", "nat"),
       {"dataplane.pipeline = 'nat'", "must be one of forward, cgnat"}},
      {"pipeline cgnat without a pool",
       set(m, "dataplane.pipeline", "cgnat"),
       {"nat.pool", "required by dataplane.pipeline = cgnat"}},
      {"pool prefix with host bits",
       set(cg, "nat.pool", "198.51.100.1/30"),
       {"nat.pool = '198.51.100.1/30'", "host bits set", "did you mean 198.51.100.0/30?"}},
      {"pool address not IPv4",
       set(cg, "nat.pool", "198.51.100.256"),
       {"nat.pool = '198.51.100.256'", "not an IPv4 address"}},
      {"pool prefix not IPv4",
       set(cg, "nat.pool", "198.51.100/30"),
       {"nat.pool = '198.51.100/30'", "not an IPv4 address"}},
      {"pool prefix length not a number",
       set(cg, "nat.pool", "198.51.100.0/x"),
       {"nat.pool", "prefix length must be 0 to 32"}},
      {"pool address given twice",
       add(cg, "nat.pool", "198.51.100.2"),
       {"nat.pool = '198.51.100.2'", "address given twice"}},
      {"pool prefixes that overlap",
       add(cg, "nat.pool", "198.51.100.0/29"),
       {"nat.pool = '198.51.100.0/29'", "address given twice"}},
      {"pool in the inside subnet",
       set(cg, "nat.pool", "10.16.1.128/25"),
       {"nat.pool = '10.16.1.128/25'", "overlaps the inside subnet"}},
      {"pool at the inside address",
       set(cg, "nat.pool", "10.16.1.1"),
       {"nat.pool = '10.16.1.1'", "overlaps"}},
      {"pool at the outside address",
       set(cg, "nat.pool", "192.0.2.1"),
       {"nat.pool = '192.0.2.1'", "on the outside subnet"}},
      {"pool prefix holding the outside address",
       add(cg, "nat.pool", "192.0.2.0/30"),
       {"nat.pool = '192.0.2.0/30'", "on the outside subnet"}},
      {"pool larger than a /16",
       set(cg, "nat.pool", "100.64.0.0/15"),
       {"nat.pool = '100.64.0.0/15'", "at most a /16"}},
      {"pool of more than 65536 addresses",
       add(set(cg, "nat.pool", "100.64.0.0/16"), "nat.pool", "100.65.0.0/31"),
       {"nat.pool", "more than 65536 addresses"}},
      {"pool multicast", set(cg, "nat.pool", "224.0.0.1"), {"nat.pool", "not a usable unicast"}},
      {"pool in 127/8", set(cg, "nat.pool", "127.0.0.0/30"), {"nat.pool", "not a usable unicast"}},
      {"pool in 0/8", set(cg, "nat.pool", "0.0.0.1"), {"nat.pool", "not a usable unicast"}},
      {"block-size leaves fewer blocks per address than workers",
       set(set(cg, "dataplane.workers", "8"), "nat.block-size", "16384"),
       {"nat.block-size = '16384'", "leaves 3 blocks per address, fewer than the 8 workers"}},
      {"block-size one more than leaves a block per worker",
       set(set(cg, "dataplane.workers", "4"), "nat.block-size", "16129"),
       {"nat.block-size = '16129'", "fewer than the 4 workers"}},
      {"block-size below 8",
       set(cg, "nat.block-size", "4"),
       {"nat.block-size = '4'", "between 8 and 64512"}},
      {"block-size beyond the ports above port-min",
       set(set(cg, "nat.port-min", "60000"), "nat.block-size", "6000"),
       {"nat.block-size = '6000'", "between 8 and 5536"}},
      {"port-min 0", set(cg, "nat.port-min", "0"), {"nat.port-min = '0'", "between 1 and 65535"}},
      {"max-blocks-per-client 0",
       set(cg, "nat.max-blocks-per-client", "0"),
       {"nat.max-blocks-per-client = '0'", "between 1 and 64"}},
      {"max-blocks-per-client 65",
       set(cg, "nat.max-blocks-per-client", "65"),
       {"nat.max-blocks-per-client = '65'", "between 1 and 64"}},
      {"hold-down beyond a day",
       set(cg, "nat.hold-down", "86401"),
       {"nat.hold-down = '86401'", "between 0 and 86400"}},
      {"filtering full-cone",
       set(cg, "nat.filtering", "full-cone"),
       {"nat.filtering = 'full-cone'", "must be one of address-dependent, endpoint-independent"}},
      {"exhausted-icmp maybe",
       set(cg, "nat.exhausted-icmp", "maybe"),
       {"nat.exhausted-icmp = 'maybe'", "must be one of yes, no"}},
      {"sessions below 1024",
       set(cg, "nat.sessions", "100"),
       {"nat.sessions = '100'", "between 1024"}},
      {"clients below 16", set(cg, "nat.clients", "8"), {"nat.clients = '8'", "between 16"}},
      {"udp-timeout 0",
       set(cg, "nat.udp-timeout", "0"),
       {"nat.udp-timeout = '0'", "between 1 and 604800"}},
      {"udp-timeout with a unit",
       set(cg, "nat.udp-timeout", "5m"),
       {"nat.udp-timeout = '5m'", "not a whole number"}},
      {"tcp-established-timeout beyond a week",
       set(cg, "nat.tcp-established-timeout", "604801"),
       {"nat.tcp-established-timeout = '604801'", "between 1 and 604800"}},
      {"icmp-timeout 0", set(cg, "nat.icmp-timeout", "0"), {"nat.icmp-timeout = '0'", "between 1"}},
      {"fragments not a power of 2",
       set(cg, "nat.fragments", "1000"),
       {"nat.fragments = '1000'", "power of 2"}},
      {"fragment-timeout-ms 10",
       set(cg, "nat.fragment-timeout-ms", "10"),
       {"nat.fragment-timeout-ms = '10'", "between 100 and 60000"}},
      {"handoff ring not a power of 2",
       set(cg, "dataplane.handoff-ring", "1000"),
       {"dataplane.handoff-ring = '1000'", "must be a power of 2"}},
      {"handoff ring too small",
       set(cg, "dataplane.handoff-ring", "32"),
       {"dataplane.handoff-ring = '32'", "between 64 and 1048576"}},
      {"policing rate with a unit",
       set(cg, "policing.cir", "8M"),
       {"policing.cir = '8M'", "not a whole number"}},
      {"policing rate below 8 kbit/s",
       set(cg, "policing.cir", "1000"),
       {"policing.cir = '1000'", "must be 8000 to"}},
      {"policing burst below the MTU",
       set(cg, "policing.cbs", "1000"),
       {"policing.cbs = '1000'", "below the MTU (1500)", "never conform"}},
      {"policing peak rate below the committed rate",
       set(set(cg, "policing.pir", "4000000"), "policing.pbs", "500000"),
       {"policing.cbs", "peak rate below committed rate"}},
      {"policing peak rate without a peak burst",
       set(cg, "policing.pir", "16000000"),
       {"policing.cbs", "peak burst must be at least the MTU"}},
      {"policing exceed action unknown",
       set(cg, "policing.exceed", "shape"),
       {"policing.exceed = 'shape'", "drop, transmit or dscp:N"}},
      {"policing remark DSCP above 63",
       set(cg, "policing.exceed", "dscp:64"),
       {"policing.exceed = 'dscp:64'", "DSCP must be a number from 0 to 63"}},
      {"policing match prefix with host bits",
       add(cg, "policing.match", "10.16.0.1/12"),
       {"policing.match = '10.16.0.1/12'", "host bits set"}},
      {"policing profile without settings",
       add(cg, "policing.profile", "staff 10.20.0.0/16"),
       {"policing.profile = 'staff 10.20.0.0/16'", "expected 'NAME PREFIX"}},
      {"policing profile named default",
       add(cg, "policing.profile", "default 10.20.0.0/16 off"),
       {"policing.profile", "not 'default'"}},
      {"policing profile without cbs",
       add(cg, "policing.profile", "staff 10.20.0.0/16 cir=20000000"),
       {"policing.profile", "cir= and cbs= are required"}},
      {"policing profile with an unknown setting",
       add(cg, "policing.profile", "staff 10.20.0.0/16 cir=20000000 cbs=625000 ebs=1"),
       {"policing.profile", "unknown setting 'ebs=1'"}},
      {"policing profile prefix in another profile",
       add(add(cg, "policing.profile", "staff 10.20.0.0/16 off"), "policing.profile",
           "lab 10.21.0.0/16,10.20.0.0/16 off"),
       {"policing.profile = 'lab", "10.20.0.0/16 is in another profile already"}},
      {"policing profile prefix that is the default's",
       add(cg, "policing.profile", "all 10.16.0.0/12 off"),
       {"policing.profile", "10.16.0.0/12 is in another profile already"}},
      {"policing profile name twice",
       add(add(cg, "policing.profile", "staff 10.20.0.0/16 off"), "policing.profile",
           "staff 10.21.0.0/16 off"),
       {"policing.profile", "profile name given twice"}},
      {"policing enabled maybe",
       set(cg, "policing.enabled", "maybe"),
       {"policing.enabled = 'maybe'", "must be one of yes, no"}},
      {"cores as a range",
       set(m, "eal.cores", "0-3"),
       {"eal.cores = '0-3'", "comma-separated list"}},
      {"prefix with a slash",
       set(m, "eal.prefix", "a/b"),
       {"eal.prefix = 'a/b'", "letters, digits"}},
      {"no LACPDUs at all",
       set(m, "control.slow-protocols-rate", "0"),
       {"control.slow-protocols-rate = '0'", "between 1 and 100000"}},
      {"a user that does not exist",
       set(m, "control.user", "no-such-sluice-user"),
       {"control.user = 'no-such-sluice-user'", "no such user"}},
      {"a group without a user",
       set(m, "control.group", "nogroup"),
       {"control.group = 'nogroup'", "needs control.user"}},
      {"a group that does not exist",
       set(set(m, "control.user", "nobody"), "control.group", "no-such-sluice-group"),
       {"control.group = 'no-such-sluice-group'", "no such group"}},
      {"a telemetry group that does not exist",
       set(m, "control.telemetry-group", "no-such-sluice-group"),
       {"control.telemetry-group = 'no-such-sluice-group'", "no such group"}},
      {"unknown key", add(m, "inside.colour", "red"), {"unrecognised option", "inside.colour"}},
  };
}

// Runs load and checks it throws a ConfigError whose message has every part.
template <typename Load>
void check_refused(Load load, const std::vector<std::string>& message) {
  bool threw = false;
  try {
    load();
  } catch (const ConfigError& e) {
    threw = true;
    const std::string what = e.what();
    for (const std::string& part : message)
      CHECK_THAT(what, Catch::Contains(part));
  }
  CHECK(threw);
}

TEST_CASE("config: bad input is refused naming the key and the reason", "[config]") {
  for (const BadCase& c : bad_cases()) {
    DYNAMIC_SECTION(c.description) {
      check_refused([&] { load(c.options); }, c.message);
    }
  }
}

TEST_CASE("config: the same errors from an INI file", "[config]") {
  // Keys that are not in a section cannot be written as INI; the rest are.
  for (const BadCase& c : bad_cases()) {
    DYNAMIC_SECTION(c.description) {
      TempFile file(as_ini(c.options));
      check_refused([&] { load_argv({"--config", file.path()}); }, c.message);
    }
  }
}

TEST_CASE("config: an unknown key in the file names the key", "[config]") {
  TempFile file(as_ini(minimal()) + "[arp]\nretry_ms = 100\n");
  try {
    load_argv({"-c", file.path()});
    FAIL("accepted an unknown key");
  } catch (const ConfigError& e) {
    CHECK_THAT(e.what(), Catch::Contains("arp.retry_ms"));
    CHECK_THAT(e.what(), Catch::Contains(file.path()));
  }
}

TEST_CASE("config: a file that cannot be read", "[config]") {
  CHECK_THROWS_WITH(
      load_argv({"-c", "/nonexistent/sluice.conf"}),
      Catch::Contains("/nonexistent/sluice.conf") && Catch::Contains("cannot open the file"));
}

TEST_CASE("config: the command line wins over the file", "[config]") {
  Options in_file = set(minimal(), "dataplane.workers", "2");
  in_file = set(in_file, "inside.mtu", "1400");
  in_file = set(in_file, "arp.queue", "7");
  TempFile file(as_ini(in_file));
  const Invocation inv =
      load_argv({"-c", file.path(), "--dataplane.workers=4", "--arp.queue", "9"});
  CHECK(inv.config.workers == 4);
  CHECK(inv.config.arp_queue == 9);
  CHECK(inv.config.inside.mtu == 1400);   // from the file
  CHECK(inv.config.outside.mtu == 1500);  // default
  // A bad value on the command line is reported even if the file's is fine.
  CHECK_THROWS_WITH(load_argv({"-c", file.path(), "--inside.mtu=20"}),
                    Catch::Contains("inside.mtu = '20'"));
}

TEST_CASE("config: --check-config, --help and --version", "[config]") {
  TempFile file(as_ini(minimal()));
  const Invocation check = load_argv({"--check-config", file.path()});
  CHECK(check.action == Action::check);
  CHECK(check.config_file == file.path());
  CHECK(check.config.workers == 1);
  CHECK(load_argv({"--help"}).action == Action::help);
  CHECK(load_argv({"-h"}).action == Action::help);
  CHECK(load_argv({"--version"}).action == Action::version);
  const std::string help = options_help();
  for (const char* key : {"eal.cores", "dataplane.punt-ring", "inside.clients", "routes.static",
                          "arp.queue", "control.arp-reply-rate"}) {
    CHECK_THAT(help, Catch::Contains(key));
  }
}

TEST_CASE("config: the reference configuration loads", "[config]") {
  const std::string path = std::string(SLUICE_SOURCE_ROOT) + "/pipelines/examples/reference.conf";
  if (access(path.c_str(), R_OK) != 0) {
    WARN("no " << path);
    return;
  }
  const Invocation inv = load_argv({"--check-config", path});
  CHECK(inv.config.workers == 3);
  CHECK(inv.config.cores == "0,2,4,6");  // the trailing comment is not part of the value
  CHECK(inv.config.routes.size() == 2);
  // Each side a 2x10G LACP aggregate with the old bond's settings.
  for (const InterfaceConfig* ic : {&inv.config.inside, &inv.config.outside}) {
    CHECK(ic->ports.size() == 2);
    CHECK(ic->lag.lacp);
    CHECK(ic->lag.fast);
    CHECK(ic->lag.hash == XmitHash::layer2_3);
    CHECK(ic->lag.down_delay_ms == 200);
    CHECK(ic->lag.up_delay_ms == 200);
  }
  CHECK(inv.config.inside.lag.key != inv.config.outside.lag.key);
}

TEST_CASE("config: format_ip and parse_ip", "[config]") {
  uint32_t a = 0;
  CHECK(parse_ip("192.0.2.1", &a));
  CHECK(a == 0xc0000201);
  CHECK(format_ip(a) == "192.0.2.1");
  CHECK(format_ip(0) == "0.0.0.0");
  CHECK(format_ip(0xffffffff) == "255.255.255.255");
  CHECK_FALSE(parse_ip("192.0.2", &a));
  CHECK_FALSE(parse_ip("192.0.2.1 ", &a));
  CHECK_FALSE(parse_ip("", &a));
}

// A device used twice is refused under the key where it is used again.
TEST_CASE("config: the user and groups of [control] are looked up", "[config]") {
  const Config root = load(minimal()).config;
  CHECK(root.user.empty());
  CHECK_FALSE(root.uid);
  CHECK_FALSE(root.telemetry_gid);
  CHECK_FALSE(load(set(minimal(), "control.user", "root")).config.uid);
  // Debian's nobody and nogroup: 65534.
  const Config c =
      load(set(set(minimal(), "control.user", "nobody"), "control.telemetry-group", "nogroup"))
          .config;
  CHECK(c.uid == 65534u);
  CHECK(c.gid == 65534u);
  CHECK(c.group == "nogroup");
  CHECK(c.telemetry_gid == 65534u);
  const Config g =
      load(set(set(minimal(), "control.user", "nobody"), "control.group", "root")).config;
  CHECK(g.gid == 0u);
  CHECK(g.group == "root");
}

TEST_CASE("config: a device used twice names the real key", "[config]") {
  CHECK_THROWS_WITH(load(set(minimal(), "outside.port", "net_ring0")),
                    Catch::Contains("outside.port"));
}

// Neighbours and gateways must be hosts: not the subnet's network or
// broadcast address (parse drops packets to those, ARP never resolves them).
TEST_CASE("config: network and broadcast addresses are not hosts", "[config]") {
  CHECK_THROWS_AS(load(add(minimal(), "inside.neighbour", "10.16.1.255 02:00:00:00:00:05")),
                  ConfigError);
  CHECK_THROWS_AS(load(add(minimal(), "inside.neighbour", "10.16.1.0 02:00:00:00:00:05")),
                  ConfigError);
  CHECK_THROWS_AS(load(set(minimal(), "routes.static", "0.0.0.0/0 via 192.0.2.255")), ConfigError);
}

// The command line wins over the file, for repeatable keys too: it replaces
// the file's values instead of adding to them.
TEST_CASE("config: a repeatable key on the command line replaces the file's", "[config]") {
  TempFile file(as_ini(minimal()));
  Invocation inv;
  CHECK_NOTHROW(inv = load_argv({"-c", file.path(), "--inside.port=net_tap0"}));
  CHECK(inv.config.inside.ports == std::vector<std::string>{"net_tap0"});
  CHECK_NOTHROW(load_argv({"-c", file.path(), "--routes.static=0.0.0.0/0 via 192.0.2.9"}));
}

TEST_CASE("config: the cgnat pipeline with the documented NAT defaults", "[config]") {
  TempFile file(as_ini(minimal_cgnat()));
  const Invocation inv = load_argv({"-c", file.path()});
  CHECK(inv.warnings.empty());
  const Config& c = inv.config;
  CHECK(c.pipeline == "cgnat");
  CHECK(c.handoff_ring == 1024);
  const NatConfig& n = c.nat;
  CHECK(n.pool == std::vector<uint32_t>{ip("198.51.100.0"), ip("198.51.100.1"), ip("198.51.100.2"),
                                        ip("198.51.100.3")});
  CHECK(n.port_min == 1024);
  CHECK(n.block_size == 128);
  CHECK(n.max_blocks == 8);
  CHECK(n.max_sessions == 4096);
  CHECK(n.hold_down == 120);
  CHECK_FALSE(n.endpoint_independent_filtering);  // address-dependent
  CHECK(n.sessions == 1048576);
  CHECK(n.clients == 65536);
  CHECK(n.udp_timeout == 300);
  CHECK(n.tcp_established_timeout == 7440);
  CHECK(n.tcp_transitory_timeout == 240);
  CHECK(n.icmp_timeout == 60);
  CHECK(n.exhausted_icmp);
  CHECK(n.fragments == 1024);
  CHECK(n.fragments_held == 256);
  CHECK(n.fragment_timeout_ms == 2000);
}

TEST_CASE("config: policing defaults to 8 Mbit/s for every client prefix", "[config]") {
  const Invocation inv = load(minimal_cgnat());
  const PolicingConfig& p = inv.config.policing;
  CHECK(p.enabled);
  REQUIRE(p.profiles.size() == 1);
  const PolicerSpec& d = p.profiles[0];
  CHECK(d.name == "default");
  CHECK(d.policed);
  CHECK(d.cir == 8'000'000);
  CHECK(d.cbs == 250'000);
  CHECK(d.pir == 0);
  CHECK(d.pbs == 0);
  CHECK(d.exceed.action == PolicerAction::drop);
  REQUIRE(d.prefixes.size() == inv.config.clients.size());
  CHECK(d.prefixes[0].network == inv.config.clients[0].network);
  CHECK(d.prefixes[0].len == inv.config.clients[0].len);
}

TEST_CASE("config: policing profiles by prefix, from an INI file", "[config]") {
  Options o = minimal_cgnat();
  o = set(o, "policing.match", "10.16.0.0/13");
  o = set(o, "policing.exceed", "dscp:10");
  o = add(o, "policing.profile", "staff 10.24.0.0/16,10.25.0.0/16 cir=20000000 cbs=625000");
  o = add(o, "policing.profile",
          "lab 10.26.0.0/16 cir=8000000 cbs=250000 pir=16000000 pbs=500000 exceed=transmit "
          "violate=dscp:8");
  o = add(o, "policing.profile", "servers 10.27.0.0/24 off");
  o = add(o, "policing.profile", "elsewhere 172.16.0.0/12 off");
  TempFile file(as_ini(o));
  const Invocation inv = load_argv({"-c", file.path()});
  REQUIRE(inv.warnings.size() == 1);
  CHECK_THAT(inv.warnings[0], Catch::Contains("172.16.0.0/12 is not within inside.clients"));
  const auto& ps = inv.config.policing.profiles;
  REQUIRE(ps.size() == 5);
  CHECK(ps[0].prefixes.size() == 1);
  CHECK(ps[0].prefixes[0].len == 13);
  CHECK(ps[0].exceed.action == PolicerAction::remark);
  CHECK(ps[0].exceed.dscp == 10);
  CHECK(ps[1].name == "staff");
  CHECK(ps[1].cir == 20'000'000);
  CHECK(ps[1].cbs == 625'000);
  CHECK(ps[1].prefixes.size() == 2);
  CHECK(ps[2].pir == 16'000'000);
  CHECK(ps[2].pbs == 500'000);
  CHECK(ps[2].exceed.action == PolicerAction::transmit);
  CHECK(ps[2].violate.action == PolicerAction::remark);
  CHECK(ps[2].violate.dscp == 8);
  CHECK_FALSE(ps[3].policed);
  CHECK(ps[3].prefixes[0].network == ip("10.27.0.0"));
}

TEST_CASE("config: the forward pipeline needs no pool", "[config]") {
  const Invocation inv = load(minimal());
  CHECK(inv.config.pipeline == "forward");
  CHECK(inv.config.nat.pool.empty());
  CHECK(inv.warnings.empty());
}

TEST_CASE("config: nat.pool takes prefixes and single addresses, repeated", "[config]") {
  Options o = set(minimal_cgnat(), "nat.pool", "203.0.113.9");
  o = add(o, "nat.pool", "198.51.100.4/31");
  o = add(o, "nat.pool", "203.0.113.7/32");
  o = add(o, "nat.pool", "198.51.100.64/30");
  const Config c = load(o).config;
  // In address order, each once.
  CHECK(c.nat.pool == std::vector<uint32_t>{ip("198.51.100.4"), ip("198.51.100.5"),
                                            ip("198.51.100.64"), ip("198.51.100.65"),
                                            ip("198.51.100.66"), ip("198.51.100.67"),
                                            ip("203.0.113.7"), ip("203.0.113.9")});
  SECTION("a whole /16") {
    CHECK(load(set(o, "nat.pool", "100.64.0.0/16")).config.nat.pool.size() == 65536);
  }
  SECTION("from an INI file, one per line") {
    TempFile file(as_ini(o));
    CHECK(load_argv({"-c", file.path()}).config.nat.pool == c.nat.pool);
  }
}

TEST_CASE("config: every NAT option set, from an INI file", "[config]") {
  Options o = minimal_cgnat();
  o = set(o, "dataplane.workers", "4");
  o = set(o, "dataplane.handoff-ring", "4096");
  o = set(o, "nat.port-min", "2048");
  o = set(o, "nat.block-size", "256");
  o = set(o, "nat.max-blocks-per-client", "64");
  o = set(o, "nat.hold-down", "300");
  o = set(o, "nat.filtering", "endpoint-independent");
  o = set(o, "nat.sessions", "4128768");
  o = set(o, "nat.clients", "16");
  o = set(o, "nat.udp-timeout", "600");
  o = set(o, "nat.tcp-established-timeout", "86400");
  o = set(o, "nat.tcp-transitory-timeout", "300");
  o = set(o, "nat.icmp-timeout", "120");
  o = set(o, "nat.exhausted-icmp", "no");
  o = set(o, "nat.fragments", "16");
  o = set(o, "nat.fragments-held", "0");
  o = set(o, "nat.fragment-timeout-ms", "60000");
  TempFile file(as_ini(o));
  const Invocation inv = load_argv({"-c", file.path()});
  CHECK(inv.warnings.empty());
  const Config& c = inv.config;
  CHECK(c.workers == 4);
  CHECK(c.handoff_ring == 4096);
  const NatConfig& n = c.nat;
  CHECK(n.port_min == 2048);
  CHECK(n.block_size == 256);
  CHECK(n.max_blocks == 64);
  CHECK(n.hold_down == 300);
  CHECK(n.endpoint_independent_filtering);
  CHECK(n.sessions == 4128768);
  CHECK(n.clients == 16);
  CHECK(n.udp_timeout == 600);
  CHECK(n.tcp_established_timeout == 86400);
  CHECK(n.tcp_transitory_timeout == 300);
  CHECK(n.icmp_timeout == 120);
  CHECK_FALSE(n.exhausted_icmp);
  CHECK(n.fragments == 16);
  CHECK(n.fragments_held == 0);
  CHECK(n.fragment_timeout_ms == 60000);
}

// The RFC minimums are advice the operator may overrule (the old campus
// profile did): accepted, and the warning says which key and why.
TEST_CASE("config: NAT timeouts below the RFC minimums are accepted with a warning", "[config]") {
  struct Case {
    const char* key;
    const char* value;
    unsigned NatConfig::*field;
    const char* rfc;
  };
  const std::vector<Case> cases = {
      {"nat.udp-timeout", "30", &NatConfig::udp_timeout, "RFC 4787"},
      {"nat.udp-timeout", "119", &NatConfig::udp_timeout, "RFC 4787"},
      {"nat.tcp-established-timeout", "1200", &NatConfig::tcp_established_timeout, "RFC 5382"},
      {"nat.tcp-transitory-timeout", "60", &NatConfig::tcp_transitory_timeout, "RFC 5382"},
      {"nat.icmp-timeout", "10", &NatConfig::icmp_timeout, "RFC 5508"},
      {"nat.icmp-timeout", "1", &NatConfig::icmp_timeout, "RFC 5508"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.key << " = " << c.value) {
      const Invocation inv = load(set(minimal_cgnat(), c.key, c.value));
      CHECK(std::to_string(inv.config.nat.*c.field) == c.value);
      REQUIRE(inv.warnings.size() == 1);
      CHECK_THAT(inv.warnings[0], Catch::Contains(std::string(c.key) + " = " + c.value));
      CHECK_THAT(inv.warnings[0], Catch::Contains(c.rfc));
    }
  }
}

TEST_CASE("config: NAT timeouts at the RFC minimums need no warning", "[config]") {
  Options o = set(minimal_cgnat(), "nat.udp-timeout", "120");
  o = set(o, "nat.tcp-established-timeout", "7440");
  o = set(o, "nat.tcp-transitory-timeout", "240");
  o = set(o, "nat.icmp-timeout", "60");
  o = set(o, "nat.hold-down", "120");
  CHECK(load(o).warnings.empty());
}

TEST_CASE("config: the old campus profile loads, warned about twice", "[config]") {
  Options o = set(minimal_cgnat(), "nat.udp-timeout", "30");
  o = set(o, "nat.tcp-established-timeout", "1200");
  SECTION("command line") {
    const Invocation inv = load(o);
    REQUIRE(inv.warnings.size() == 2);
    CHECK_THAT(inv.warnings[0], Catch::Contains("nat.udp-timeout = 30"));
    CHECK_THAT(inv.warnings[1], Catch::Contains("nat.tcp-established-timeout = 1200"));
    CHECK(inv.config.nat.udp_timeout == 30);
    CHECK(inv.config.nat.tcp_established_timeout == 1200);
  }
  SECTION("pipelines/examples/campus-legacy.conf") {
    const std::string path =
        std::string(SLUICE_SOURCE_ROOT) + "/pipelines/examples/campus-legacy.conf";
    if (access(path.c_str(), R_OK) != 0) {
      WARN("no " << path);
      return;
    }
    const Invocation inv = load_argv({"--check-config", path});
    CHECK(inv.config.pipeline == "cgnat");
    CHECK(inv.config.nat.pool.size() == 64);
    CHECK(inv.config.nat.udp_timeout == 30);
    CHECK(inv.config.nat.tcp_established_timeout == 1200);
    REQUIRE(inv.warnings.size() == 2);
    CHECK_THAT(inv.warnings[0], Catch::Contains("nat.udp-timeout"));
    CHECK_THAT(inv.warnings[1], Catch::Contains("nat.tcp-established-timeout"));
  }
}

TEST_CASE("config: the reference configuration is a cgnat one with RFC defaults", "[config]") {
  const std::string path = std::string(SLUICE_SOURCE_ROOT) + "/pipelines/examples/reference.conf";
  if (access(path.c_str(), R_OK) != 0) {
    WARN("no " << path);
    return;
  }
  const Invocation inv = load_argv({"--check-config", path});
  CHECK(inv.warnings.empty());
  CHECK(inv.config.pipeline == "cgnat");
  CHECK(inv.config.nat.pool.size() == 64);
  CHECK(inv.config.nat.pool.front() == ip("198.51.100.0"));
  CHECK(inv.config.nat.block_size == 128);
  CHECK(inv.config.nat.udp_timeout == 300);
}

TEST_CASE("config: a port block hold-down below 120 s is accepted with a warning", "[config]") {
  for (const char* v : {"0", "60", "119"}) {
    DYNAMIC_SECTION("nat.hold-down = " << v) {
      const Invocation inv = load(set(minimal_cgnat(), "nat.hold-down", v));
      CHECK(std::to_string(inv.config.nat.hold_down) == v);
      REQUIRE(inv.warnings.size() == 1);
      CHECK_THAT(inv.warnings[0], Catch::Contains(std::string("nat.hold-down = ") + v));
      CHECK_THAT(inv.warnings[0], Catch::Contains("RFC 6888"));
    }
  }
}

TEST_CASE("config: nat.port-min below 1024 is accepted with a warning", "[config]") {
  const Invocation inv = load(set(minimal_cgnat(), "nat.port-min", "1"));
  CHECK(inv.config.nat.port_min == 1);
  REQUIRE(inv.warnings.size() == 1);
  CHECK_THAT(inv.warnings[0], Catch::Contains("nat.port-min = 1"));
}

TEST_CASE("config: block-size may leave exactly one block per worker", "[config]") {
  // (65536 - 1024) / 16128 = 4 blocks of every address, one for each worker.
  Options o = set(minimal_cgnat(), "dataplane.workers", "4");
  o = set(o, "nat.block-size", "16128");
  CHECK(load(o).config.nat.block_size == 16128);
  // The largest block there is: one block of every address, one worker.
  o = set(set(o, "dataplane.workers", "1"), "nat.block-size", "64512");
  CHECK(load(o).config.nat.block_size == 64512);
}

TEST_CASE("config: --help lists the NAT options", "[config]") {
  const std::string help = options_help();
  for (const char* key :
       {"dataplane.handoff-ring", "nat.pool", "nat.port-min", "nat.block-size",
        "nat.max-blocks-per-client", "nat.hold-down", "nat.filtering", "nat.sessions",
        "nat.clients", "nat.udp-timeout", "nat.tcp-established-timeout",
        "nat.tcp-transitory-timeout", "nat.icmp-timeout", "nat.exhausted-icmp", "nat.fragments",
        "nat.fragments-held", "nat.fragment-timeout-ms"}) {
    CHECK_THAT(help, Catch::Contains(key));
  }
}

// A pool address on the outside subnet is one the backbone router would ARP
// for (sluice answers ARP for outside.address alone); one in inside.clients
// would also be a client's address.
TEST_CASE("config: nat.pool may not overlap the outside subnet or the client prefixes",
          "[config]") {
  SECTION("outside subnet") {
    check_refused([] { load(set(minimal_cgnat(), "nat.pool", "192.0.2.128/30")); },
                  {"nat.pool = '192.0.2.128/30'", "on the outside subnet"});
  }
  SECTION("the gateway's address") {
    check_refused([] { load(set(minimal_cgnat(), "nat.pool", "192.0.2.2")); },
                  {"nat.pool = '192.0.2.2'", "on the outside subnet"});
  }
  SECTION("client prefixes") {
    check_refused([] { load(set(minimal_cgnat(), "nat.pool", "10.20.0.0/30")); },
                  {"nat.pool = '10.20.0.0/30'", "overlaps the client prefixes"});
  }
}

TEST_CASE("config: [export], defaults, values and refusals", "[config][export]") {
  const ExportConfig d = load(minimal_cgnat()).config.exporting;
  CHECK_FALSE(d.enabled());
  CHECK(d.observation_domain == 1);
  CHECK(d.template_refresh == 60);
  CHECK(d.mtu == 1500);
  CHECK(d.active_timeout == 60);
  CHECK(d.flows);
  CHECK_FALSE(d.destinations);
  CHECK_FALSE(d.accountability);
  CHECK(d.ring == 262144);
  CHECK(d.refusal_rate == 100);
  CHECK(d.log_sessions);
  CHECK(d.log_blocks);

  Options o = add(minimal_cgnat(), "export.collector", "192.0.2.50:4739");
  o = add(o, "export.collector", "127.0.0.1:9995");
  o = add(o, "export.log", "/var/log/sluice/nat.log");
  o = add(o, "export.log-events", "blocks");
  o = add(o, "export.accountability", "yes");
  o = add(o, "export.destinations", "yes");
  o = add(o, "export.refusal-rate", "0");
  const ExportConfig e = load(o).config.exporting;
  REQUIRE(e.collectors.size() == 2);
  CHECK(e.collectors[0].ip == ip("192.0.2.50"));
  CHECK(e.collectors[0].port == 4739);
  CHECK(e.collectors[1].port == 9995);
  CHECK(e.log == "/var/log/sluice/nat.log");
  CHECK_FALSE(e.log_sessions);
  CHECK(e.log_blocks);
  CHECK(e.accountability);
  CHECK(e.destinations);
  CHECK(e.refusal_rate == 0);

  const Options cg = minimal_cgnat();
  check_refused([&] { load(add(cg, "export.collector", "192.0.2.50")); },
                {"export.collector", "192.0.2.50", "IP:PORT"});
  check_refused([&] { load(add(cg, "export.collector", "192.0.2.50:0")); },
                {"export.collector", "port must be 1 to 65535"});
  check_refused([&] { load(add(cg, "export.accountability", "yes")); },
                {"export.accountability", "export.collector or export.log"});
  check_refused([&] { load(add(cg, "export.ring", "3000")); }, {"export.ring", "power of 2"});
  check_refused([&] { load(add(cg, "export.mtu", "100")); }, {"export.mtu", "576"});
  check_refused([&] { load(add(cg, "export.refusal-rate", "2000000")); },
                {"export.refusal-rate", "2000000", "1000000"});
  check_refused([&] { load(add(cg, "export.log-events", "none")); },
                {"export.log-events", "all, sessions, blocks"});
  CHECK(load(add(minimal(), "export.log", "/tmp/x")).warnings.size() == 1);
}

}  // namespace
}  // namespace sluice::test
