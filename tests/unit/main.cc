// The unit test runner: EAL first (no hugepages, no shared files, no PCI, two
// net_ring vdevs), one mbuf pool for every test, then Catch2.
#define CATCH_CONFIG_RUNNER
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <unistd.h>

#include <fmt/format.h>
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "packet.h"
#include "port.h"
#include "support.h"

namespace sluice::test {

namespace {
rte_mempool* g_pool = nullptr;
}

rte_mempool* pool() {
  return g_pool;
}

}  // namespace sluice::test

namespace {

// One RX queue and two TX queues (worker 0, control), as for one worker.
bool start_ring_port(const char* name, uint16_t* id) {
  if (!sluice::port_by_name(name, id)) {
    fmt::print(stderr, "unit_tests: EAL did not create {}\n", name);
    return false;
  }
  sluice::PortSetup setup;
  setup.workers = 1;
  setup.rx_desc = 64;
  setup.tx_desc = 64;
  setup.pool = sluice::test::pool();
  sluice::PortInfo info;
  std::string error;
  if (!sluice::port_start(*id, setup, &info, &error)) {
    fmt::print(stderr, "unit_tests: {}\n", error);
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> eal = {"unit_tests",
                                  "--no-huge",
                                  "--no-shconf",
                                  "-m",
                                  "512",
                                  "--no-pci",
                                  "-l",
                                  "0",
                                  "--file-prefix",
                                  fmt::format("sluice-unit-{}", getpid()),
                                  "--log-level=error",
                                  "--no-telemetry",
                                  "--vdev",
                                  "net_ring0",
                                  "--vdev",
                                  "net_ring1"};
  std::vector<char*> eal_argv;
  for (std::string& a : eal)
    eal_argv.push_back(a.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    fmt::print(stderr, "unit_tests: rte_eal_init failed: {}\n", rte_strerror(rte_errno));
    return 1;
  }

  sluice::test::g_pool = rte_pktmbuf_pool_create("unit_mbufs", 4095, 0, sluice::kMbufPrivSize,
                                                 RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  if (sluice::test::g_pool == nullptr) {
    fmt::print(stderr, "unit_tests: cannot create the mbuf pool: {}\n", rte_strerror(rte_errno));
    rte_eal_cleanup();
    return 1;
  }
  uint16_t ports[2];
  if (!start_ring_port("net_ring0", &ports[0]) || !start_ring_port("net_ring1", &ports[1])) {
    rte_eal_cleanup();
    return 1;
  }

  const int failed = Catch::Session().run(argc, argv);

  for (uint16_t p : ports)
    sluice::port_stop(p);
  rte_mempool_free(sluice::test::g_pool);
  // EAL leaves its (empty, with --no-shconf) runtime directory behind.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  rmdir(runtime_dir.c_str());
  return failed;
}
