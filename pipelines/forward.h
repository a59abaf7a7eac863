// The `forward` pipeline: a router between inside and outside, no NAT.
//
//   parse/validate -> (inside only) anti-spoof -> IPv4 forward
//   (TTL, route, MTU, neighbour, L2, TX)
//
// The whole life of a forwarded packet is in process() below; each stage is
// one file under dataplane/.
#pragma once

#include <memory>

#include "pipeline.h"
#include "tables.h"
#include "worker.h"

namespace sluice {

std::unique_ptr<Pipeline> make_forward_pipeline(const Tables& tables, WorkerContext& worker);

}  // namespace sluice
