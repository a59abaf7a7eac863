// The `cgnat` pipeline: NAT44 for a campus, then routing.
//
//   parse/validate -> fragment tracking (ports for later fragments)
//   -> (inside) anti-spoof -> TTL (ICMP time exceeded, before any NAT state)
//   -> steer to the owner worker (handoff)
//   -> NAT in2out / out2in (hairpins go round to out2in)
//   -> IPv4 forward (TTL, route, MTU, neighbour, L2, TX)
//
// poll(), once per round: packets other workers handed over and fragments
// whose first fragment has come go the same way from the steering step on;
// then, once per millisecond, bounded expiry of sessions, port blocks and
// fragment entries.
//
// The whole life of a translated packet is in this file; each stage is one
// file under dataplane/.
#pragma once

#include <memory>

#include "frag_track.h"
#include "handoff.h"
#include "nat44.h"
#include "nat_table.h"
#include "pipeline.h"
#include "tables.h"
#include "worker.h"

namespace sluice {

// What control builds for each worker of a cgnat pipeline.
struct CgnatWorker {
  NatTable& table;
  Handoff& handoff;
  FragConfig frag;
  Nat44Options nat;
  unsigned workers;
  unsigned expiry_budget = 256;  // sessions and blocks per millisecond
};

std::unique_ptr<Pipeline> make_cgnat_pipeline(const Tables& tables, WorkerContext& worker,
                                              const CgnatWorker& nat);

}  // namespace sluice
