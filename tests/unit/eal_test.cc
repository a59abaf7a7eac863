// The EAL command line sluice builds (control/eal.h plan_eal): memory with
// and without hugepages, devices, and lcores pinned to CPUs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "config.h"
#include "eal.h"

namespace sluice::test {
namespace {

using Args = std::vector<std::string>;

bool has(const Args& a, const std::string& s) {
  return std::find(a.begin(), a.end(), s) != a.end();
}

// Every value given after `option` (options may repeat: --vdev, -a).
Args values(const Args& a, const std::string& option) {
  Args out;
  for (size_t i = 0; i + 1 < a.size(); i++) {
    if (a[i] == option) out.push_back(a[i + 1]);
  }
  return out;
}

std::string value(const Args& a, const std::string& option) {
  const Args v = values(a, option);
  REQUIRE(v.size() == 1);
  return v[0];
}

Config base() {
  Config c;
  c.inside.ports = {"net_ring0"};
  c.outside.ports = {"net_ring1"};
  return c;
}

TEST_CASE("plan_eal: no free hugepages means --no-huge and --no-shconf", "[eal]") {
  const EalPlan p = plan_eal(base(), {0, 1}, 0);
  CHECK(p.args[0] == "sluice");
  CHECK(has(p.args, "--no-huge"));
  CHECK(has(p.args, "--no-shconf"));
  CHECK_FALSE(has(p.args, "--in-memory"));  // refused with --no-huge by DPDK 22.11
  CHECK(value(p.args, "-m") == "1024");
  CHECK(value(p.args, "--file-prefix") == "sluice");
}

TEST_CASE("plan_eal: free hugepages mean --in-memory on hugepages", "[eal]") {
  Config c = base();
  c.memory_mb = 2048;
  c.prefix = "edge1";
  const EalPlan p = plan_eal(c, {0, 1}, 512);
  CHECK(has(p.args, "--in-memory"));
  CHECK_FALSE(has(p.args, "--no-huge"));
  CHECK_FALSE(has(p.args, "--no-shconf"));
  CHECK(value(p.args, "-m") == "2048");
  CHECK(value(p.args, "--file-prefix") == "edge1");
}

TEST_CASE("plan_eal: eal.hugepages yes and no override what is free", "[eal]") {
  Config c = base();
  c.hugepages = "yes";
  CHECK(has(plan_eal(c, {0, 1}, 0).args, "--in-memory"));
  c.hugepages = "no";
  const EalPlan p = plan_eal(c, {0, 1}, 1000);
  CHECK(has(p.args, "--no-huge"));
  CHECK_FALSE(has(p.args, "--in-memory"));
}

TEST_CASE("plan_eal: vdevs only means --no-pci; PCI ports are allowed with -a", "[eal]") {
  SECTION("all vdevs") {
    const EalPlan p = plan_eal(base(), {0, 1}, 0);
    CHECK(has(p.args, "--no-pci"));
    CHECK(values(p.args, "-a").empty());
    CHECK(values(p.args, "--vdev") == Args{"net_ring0", "net_ring1"});
  }
  SECTION("PCI on the inside, two on the outside") {
    Config c = base();
    c.inside.ports = {"0000:03:00.0"};
    c.outside.ports = {"0000:04:00.0", "04:00.1"};
    const EalPlan p = plan_eal(c, {0, 1}, 0);
    CHECK_FALSE(has(p.args, "--no-pci"));
    CHECK(values(p.args, "-a") == Args{"0000:03:00.0", "0000:04:00.0", "04:00.1"});
    CHECK(values(p.args, "--vdev").empty());
  }
  SECTION("a mix") {
    Config c = base();
    c.outside.ports = {"0000:04:00.0"};
    const EalPlan p = plan_eal(c, {0, 1}, 0);
    CHECK_FALSE(has(p.args, "--no-pci"));
    CHECK(values(p.args, "--vdev") == Args{"net_ring0"});
    CHECK(values(p.args, "-a") == Args{"0000:04:00.0"});
  }
}

TEST_CASE("plan_eal: af_packet vdevs get one queue pair per worker plus control", "[eal]") {
  Config c = base();
  c.workers = 2;
  c.inside.ports = {"net_af_packet0,iface=veth0"};
  c.outside.ports = {"net_af_packet1,iface=veth1,qpairs=1", "net_tap0,iface=tap0"};
  const EalPlan p = plan_eal(c, {0, 1, 2}, 0);
  CHECK(values(p.args, "--vdev") == Args{"net_af_packet0,iface=veth0,qpairs=3",
                                         "net_af_packet1,iface=veth1,qpairs=1",  // as given
                                         "net_tap0,iface=tap0"});
}

TEST_CASE("plan_eal: lcores pinned to CPUs, control first", "[eal]") {
  SECTION("auto, enough CPUs") {
    Config c = base();
    c.workers = 2;
    const EalPlan p = plan_eal(c, {4, 6, 8, 10}, 0);
    CHECK(value(p.args, "--lcores") == "0@4,1@6,2@8");
    CHECK(value(p.args, "--main-lcore") == "0");
    CHECK(p.warnings.empty());
  }
  SECTION("auto, fewer CPUs than lcores: shared in turn, with a warning") {
    Config c = base();
    c.workers = 3;
    const EalPlan p = plan_eal(c, {0, 1}, 0);
    CHECK(value(p.args, "--lcores") == "0@0,1@1,2@0,3@1");
    REQUIRE(p.warnings.size() == 1);
    CHECK_THAT(p.warnings[0], Catch::Contains("eal.cores") && Catch::Contains("4 lcores") &&
                                  Catch::Contains("2 CPU(s)"));
  }
  SECTION("auto, no CPU list at all") {
    const EalPlan p = plan_eal(base(), {}, 0);
    CHECK(value(p.args, "--lcores") == "0@0,1@0");
    CHECK(p.warnings.size() == 1);
  }
  SECTION("explicit list") {
    Config c = base();
    c.workers = 3;
    c.cores = "0,2,4,6";
    const EalPlan p = plan_eal(c, {0}, 0);
    CHECK(value(p.args, "--lcores") == "0@0,1@2,2@4,3@6");
    CHECK(p.warnings.empty());
  }
}

TEST_CASE("plan_eal: an explicit list of the wrong length is a ConfigError", "[eal]") {
  Config c = base();
  c.workers = 2;
  c.cores = "2,4";
  CHECK_THROWS_AS(plan_eal(c, {0, 1, 2, 3, 4}, 0), ConfigError);
  CHECK_THROWS_WITH(plan_eal(c, {0, 1, 2, 3, 4}, 0),
                    Catch::Contains("eal.cores = '2,4'") && Catch::Contains("need exactly 3"));
  c.cores = "1,2,3,4";
  CHECK_THROWS_AS(plan_eal(c, {0, 1, 2, 3, 4}, 0), ConfigError);
}

TEST_CASE("plan_eal: log level and extra arguments come last", "[eal]") {
  Config c = base();
  c.log_level = "debug";
  c.eal_args = {"--no-telemetry", "--iova-mode=va"};
  const EalPlan p = plan_eal(c, {0, 1}, 0);
  REQUIRE(p.args.size() >= 3);
  const size_t n = p.args.size();
  CHECK(p.args[n - 3] == "--log-level=debug");
  CHECK(p.args[n - 2] == "--no-telemetry");
  CHECK(p.args[n - 1] == "--iova-mode=va");
}

TEST_CASE("device_name: what DPDK calls a port spec", "[eal]") {
  CHECK(device_name("0000:03:00.0") == "0000:03:00.0");
  CHECK(device_name("net_af_packet0,iface=veth0,qpairs=3") == "net_af_packet0");
  CHECK(device_name("net_ring0") == "net_ring0");
}

// A CPU number that does not fit is a configuration error naming eal.cores.
TEST_CASE("plan_eal: an absurd CPU number is a ConfigError naming eal.cores", "[eal]") {
  Config c = base();
  c.cores = "0,99999999999999999999999";
  CHECK_THROWS_WITH(plan_eal(c, {0, 1}, 0), Catch::Contains("eal.cores"));
}

}  // namespace
}  // namespace sluice::test
