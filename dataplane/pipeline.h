// The interface between the worker loop and a pipeline (pipelines/): one
// virtual call per received burst, never per packet. process() takes
// ownership of every mbuf: each is transmitted, punted or dropped and counted.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

namespace sluice {

class Pipeline {
 public:
  virtual ~Pipeline() = default;
  virtual void process(uint8_t iface, uint16_t rx_port, rte_mbuf** pkts, uint16_t n,
                       uint64_t now) noexcept = 0;
};

}  // namespace sluice
