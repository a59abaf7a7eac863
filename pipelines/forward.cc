#include "forward.h"

#include "antispoof.h"
#include "ip4_forward.h"
#include "parse.h"

namespace sluice {

namespace {

class ForwardPipeline final : public Pipeline {
 public:
  ForwardPipeline(const Tables& tables, WorkerContext& w) noexcept
      : tables_(tables),
        sink_(w.sink),
        forward_(tables.ifaces, *tables.routes, w.tx, w.sink, w.icmp_limit) {}

  void process(uint8_t iface, uint16_t rx_port, rte_mbuf** pkts, uint16_t n,
               uint64_t now) noexcept override {
    n = parse_stage(tables_.ifaces, tables_.parse, iface, rx_port, pkts, n, sink_);
    if (iface == static_cast<uint8_t>(Side::inside)) {
      n = antispoof_stage(*tables_.clients, pkts, n, sink_);
    }
    forward_.process(iface, rx_port, pkts, n, now);
  }

 private:
  const Tables& tables_;
  PacketSink& sink_;
  Ip4Forward forward_;
};

}  // namespace

std::unique_ptr<Pipeline> make_forward_pipeline(const Tables& tables, WorkerContext& worker) {
  return std::make_unique<ForwardPipeline>(tables, worker);
}

}  // namespace sluice
