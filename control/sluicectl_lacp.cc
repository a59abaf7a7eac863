// sluicectl lacp [inside|outside] [--json]: each aggregate and its members
// the way /proc/net/bonding shows a Linux bond: mode, hash policy, LACP rate
// and activity, delays, our system and the aggregator's partner, and per
// member its link and link failures, the aggregator it is in, its mux and
// receive state, churn, the actor and partner information (system, key,
// port, priority, state flags) and LACPDUs in and out. From
// /sluice/lacp,SIDE; --json prints those answers as they are.
#include <fmt/format.h>

#include <string>
#include <vector>

#include "sluicectl.h"

using namespace sluice::ctl;

namespace {

uint64_t num(const Json& j, const std::string& key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::string text(const Json& j, const std::string& key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "?";
}

void show(const std::string& side, const Json& a) {
  const bool lacp = text(a, "mode") == "802.3ad";
  const uint64_t members = num(a, "members");
  fmt::print(
      "{}: {}, {} of {} members distributing\n", side,
      lacp ? "IEEE 802.3ad dynamic link aggregation (LACP)" : "static link aggregation (no LACP)",
      num(a, "distributing"), members);
  fmt::print("  {:<22} {}\n", "transmit hash policy", text(a, "xmit_hash_policy"));
  if (lacp) {
    fmt::print("  {:<22} {} ({})\n", "LACP rate", text(a, "lacp_rate"),
               text(a, "lacp_rate") == "fast" ? "partner asked for a LACPDU every 1 s"
                                              : "partner asked for a LACPDU every 30 s");
    fmt::print("  {:<22} {}\n", "LACP activity", text(a, "lacp_activity"));
  }
  fmt::print("  {:<22} {} / {} ms, link read every {} ms\n", "down / up delay",
             num(a, "down_delay_ms"), num(a, "up_delay_ms"), num(a, "link_poll_ms"));
  if (lacp) {
    fmt::print("  {:<22} MAC {}, priority {}, key {}\n", "system", text(a, "system_mac"),
               num(a, "system_priority"), num(a, "key"));
    if (num(a, "aggregator_id") == 0) {
      fmt::print("  {:<22} none (no partner agreed on any member)\n", "aggregator");
    } else {
      fmt::print("  {:<22} id {}, partner MAC {}, priority {}, key {}\n", "aggregator",
                 num(a, "aggregator_id"), text(a, "partner_mac"), num(a, "partner_system_priority"),
                 num(a, "partner_key"));
    }
  }
  for (uint64_t i = 0; i < members; i++) {
    const std::string k = fmt::format("member{}_", i);
    const bool distributing = num(a, k + "distributing") != 0;
    const std::string mux = text(a, k + "mux");
    fmt::print("\n  member {} {}: link {}, {}\n", i, text(a, k + "port"), text(a, k + "link"),
               distributing ? "distributing" : "not distributing");
    fmt::print("    link failures {}, state changes {}", num(a, k + "link_failures"),
               num(a, k + "state_changes"));
    if (!lacp) {
      fmt::print("\n");
      continue;
    }
    // A member is in the aggregator from WAITING on (802.1AX: attached to it).
    const uint64_t aggregator = mux == "detached" ? 0 : num(a, "aggregator_id");
    fmt::print(", aggregator {}\n", aggregator == 0 ? "none" : std::to_string(aggregator));
    fmt::print("    mux {}, receive {}, churn: actor {}, partner {}\n", mux, text(a, k + "rx"),
               text(a, k + "actor_churn"), text(a, k + "partner_churn"));
    fmt::print("    actor   port {}, priority {}, key {}, state {}\n", num(a, k + "actor_port"),
               num(a, k + "actor_port_priority"), num(a, k + "actor_key"),
               num(a, k + "actor_state"));
    fmt::print("            {}\n", text(a, k + "actor_state_flags"));
    fmt::print("    partner {} priority {}, key {}, port {}, priority {}, state {}\n",
               text(a, k + "partner_mac"), num(a, k + "partner_system_priority"),
               num(a, k + "partner_key"), num(a, k + "partner_port"),
               num(a, k + "partner_port_priority"), num(a, k + "partner_state"));
    fmt::print("            {}\n", text(a, k + "partner_state_flags"));
    fmt::print("    LACPDUs in {}, out {}; markers in {}, responses out {}; bad {}, looped {}\n",
               num(a, k + "lacpdus_rx"), num(a, k + "lacpdus_tx"), num(a, k + "markers_rx"),
               num(a, k + "marker_responses_tx"), num(a, k + "bad_rx"), num(a, k + "looped_rx"));
  }
}

}  // namespace

int sluicectl_lacp(int argc, char** argv) {
  std::vector<char*> options = {argv[0]};
  std::vector<std::string> sides;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    if (a.starts_with("-")) {
      options.push_back(argv[i]);
    } else if (a == "inside" || a == "outside") {
      sides.push_back(a);
    } else {
      throw Failure(kUsage, fmt::format("lacp: '{}' is not a side (inside or outside)", a));
    }
  }
  const Args args(static_cast<int>(options.size()), options.data(), {"--json"}, {});
  if (sides.empty()) sides = {"inside", "outside"};
  Telemetry tel;
  Json out = Json::object();
  for (const std::string& side : sides)
    out[side] = tel.query("/sluice/lacp," + side);
  if (args.has("--json")) {
    fmt::print("{}\n", out.dump(2));
    return kOk;
  }
  bool first = true;
  for (const std::string& side : sides) {
    if (!first) fmt::print("\n");
    first = false;
    show(side, out[side]);
  }
  return kOk;
}
