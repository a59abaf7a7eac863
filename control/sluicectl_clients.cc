// sluicectl clients: NAT clients (inside addresses) with their public
// address, sessions and port blocks. --top N: the N with the most sessions
// (the workers walk every client for it); otherwise at most --limit (50)
// in table order. --inside IP: that client only.
#include <fmt/format.h>

#include "sluicectl.h"

using namespace sluice::ctl;

int sluicectl_clients(int argc, char** argv) {
  const Args args(argc, argv, {"--json"}, {"--top", "--inside", "--limit"});
  if (args.has("--top") && args.has("--limit"))
    throw Failure(kUsage, "clients: --top N or --limit N, not both");
  const bool top = args.has("--top");
  const uint64_t limit =
      top ? args.number("--top", 10, 1, 100) : args.number("--limit", 50, 1, 1'000'000);
  const std::string filter = args.has("--inside") ? ",inside=" + args.get("--inside") : "";
  Telemetry tel;
  if (tel.query("/sluice/info").value("pipeline", "") != "cgnat")
    throw Failure(kRefused, "clients: this sluice does not run the cgnat pipeline (no NAT)");
  Json rows = Json::array();
  std::string next;
  do {
    const uint64_t want = std::min<uint64_t>(limit - rows.size(), 100);
    const Json r = tel.query(fmt::format("/sluice/clients,limit={}{}{}{}", want, filter,
                                         top ? ",top" : "", next.empty() ? "" : ",cursor=" + next));
    for (size_t i = 0; i < r["client"].size(); i++) {
      rows.push_back({{"client", r["client"][i]},
                      {"public", r["public"][i]},
                      {"sessions", r["sessions"][i]},
                      {"port_blocks", r["port_blocks"][i]},
                      {"worker", r["worker"][i]}});
    }
    next = top ? "" : r.value("next", "");
  } while (!next.empty() && rows.size() < limit);

  if (args.has("--json")) {
    fmt::print("{}\n", Json{{"clients", rows}, {"complete", next.empty()}}.dump(2));
    return kOk;
  }
  fmt::print("{:<16} {:<16} {:>10} {:>12} {:>3}\n", "CLIENT", "PUBLIC", "SESSIONS", "PORT BLOCKS",
             "W");
  for (const Json& r : rows) {
    fmt::print("{:<16} {:<16} {:>10} {:>12} {:>3}\n", r["client"].get<std::string>(),
               r["public"].get<std::string>(), thousands(r["sessions"].get<uint64_t>()),
               r["port_blocks"].get<uint64_t>(), r["worker"].get<uint64_t>());
  }
  fmt::print("{} client(s){}{}\n", rows.size(), top ? ", most sessions first" : "",
             next.empty() ? "" : fmt::format("; stopped at --limit {}, there are more", limit));
  return kOk;
}
