// Stage: anti-spoofing on the inside (SPEC "Principles"; RFC 2827 ingress
// filtering). A packet that arrives on the inside must come from one of the
// configured client prefixes; anything else is dropped as spoofed-source.
// One bulk prefix-set lookup per burst, whatever the number of prefixes.
#pragma once

#include <rte_mbuf.h>

#include <cstdint>

#include "route.h"
#include "sink.h"

namespace sluice {

uint16_t antispoof_stage(const PrefixSet& clients, rte_mbuf** pkts, uint16_t n,
                         PacketSink& sink) noexcept;

}  // namespace sluice
