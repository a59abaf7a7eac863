// The EAL command line sluice builds from its configuration: lcores pinned
// to CPUs (control first), memory (hugepages when there are free ones,
// ordinary memory otherwise), one device argument per member port, and the
// runtime prefix that locates the telemetry socket.
#pragma once

#include <string>
#include <vector>

#include "config.h"

namespace sluice {

struct EalPlan {
  std::vector<std::string> args;  // args[0] is the program name
  std::vector<std::string> warnings;
};

// cpus: the CPUs this process may run on; free_hugepages from /proc/meminfo.
EalPlan plan_eal(const Config& c, const std::vector<unsigned>& cpus, unsigned free_hugepages);

// The device name DPDK gives a port spec: the PCI address or the vdev name.
std::string device_name(const std::string& spec);

std::vector<unsigned> allowed_cpus();
unsigned free_hugepages();

}  // namespace sluice
