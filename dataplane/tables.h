// What every worker reads and nobody changes while workers run: the
// interfaces (whose neighbour slots control updates atomically), the route
// table, the client prefixes and the parse options. Built by control before
// the workers start.
#pragma once

#include <memory>

#include "interface.h"
#include "parse.h"
#include "route.h"

namespace sluice {

struct Tables {
  Interfaces ifaces;
  std::unique_ptr<RouteTable> routes;
  std::unique_ptr<PrefixSet> clients;  // inside sources allowed (anti-spoofing)
  ParseConfig parse;
};

}  // namespace sluice
