// sluicectl stats: every section once, as tables (with a "since clear"
// column once someone ran sluicectl clear), as JSON (--json: each command's
// answer, absolute and since clear) or in the Prometheus text exposition
// format (--prometheus: absolute counters only, for node_exporter's
// textfile collector or a scrape wrapper).
#include <fmt/format.h>

#include "sluicectl.h"

using namespace sluice::ctl;

int sluicectl_stats(int argc, char** argv) {
  const Args args(argc, argv, {"--json", "--prometheus"}, {});
  if (args.has("--json") && args.has("--prometheus"))
    throw Failure(kUsage, "stats: --json or --prometheus, not both");
  Telemetry tel;
  const Snapshot info = read_snapshot(tel, {}, false);
  std::vector<std::string> commands;
  for (const Section& s : sections()) {
    for (const std::string& c : s.commands(info))
      commands.push_back(c);
  }
  const bool cleared = info.info.value("clears", 0) != 0;
  const Snapshot snap = read_snapshot(tel, commands, !args.has("--prometheus"));

  if (args.has("--json")) {
    Json out = {{"prefix", g_prefix}, {"info", snap.info}};
    for (const auto& [cmd, answer] : snap.answers)
      out["absolute"][cmd] = answer;
    for (const auto& [cmd, answer] : snap.since)
      out["since_clear"][cmd] = answer;
    fmt::print("{}\n", out.dump(2));
    return kOk;
  }
  if (args.has("--prometheus")) {
    Prometheus p;
    p.add("up", false, "1 while sluice answers on its telemetry socket", {{"prefix", g_prefix}}, 1);
    p.add("uptime_seconds", false, "seconds since sluice started", {},
          snap.info.value("uptime_ms", uint64_t{0}) / 1000);
    p.add("clears", true, "times sluicectl clear was run (absolute counters never reset)", {},
          snap.info.value("clears", uint64_t{0}));
    for (const Section& s : sections()) {
      if (s.prometheus != nullptr && !s.commands(snap).empty()) s.prometheus(snap, p);
    }
    fmt::print("{}", p.text());
    return kOk;
  }
  fmt::print("sluice on prefix {}: pipeline {}, {} workers, {} ports, up {} s", g_prefix,
             snap.info.value("pipeline", "?"), snap.workers(), snap.ports(),
             snap.info.value("uptime_ms", uint64_t{0}) / 1000);
  if (cleared) {
    fmt::print(", cleared {} s ago", snap.info.value("since_clear_ms", uint64_t{0}) / 1000);
  }
  fmt::print("\n");
  for (const Section& s : sections()) {
    if (s.table == nullptr || s.commands(snap).empty()) continue;
    std::string out;
    s.table(snap, cleared, out);
    fmt::print("\n{}", out);
  }
  return kOk;
}
