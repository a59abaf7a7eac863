#include "nat_events.h"

#include <rte_cycles.h>
#include <rte_ring_elem.h>

#include "nat_table.h"

namespace sluice {

void NatEvents::put(const NatEvent& e) noexcept {
  while (rte_ring_sp_enqueue_elem(ring_, const_cast<NatEvent*>(&e), sizeof(NatEvent)) != 0) {
    if (!wait_) {
      counters_.ring_full.add();
      return;
    }
    rte_delay_us_sleep(100);  // control thread at shutdown only
  }
  counters_.queued.add();
}

void NatEvents::session(NatEventType type, const Session& s, uint64_t now_ms,
                        FlowEnd end) noexcept {
  const auto now = static_cast<uint32_t>(now_ms);
  NatEvent e{};
  e.time_ms = now_ms;
  e.inside_ip = s.inside_ip;
  e.public_ip = s.public_ip;
  e.remote_ip = s.remote_ip;
  e.inside_port = s.inside_port;
  e.public_port = s.public_port;
  e.remote_port = s.remote_port;
  e.type = type;
  e.proto = s.proto;
  e.tcp_flags = s.tcp_flags;
  e.end = end;
  e.start_age_ms = now - s.start_ms;
  e.last_age_ms = now - s.last_ms;
  e.packets_out = s.packets_out;
  e.packets_in = s.packets_in;
  e.bytes_out = s.bytes_out;
  e.bytes_in = s.bytes_in;
  e.policed = s.policed;
  put(e);
}

void NatEvents::block(NatEventType type, uint32_t inside_ip, uint32_t public_ip,
                      uint16_t first_port, uint16_t last_port, uint64_t now_ms) noexcept {
  NatEvent e{};
  e.time_ms = now_ms;
  e.inside_ip = inside_ip;
  e.public_ip = public_ip;
  e.public_port = first_port;
  e.remote_port = last_port;
  e.type = type;
  put(e);
}

void NatEvents::refused(NatEventType type, QuotaLimit quota, uint8_t proto, uint32_t inside_ip,
                        uint32_t public_ip, uint64_t now_ms) noexcept {
  if (!refusals_.take(now_ms * 1000)) {
    counters_.refusals_suppressed.add();
    return;
  }
  NatEvent e{};
  e.time_ms = now_ms;
  e.inside_ip = inside_ip;
  e.public_ip = public_ip;
  e.type = type;
  e.proto = proto;
  e.quota = quota;
  put(e);
}

}  // namespace sluice
