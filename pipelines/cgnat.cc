#include "cgnat.h"

#include "antispoof.h"
#include "ip4_forward.h"
#include "nat_inspect.h"
#include "parse.h"

namespace sluice {

namespace {

constexpr auto kIn = static_cast<uint8_t>(Side::inside);
constexpr auto kOut = static_cast<uint8_t>(Side::outside);

class CgnatPipeline final : public Pipeline {
 public:
  CgnatPipeline(const Tables& tables, WorkerContext& w, const CgnatWorker& n)
      : tables_(tables),
        sink_(w.sink),
        worker_(w.id),
        workers_(n.workers),
        frag_(n.frag, w.sink),
        nat_(n.table, n.nat, w.id, n.workers, w.sink, w.icmp_limit),
        handoff_(n.handoff),
        forward_(tables.ifaces, *tables.routes, w.tx, w.sink, w.icmp_limit),
        expiry_budget_(n.expiry_budget) {}

  void process(uint8_t iface, uint16_t rx_port, rte_mbuf** pkts, uint16_t n,
               uint64_t now) noexcept override {
    n = parse_stage(tables_.ifaces, tables_.parse, iface, rx_port, pkts, n, sink_);
    n = frag_.process(pkts, n, nat_.ms(now));
    admit(iface, pkts, n, now);
    handoff_.flush();
  }

  unsigned poll(uint64_t now) noexcept override {
    rte_mbuf* pkts[kBurst];
    const uint16_t handed = handoff_.receive(pkts, kBurst);
    by_interface(pkts, handed, [&](uint8_t iface, rte_mbuf** group, uint16_t k) {
      translate(iface, group, k, now);
    });
    const uint16_t ready = frag_.take_ready(pkts, kBurst);
    by_interface(pkts, ready,
                 [&](uint8_t iface, rte_mbuf** group, uint16_t k) { admit(iface, group, k, now); });
    handoff_.flush();
    const uint64_t ms = nat_.ms(now);
    if (ms != last_expiry_ms_) {
      last_expiry_ms_ = ms;
      nat_.table().expire(ms, expiry_budget_);
      frag_.expire(ms, expiry_budget_);
    }
    return handed + ready;
  }

  void inspect(const InspectRequest& request, InspectReply& reply, uint64_t now) noexcept override {
    inspect_nat(nat_.table(), request, reply, nat_.ms(now));
  }

 private:
  // From a port (or a fragment held until its first fragment came): checks
  // what only the receiving worker checks, then steers each packet to the
  // worker that owns its client.
  void admit(uint8_t iface, rte_mbuf** pkts, uint16_t n, uint64_t now) noexcept {
    if (iface == kIn) n = antispoof_stage(*tables_.clients, pkts, n, sink_);
    n = expire_ttl(iface, pkts, n, now);
    n = steer(iface, pkts, n);
    translate(iface, pkts, n, now);
  }

  // A packet that would leave with TTL 0 is answered here, before NAT, so it
  // makes no session, mapping or port block (a traceroute's first hop).
  uint16_t expire_ttl(uint8_t iface, rte_mbuf** pkts, uint16_t n, uint64_t now) noexcept {
    rte_mbuf* errors[kBurst];
    uint16_t n_errors = 0;
    uint16_t kept = 0;
    for (uint16_t i = 0; i < n; i++) {
      rte_mbuf* m = pkts[i];
      if (rte_pktmbuf_mtod(m, const rte_ipv4_hdr*)->time_to_live > 1) {
        pkts[kept++] = m;
      } else if (forward_.time_exceeded(m, iface, now)) {
        errors[n_errors++] = m;
      }
    }
    if (n_errors != 0) forward_.process(iface, meta(errors[0]).rx_port, errors, n_errors, now);
    return kept;
  }

  // Keeps this worker's packets at the front of pkts; stages the others.
  uint16_t steer(uint8_t iface, rte_mbuf** pkts, uint16_t n) noexcept {
    if (workers_ == 1) return n;  // everything is this worker's
    uint16_t mine = 0;
    for (uint16_t i = 0; i < n; i++) {
      const unsigned owner = nat_.owner(pkts[i], iface == kIn);
      if (owner == worker_) {
        pkts[mine++] = pkts[i];
      } else {
        meta(pkts[i]).iface = iface;
        handoff_.stage(pkts[i], owner);
      }
    }
    return mine;
  }

  // This worker's packets: NAT, then routing.
  void translate(uint8_t iface, rte_mbuf** pkts, uint16_t n, uint64_t now) noexcept {
    if (n == 0) return;
    const uint16_t rx_port = meta(pkts[0]).rx_port;
    if (iface == kOut) {
      n = nat_.out2in(pkts, n, now);
      forward_.process(kOut, rx_port, pkts, n, now);
      return;
    }
    rte_mbuf* hairpin[kBurst];
    uint16_t hairpins = 0;
    n = nat_.in2out(pkts, n, now, hairpin, &hairpins);
    forward_.process(kIn, rx_port, pkts, n, now);
    // From one client to another's public endpoint: back in from the outside.
    hairpins = steer(kOut, hairpin, hairpins);
    if (hairpins != 0) translate(kOut, hairpin, hairpins, now);
  }

  // Calls fn(iface, group, count) for the inside packets, then the outside
  // ones, each group in arrival order.
  template <class F>
  static void by_interface(rte_mbuf** pkts, uint16_t n, F&& fn) noexcept {
    if (n == 0) return;
    rte_mbuf* outside[kBurst];
    uint16_t inside = 0;
    uint16_t out = 0;
    for (uint16_t i = 0; i < n; i++) {
      if (meta(pkts[i]).iface == kIn) {
        pkts[inside++] = pkts[i];
      } else {
        outside[out++] = pkts[i];
      }
    }
    if (inside != 0) fn(kIn, pkts, inside);
    if (out != 0) fn(kOut, outside, out);
  }

  const Tables& tables_;
  PacketSink& sink_;
  unsigned worker_;
  unsigned workers_;
  FragTracker frag_;
  Nat44 nat_;
  Handoff& handoff_;
  Ip4Forward forward_;
  unsigned expiry_budget_;
  uint64_t last_expiry_ms_ = 0;
};

}  // namespace

std::unique_ptr<Pipeline> make_cgnat_pipeline(const Tables& tables, WorkerContext& worker,
                                              const CgnatWorker& nat) {
  return std::make_unique<CgnatPipeline>(tables, worker, nat);
}

}  // namespace sluice
