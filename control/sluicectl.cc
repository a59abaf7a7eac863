// sluicectl: dispatches to its subcommands (sluicectl.h).
#include <cstdio>
#include <cstring>

#include "sluicectl.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "trace") == 0)
    return sluice::sluicectl_trace(argc - 1, argv + 1);
  std::fprintf(
      stderr,
      "Usage: sluicectl trace PUBLIC_IP PORT TIME [--window SECONDS] [--proto udp|tcp|icmp]"
      "\n                       [--log PATH] [--lookback SECONDS]\n");
  return 2;
}
