#include "antispoof.h"

#include "packet.h"

namespace sluice {

uint16_t antispoof_stage(const PrefixSet& clients, rte_mbuf** pkts, uint16_t n,
                         PacketSink& sink) noexcept {
  uint32_t src[kBurst];
  uint64_t member[kBurst];
  for (uint16_t i = 0; i < n; i++)
    src[i] = ip_src(rte_pktmbuf_mtod(pkts[i], const rte_ipv4_hdr*));
  clients.lookup(src, member, n);
  uint16_t kept = 0;
  for (uint16_t i = 0; i < n; i++) {
    if (member[i] == 0) {
      sink.drop(pkts[i], Drop::spoofed_source);
    } else {
      pkts[kept++] = pkts[i];
    }
  }
  return kept;
}

}  // namespace sluice
