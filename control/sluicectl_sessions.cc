// sluicectl sessions: NAT sessions, at most --limit (50 unless asked; never
// a million rows by accident), filtered by inside, public or remote address
// and port and by protocol. The workers walk their own tables in small
// steps (dataplane/inspect.h), so a listing never holds a worker up; it is
// not a snapshot: sessions made or ended meanwhile may be missing.
#include <fmt/format.h>

#include "sluicectl.h"

using namespace sluice::ctl;

namespace {

std::string idle(uint64_t ms) {
  if (ms < 10'000) return fmt::format("{:.1f}s", ms / 1000.0);
  if (ms < 7'200'000) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}h", ms / 3'600'000);
}

}  // namespace

int sluicectl_sessions(int argc, char** argv) {
  const Args args(argc, argv, {"--json"},
                  {"--inside", "--public", "--remote", "--proto", "--limit"});
  const uint64_t limit = args.number("--limit", 50, 1, 1'000'000);
  std::string filter;
  for (const char* f : {"inside", "public", "remote", "proto"}) {
    if (args.has(std::string("--") + f))
      filter += fmt::format(",{}={}", f, args.get(std::string("--") + f));
  }
  Telemetry tel;
  if (tel.query("/sluice/info").value("pipeline", "") != "cgnat")
    throw Failure(kRefused, "sessions: this sluice does not run the cgnat pipeline (no NAT)");
  Json rows = Json::array();
  std::string next;
  do {
    const uint64_t want = std::min<uint64_t>(limit - rows.size(), 100);
    const Json r = tel.query(fmt::format("/sluice/sessions,limit={}{}{}", want, filter,
                                         next.empty() ? "" : ",cursor=" + next));
    for (size_t i = 0; i < r["proto"].size(); i++) {
      rows.push_back({{"proto", r["proto"][i]},
                      {"inside", r["inside"][i]},
                      {"public", r["public"][i]},
                      {"remote", r["remote"][i]},
                      {"state", r["state"][i]},
                      {"idle_ms", r["idle_ms"][i]},
                      {"worker", r["worker"][i]}});
    }
    next = r.value("next", "");
  } while (!next.empty() && rows.size() < limit);

  if (args.has("--json")) {
    fmt::print("{}\n", Json{{"sessions", rows}, {"complete", next.empty()}}.dump(2));
    return kOk;
  }
  fmt::print("{:<5} {:<21} {:<21} {:<21} {:<11} {:>6} {:>2}\n", "PROTO", "INSIDE", "PUBLIC",
             "REMOTE", "STATE", "IDLE", "W");
  for (const Json& r : rows) {
    fmt::print("{:<5} {:<21} {:<21} {:<21} {:<11} {:>6} {:>2}\n", r["proto"].get<std::string>(),
               r["inside"].get<std::string>(), r["public"].get<std::string>(),
               r["remote"].get<std::string>(), r["state"].get<std::string>(),
               idle(r["idle_ms"].get<uint64_t>()), r["worker"].get<uint64_t>());
  }
  fmt::print("{} session(s){}\n", rows.size(),
             next.empty() ? "" : fmt::format("; stopped at --limit {}, there are more", limit));
  return kOk;
}
