// sluicectl drops: every drop counter by reason and worker, like VPP's
// `show errors`: since the last clear (or since start) by default,
// --absolute for the counters as they are; reasons that counted nothing are
// left out unless --all.
#include <fmt/format.h>

#include <algorithm>

#include "sluicectl.h"

using namespace sluice::ctl;

int sluicectl_drops(int argc, char** argv) {
  const Args args(argc, argv, {"--all", "--absolute"}, {});
  const bool since = !args.has("--absolute");
  Telemetry tel;
  const Snapshot info = read_snapshot(tel, {}, false);
  std::vector<std::string> commands = {"/sluice/drops"};
  for (uint64_t k = 0; k < info.workers(); k++)
    commands.push_back("/sluice/worker," + std::to_string(k));
  const Snapshot s = read_snapshot(tel, commands, since);
  // Beyond 8 workers the per-worker columns would not fit: the busiest only.
  const uint64_t w = s.workers();
  const bool columns = w <= 8;

  if (since && s.info.value("clears", 0) != 0) {
    fmt::print("since clear ({} s ago)\n", s.info.value("since_clear_ms", uint64_t{0}) / 1000);
  } else {
    fmt::print("{}\n", since ? "since start (never cleared)" : "absolute counters");
  }
  std::string head = fmt::format("{:>14}  {:<22}", "count", "reason");
  if (columns) {
    for (uint64_t k = 0; k < w; k++)
      head += fmt::format(" {:>10}", fmt::format("w{}", k));
  } else {
    head += fmt::format(" {:>14}", "busiest worker");
  }
  fmt::print("{}\n", head);
  const Json& total = s.at("/sluice/drops", since);
  uint64_t sum = 0;
  unsigned rows = 0;
  for (const auto& [key, v] : total.items()) {
    const uint64_t n = v.get<uint64_t>();
    if (n == 0 && !args.has("--all")) continue;
    std::string reason = key;
    std::replace(reason.begin(), reason.end(), '_', '-');
    std::string line = fmt::format("{:>14}  {:<22}", thousands(n), reason);
    uint64_t best = 0, best_n = 0;
    for (uint64_t k = 0; k < w; k++) {
      const Json& wk = s.at("/sluice/worker," + std::to_string(k), since);
      const uint64_t c = wk.value("drop_" + key, uint64_t{0});
      if (columns) line += fmt::format(" {:>10}", thousands(c));
      if (c > best_n) best = k, best_n = c;
    }
    if (!columns) line += fmt::format(" {:>14}", fmt::format("w{} {}", best, thousands(best_n)));
    fmt::print("{}\n", line);
    sum += n;
    rows++;
  }
  if (rows == 0) fmt::print("{:>14}  (no drops)\n", 0);
  fmt::print("{:>14}  total\n", thousands(sum));
  return kOk;
}
