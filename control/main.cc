// sluice: the daemon. Reads and validates the configuration (exiting 2 on an
// error, before anything starts), brings up DPDK and the ports, runs until
// SIGINT or SIGTERM, and exits 0 after a clean stop.
#include <rte_eal.h>

#include <fmt/format.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <vector>

#include "config.h"
#include "daemon.h"
#include "eal.h"
#include "exporter.h"
#include "privileges.h"
#include "telemetry.h"

namespace {

std::atomic<bool> g_running{true};

void on_signal(int) {
  g_running.store(false, std::memory_order_relaxed);
}

// logrotate: the exporter reopens the NAT log.
void on_hangup(int) {
  sluice::Exporter::request_reopen();
}

// True when a process already answers on this prefix's telemetry socket:
// a second sluice would start, but every tool would keep talking to the first.
bool prefix_in_use(const std::string& prefix) {
  const std::string path = "/var/run/dpdk/" + prefix + "/dpdk_telemetry.v2";
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return false;
  path.copy(addr.sun_path, path.size());
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  if (fd < 0) return false;
  const bool answered = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return answered;
}

constexpr const char* kUsage =
    "Usage: sluice -c FILE [--section.key=value ...]\n"
    "       sluice --check-config FILE\n"
    "       sluice --help\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace sluice;
  if (argc < 2) {
    fmt::print(stderr, "{}", kUsage);
    return 2;
  }
  Invocation inv;
  EalPlan plan;
  try {
    inv = load_config(argc, argv);
    if (inv.action == Action::help) {
      fmt::print("{}\n{}", kUsage, options_help());
      return 0;
    }
    if (inv.action == Action::version) {
      fmt::print("sluice {}\n", SLUICE_VERSION);
      return 0;
    }
    plan = plan_eal(inv.config, allowed_cpus(), free_hugepages());
  } catch (const std::exception& e) {
    fmt::print(stderr, "sluice: configuration error: {}\n", e.what());
    return 2;
  }
  for (const auto& w : inv.warnings)
    fmt::print(stderr, "sluice: warning: {}\n", w);
  for (const auto& w : plan.warnings)
    fmt::print(stderr, "sluice: warning: {}\n", w);
  if (inv.action == Action::check) {
    fmt::print("sluice: {}: configuration is valid\n", inv.config_file);
    return 0;
  }

  if (prefix_in_use(inv.config.prefix)) {
    fmt::print(stderr,
               "sluice: eal.prefix = '{}': another DPDK process already runs with this prefix "
               "(its telemetry socket answers); stop it or choose another prefix\n",
               inv.config.prefix);
    return 1;
  }
  std::vector<char*> args;
  for (auto& a : plan.args)
    args.push_back(a.data());
  if (rte_eal_init(static_cast<int>(args.size()), args.data()) < 0) {
    fmt::print(stderr, "sluice: DPDK EAL failed to start: {}\n", rte_strerror(rte_errno));
    return 1;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGHUP, on_hangup);

  int rc = 0;
  {
    Daemon daemon(inv.config);
    try {
      daemon.setup();
      register_telemetry(daemon);
      register_export_telemetry(daemon.exporter());
      // Nothing from here on needs root: what did is open (ports, sockets,
      // the NAT log), and the threads started after this inherit the drop.
      const Config& c = inv.config;
      if (c.uid || c.telemetry_gid) {
        open_telemetry(rte_eal_get_runtime_dir(), c.uid.value_or(0), c.uid ? c.gid : 0,
                       c.telemetry_gid);
      }
      fmt::print("{}\n",
                 drop_privileges({c.uid, c.gid, c.user, c.uid ? c.group : std::string("root")}));
      fmt::print("sluice: running, {} worker(s), pipeline {}, telemetry under /var/run/dpdk/{}\n",
                 inv.config.workers, inv.config.pipeline, inv.config.prefix);
      std::fflush(stdout);
      daemon.run(g_running);
      daemon.print_summary();
    } catch (const std::exception& e) {
      fmt::print(stderr, "sluice: {}\n", e.what());
      rc = 1;
    }
  }
  rte_eal_cleanup();
  return rc;
}
