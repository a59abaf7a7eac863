#include "handoff.h"

namespace sluice {

Handoff::Handoff(std::vector<rte_ring*> to, std::vector<rte_ring*> from, PacketSink& sink)
    : to_(std::move(to)), from_(std::move(from)), staged_(to_.size()), sink_(sink) {}

Handoff::~Handoff() {
  for (Staged& s : staged_)
    rte_pktmbuf_free_bulk(s.pkts, s.n);
}

void Handoff::flush(unsigned owner) noexcept {
  Staged& s = staged_[owner];
  const unsigned sent =
      rte_ring_sp_enqueue_burst(to_[owner], reinterpret_cast<void**>(s.pkts), s.n, nullptr);
  sink_.counters.handed_off.add(sent);
  for (unsigned i = sent; i < s.n; i++)
    sink_.drop(s.pkts[i], Drop::handoff_ring_full);
  s.n = 0;
}

uint16_t Handoff::receive(rte_mbuf** out, uint16_t max) noexcept {
  uint16_t got = 0;
  for (unsigned tries = 0; tries < from_.size() && got < max; tries++) {
    rte_ring* r = from_[next_from_];
    next_from_ = next_from_ + 1 == from_.size() ? 0 : next_from_ + 1;
    if (r == nullptr) continue;
    got += static_cast<uint16_t>(
        rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(out + got), max - got, nullptr));
  }
  sink_.counters.handed_in.add(got);
  return got;
}

}  // namespace sluice
