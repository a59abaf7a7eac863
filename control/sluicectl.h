// sluicectl: the operator's command line. Each subcommand is a function
// taking the arguments after its name; main() (sluicectl.cc) dispatches.
#pragma once

namespace sluice {

// sluicectl trace PUBLIC_IP PORT TIME [--window SECONDS] [--proto udp|tcp|icmp]
//                 [--log PATH] [--lookback SECONDS]
// Prints who held the public address and port around TIME, from the NAT
// log and its rotated files. Exit 0: found; 1: nobody held it; 2: usage.
int sluicectl_trace(int argc, char** argv);

}  // namespace sluice
