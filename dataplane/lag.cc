#include "lag.h"

#include <rte_ether.h>
#include <rte_hash_crc.h>
#include <rte_ip.h>

#include <algorithm>
#include <cstring>

namespace sluice {

uint32_t xmit_hash(XmitHash policy, const rte_mbuf* m, uint16_t l2_len) noexcept {
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  uint32_t h = 0;
  if (policy != XmitHash::layer3_4) h = rte_hash_crc(eth, 2 * RTE_ETHER_ADDR_LEN, 0);
  if (policy == XmitHash::layer2) return h;
  const uint16_t type = l2_len > sizeof(rte_ether_hdr)
                            ? reinterpret_cast<const rte_vlan_hdr*>(eth + 1)->eth_proto
                            : eth->ether_type;
  const uint32_t seg = rte_pktmbuf_data_len(m);
  if (type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) || seg < l2_len + sizeof(rte_ipv4_hdr)) {
    return h;
  }
  const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv4_hdr*, l2_len);
  h = rte_hash_crc_4byte(ip->src_addr, h);
  h = rte_hash_crc_4byte(ip->dst_addr, h);
  if (policy != XmitHash::layer3_4) return h;
  const bool fragment = (ip->fragment_offset &
                         rte_cpu_to_be_16(RTE_IPV4_HDR_OFFSET_MASK | RTE_IPV4_HDR_MF_FLAG)) != 0;
  const uint32_t ihl = (ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) * RTE_IPV4_IHL_MULTIPLIER;
  if (fragment || (ip->next_proto_id != IPPROTO_TCP && ip->next_proto_id != IPPROTO_UDP) ||
      seg < l2_len + ihl + 4) {
    return h;
  }
  // Source and destination port, as one word.
  uint32_t ports;
  std::memcpy(&ports, reinterpret_cast<const uint8_t*>(ip) + ihl, sizeof ports);
  return rte_hash_crc_4byte(ports, h);
}

Lag::Lag() : state_(std::make_unique<State>()) {
  state_->current.store(new LagSet{}, std::memory_order_release);
}

Lag::~Lag() {
  if (!state_) return;
  for (const Retired& r : state_->retired)
    delete r.set;
  delete state_->current.load(std::memory_order_acquire);
}

Lag::Lag(Lag&&) noexcept = default;
Lag& Lag::operator=(Lag&& other) noexcept {
  std::swap(hash_, other.hash_);
  std::swap(state_, other.state_);
  return *this;
}

void Lag::publish(const std::vector<uint16_t>& distributing,
                  const std::vector<uint16_t>& collecting) {
  auto* s = new LagSet{};
  s->count = static_cast<uint8_t>(std::min(distributing.size(), kMaxMembers));
  std::copy_n(distributing.begin(), s->count, s->ports.begin());
  s->collecting_count = static_cast<uint8_t>(std::min(collecting.size(), kMaxMembers));
  std::copy_n(collecting.begin(), s->collecting_count, s->collecting.begin());
  const LagSet* old = state_->current.exchange(s, std::memory_order_acq_rel);
  if (state_->rcu == nullptr) {
    delete old;
    return;
  }
  state_->retired.push_back({old, rte_rcu_qsbr_start(state_->rcu)});
}

size_t Lag::reclaim() {
  auto& r = state_->retired;
  const auto done = std::remove_if(r.begin(), r.end(), [this](const Retired& x) {
    if (rte_rcu_qsbr_check(state_->rcu, x.token, false) != 1) return false;
    delete x.set;
    return true;
  });
  r.erase(done, r.end());
  return r.size();
}

}  // namespace sluice
