// sluicectl clear: the daemon takes a baseline of every counter; from then
// on stats, drops and top's "since clear" figures start from zero. The
// absolute counters (Prometheus, /sluice/stats) never reset.
#include <fmt/format.h>

#include "sluicectl.h"

using namespace sluice::ctl;

int sluicectl_clear(int argc, char** argv) {
  const Args args(argc, argv, {}, {});
  Telemetry tel;
  const Json r = tel.query("/sluice/clear");
  fmt::print(
      "cleared (clear #{}): sluicectl stats and drops count from now; absolute counters "
      "are kept\n",
      r.value("clears", uint64_t{0}));
  return kOk;
}
