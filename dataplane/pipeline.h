// The interface between the worker loop and a pipeline (pipelines/): one
// virtual call per received burst, never per packet. process() takes
// ownership of every mbuf: each is transmitted, punted, handed to another
// worker or dropped and counted. poll() runs once per round of the worker
// loop, before the TX flush, for work that does not come from a port
// (packets handed over by other workers, timers) and returns how many
// packets it handled; `now` is the round's TSC. inspect() runs one step of
// a listing (inspect.h) between rounds, when a reader asked for one.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "inspect.h"

namespace sluice {

class Pipeline {
 public:
  virtual ~Pipeline() = default;
  virtual void process(uint8_t iface, uint16_t rx_port, rte_mbuf** pkts, uint16_t n,
                       uint64_t now) noexcept = 0;
  virtual unsigned poll(uint64_t /*now*/) noexcept { return 0; }
  // A pipeline with nothing to list leaves the reply unsupported.
  virtual void inspect(const InspectRequest& /*request*/, InspectReply& /*reply*/,
                       uint64_t /*now*/) noexcept {}
};

}  // namespace sluice
