// Counters of the control thread (one writer: the control thread).
#pragma once

#include "counters.h"

namespace sluice {

struct alignas(64) ControlCounters {
  Counter punts_received;
  Counter arp_requests_in;  // requests for one of our addresses
  Counter arp_replies_in;
  Counter arp_ignored;  // ARP for other hosts or from off-subnet senders
  Counter arp_replies_out;
  Counter arp_requests_out;
  Counter arp_rate_limited;  // replies not sent: control.arp-reply-rate
  Counter arp_conflicts;     // someone else claims one of our addresses
  Counter neighbours_resolved;
  Counter neighbours_failed;  // no answer after arp.retries requests
  Counter resolve_sent;       // packets held for resolution, then sent
  Counter resolve_dropped;    // packets held for resolution, queue full or failed
  Counter echo_replies;
  Counter echo_rate_limited;
  Counter lacp_rate_limited;  // LACPDUs and markers dropped: control.slow-protocols-rate
  Counter tx_failed;          // control TX queue did not take a frame
  Counter alloc_failed;       // no mbuf for a control frame
  // Milliseconds in which the packet buffer pool had less than a burst
  // left besides what sits in the lcores' caches, as the control loop saw
  // it (about once a millisecond): a worker with an empty cache cannot
  // receive then, and not every driver counts what it missed (af_packet).
  Counter mbufs_exhausted_ms;
  Counter no_member;  // not sent: no member of the aggregate carries traffic
};

}  // namespace sluice
