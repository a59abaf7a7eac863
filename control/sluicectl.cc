// sluicectl: main, global options and subcommand dispatch (sluicectl.h).
#include "sluicectl.h"

#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <vector>

namespace {

using sluice::ctl::Failure;

struct Command {
  const char* name;
  int (*run)(int argc, char** argv);
  const char* help;
};

const Command kCommands[] = {
    {"stats", sluicectl_stats, "every counter once, as tables [--json | --prometheus]"},
    {"top", sluicectl_top, "live view refreshed every second [-d SECONDS] [-n COUNT]"},
    {"drops", sluicectl_drops, "drops by reason and worker [--all] [--absolute]"},
    {"sessions", sluicectl_sessions,
     "NAT sessions [--inside|--public|--remote IP[:PORT]] [--proto P] [--limit N] [--json]"},
    {"clients", sluicectl_clients, "NAT clients [--top N] [--inside IP] [--limit N] [--json]"},
    {"lacp", sluicectl_lacp,
     "aggregates and members like /proc/net/bonding [inside|outside] [--json]"},
    {"clear", sluicectl_clear, "start the \"since clear\" view (absolute counters stay)"},
    {"trace", sluicectl_trace,
     "who held PUBLIC_IP PORT at TIME, from the NAT log [--window S] [--proto P] [--log PATH]"},
};

void usage(FILE* to) {
  fmt::print(to,
             "Usage: sluicectl [-p PREFIX] COMMAND [OPTIONS]\n\n"
             "Reads a running sluice through its telemetry socket\n"
             "/var/run/dpdk/PREFIX/dpdk_telemetry.v2 (PREFIX: its eal.prefix; default sluice,\n"
             "or $SLUICE_PREFIX).\n\nCommands:\n");
  for (const Command& c : kCommands)
    fmt::print(to, "  {:<9} {}\n", c.name, c.help);
  fmt::print(to,
             "\nExit status: 0 done, 1 refused by sluice, 2 usage, 3 sluice not running,\n"
             "4 socket unreachable.\n");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sluice::ctl;
  if (const char* env = std::getenv("SLUICE_PREFIX"); env != nullptr && *env != '\0')
    g_prefix = env;
  // Global options, anywhere before or after the command.
  std::vector<char*> rest;
  for (int i = 1; i < argc; i++) {
    const std::string_view a = argv[i];
    if (a == "-p" || a == "--prefix") {
      if (i + 1 == argc) {
        fmt::print(stderr, "sluicectl: {} needs a value\n", a);
        return kUsage;
      }
      g_prefix = argv[++i];
    } else if (a.starts_with("--prefix=")) {
      g_prefix = std::string(a.substr(9));
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return kOk;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (rest.empty()) {
    usage(stderr);
    return kUsage;
  }
  for (const Command& c : kCommands) {
    if (std::strcmp(rest[0], c.name) != 0) continue;
    try {
      return c.run(static_cast<int>(rest.size()), rest.data());
    } catch (const Failure& f) {
      fmt::print(stderr, "sluicectl: {}\n", f.what());
      return f.code;
    }
  }
  fmt::print(stderr, "sluicectl: unknown command '{}' (sluicectl --help lists them)\n", rest[0]);
  return kUsage;
}
