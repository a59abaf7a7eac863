#include "eal.h"

#include <sched.h>

#include <fmt/format.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace sluice {

std::string device_name(const std::string& spec) {
  return spec.substr(0, spec.find(','));
}

namespace {

bool is_vdev(const std::string& spec) {
  return spec.rfind("net_", 0) == 0;
}

std::string with_queue_pairs(const std::string& spec, unsigned pairs) {
  if (spec.rfind("net_af_packet", 0) != 0 || spec.find("qpairs=") != std::string::npos) {
    return spec;
  }
  return fmt::format("{},qpairs={}", spec, pairs);
}

}  // namespace

EalPlan plan_eal(const Config& c, const std::vector<unsigned>& cpus, unsigned free_huge) {
  EalPlan plan;
  auto& a = plan.args;
  a.push_back("sluice");

  const unsigned lcores = c.workers + 1;
  std::vector<unsigned> pin;
  if (c.cores == "auto") {
    for (unsigned i = 0; i < lcores; i++)
      pin.push_back(cpus.empty() ? 0 : cpus[i % cpus.size()]);
    if (cpus.size() < lcores) {
      plan.warnings.push_back(fmt::format(
          "eal.cores: {} lcores (control + {} workers) on {} CPU(s): workers share CPUs and "
          "throughput suffers",
          lcores, c.workers, cpus.size()));
    }
  } else {
    std::stringstream in(c.cores);
    for (std::string item; std::getline(in, item, ',');) {
      unsigned cpu = 0;
      const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), cpu);
      if (item.empty() || ec != std::errc() || end != item.data() + item.size() || cpu >= 4096) {
        throw ConfigError("eal.cores", c.cores, "CPU numbers are whole numbers below 4096");
      }
      pin.push_back(cpu);
    }
    if (pin.size() != lcores) {
      throw ConfigError("eal.cores", c.cores,
                        fmt::format("lists {} CPU(s); control + {} workers need exactly {}",
                                    pin.size(), c.workers, lcores));
    }
  }
  std::string map;
  for (unsigned i = 0; i < lcores; i++)
    map += fmt::format("{}{}@{}", i ? "," : "", i, pin[i]);
  a.insert(a.end(), {"--lcores", map, "--main-lcore", "0"});

  const bool huge = c.hugepages == "yes" || (c.hugepages == "auto" && free_huge > 0);
  if (huge) {
    a.insert(a.end(), {"--in-memory", "-m", std::to_string(c.memory_mb)});
  } else {
    // --in-memory is refused with --no-huge in 22.11; --no-shconf keeps no
    // shared files either.
    a.insert(a.end(), {"--no-huge", "--no-shconf", "-m", std::to_string(c.memory_mb)});
  }
  a.insert(a.end(), {"--file-prefix", c.prefix});

  bool pci = false;
  for (const auto* ifc : {&c.inside, &c.outside}) {
    for (const std::string& p : ifc->ports) {
      if (is_vdev(p)) {
        a.insert(a.end(), {"--vdev", with_queue_pairs(p, c.workers + 1)});
      } else {
        a.insert(a.end(), {"-a", p});
        pci = true;
      }
    }
  }
  if (!pci) a.push_back("--no-pci");
  a.push_back("--log-level=" + c.log_level);
  a.insert(a.end(), c.eal_args.begin(), c.eal_args.end());
  return plan;
}

std::vector<unsigned> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<unsigned> cpus;
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return cpus;
  for (unsigned i = 0; i < CPU_SETSIZE; i++) {
    if (CPU_ISSET(i, &set)) cpus.push_back(i);
  }
  return cpus;
}

unsigned free_hugepages() {
  std::ifstream in("/proc/meminfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("HugePages_Free:", 0) == 0) return std::stoul(line.substr(15));
  }
  return 0;
}

}  // namespace sluice
