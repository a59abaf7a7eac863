#include "aggregator.h"

#include <cstring>

namespace sluice {

namespace {

lacp::Mac to_mac(const rte_ether_addr& a) {
  lacp::Mac m;
  std::memcpy(m.data(), a.addr_bytes, m.size());
  return m;
}

lacp::Settings settings_of(const LagConfig& c, const rte_ether_addr& mac) {
  lacp::Settings s;
  s.lacp = c.lacp;
  s.active = c.active;
  s.fast = c.fast;
  s.system_priority = c.system_priority;
  s.system = to_mac(c.system_id ? *c.system_id : mac);
  s.key = c.key;
  s.port_priority = c.port_priority;
  return s;
}

}  // namespace

Aggregator::Aggregator(const LagConfig& config, const rte_ether_addr& mac,
                       std::vector<MemberPort> members, Lag& lag, ControlTx& tx, LinkRead read_link)
    : config_(config),
      ports_(std::move(members)),
      lag_(lag),
      tx_(tx),
      read_link_(std::move(read_link)),
      links_(ports_.size(), LinkMonitor(config.down_delay_ms, config.up_delay_ms)),
      driver_up_(ports_.size(), false),
      lacp_(settings_of(config, mac), static_cast<unsigned>(ports_.size()),
            [this](unsigned m, std::span<const uint8_t> frame) {
              rte_mbuf* out = tx_.alloc();
              if (out == nullptr) return;
              auto* data = rte_pktmbuf_append(out, static_cast<uint16_t>(frame.size()));
              std::memcpy(data, frame.data(), frame.size());
              tx_.send(ports_[m].port, out);
            }) {
  lag_.set_hash(config.hash);
  published_generation_ = lacp_.generation();
}

void Aggregator::on_frame(uint16_t rx_port, rte_mbuf* m, uint64_t now_ms) {
  for (unsigned i = 0; i < ports_.size(); i++) {
    if (ports_[i].port != rx_port) continue;
    // Slow protocols frames are short: one segment.
    const std::span<const uint8_t> frame(rte_pktmbuf_mtod(m, const uint8_t*),
                                         rte_pktmbuf_data_len(m));
    const std::lock_guard lock(mutex_);
    lacp_.on_frame(i, frame, now_ms);
    publish_if_changed();
    break;
  }
  rte_pktmbuf_free(m);
}

void Aggregator::poll(uint64_t now_ms) {
  const std::lock_guard lock(mutex_);
  if (now_ms >= next_poll_ms_) {
    next_poll_ms_ = now_ms + config_.link_poll_ms;
    for (unsigned i = 0; i < ports_.size(); i++) {
      driver_up_[i] = read_link_(ports_[i].port);
      if (links_[i].sample(driver_up_[i], now_ms)) lacp_.set_link(i, links_[i].up(), now_ms);
    }
  }
  lacp_.tick(now_ms);
  publish_if_changed();
  lag_.reclaim();
}

void Aggregator::publish_if_changed() {
  if (lacp_.generation() == published_generation_) return;
  published_generation_ = lacp_.generation();
  std::vector<uint16_t> distributing, collecting;
  for (unsigned m : lacp_.distributing())
    distributing.push_back(ports_[m].port);
  for (unsigned m : lacp_.collecting())
    collecting.push_back(ports_[m].port);
  lag_.publish(distributing, collecting);
}

AggregateStatus Aggregator::status() const {
  const std::lock_guard lock(mutex_);
  AggregateStatus s;
  s.config = config_;
  s.system = lacp_.settings().system;
  s.has_partner = lacp_.partner(&s.partner);
  s.aggregator_member = lacp_.aggregator_member();
  const std::vector<unsigned> dist = lacp_.distributing();
  for (unsigned i = 0; i < ports_.size(); i++) {
    AggregateStatus::Member m;
    m.port = ports_[i];
    m.driver_link_up = driver_up_[i];
    m.distributing = std::find(dist.begin(), dist.end(), i) != dist.end();
    m.lacp = lacp_.member(i);
    s.members.push_back(std::move(m));
  }
  return s;
}

}  // namespace sluice
