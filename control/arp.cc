#include "arp.h"

#include <rte_arp.h>

#include <limits>

#include "packet.h"

namespace sluice {

namespace {

constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();

// A host address of the subnet: not ours, not the network or broadcast address.
bool is_host(const Interface& ifc, uint32_t ip) noexcept {
  if (!ifc.on_link(ip) || ip == ifc.address) return false;
  return ifc.prefix_len >= 31 || (ip != ifc.network && ip != ifc.broadcast());
}

}  // namespace

Arp::~Arp() {
  for (auto& [k, e] : table_)
    drop_held(e);
}

void Arp::add_static(uint8_t iface, uint32_t ip, const rte_ether_addr& mac) {
  Interface& ifc = ifaces_[iface];
  Entry& e = table_[key(iface, ip - ifc.network)];
  e.state = State::permanent;
  e.mac = mac;
  e.deadline_ms = kNever;
  ifc.neighbours.set_mac(ip - ifc.network, mac);
}

void Arp::add_gateway(uint8_t iface, uint32_t ip, uint64_t now_ms) {
  Entry& e = table_[key(iface, ip - ifaces_[iface].network)];
  e.gateway = true;
  if (e.state == State::permanent) return;
  e.deadline_ms = now_ms;
}

void Arp::announce() noexcept {
  for (uint8_t i = 0; i < ifaces_.size(); i++)
    request(i, ifaces_[i].address, nullptr);
}

void Arp::request(uint8_t iface, uint32_t target, const rte_ether_addr* unicast) noexcept {
  const Interface& ifc = ifaces_[iface];
  rte_mbuf* m = tx_.alloc();
  if (m == nullptr) {
    c_.alloc_failed.add();
    return;
  }
  auto* arp = reinterpret_cast<rte_arp_hdr*>(rte_pktmbuf_append(m, sizeof(rte_arp_hdr)));
  arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = 4;
  arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
  rte_ether_addr_copy(&ifc.mac, &arp->arp_data.arp_sha);
  arp->arp_data.arp_sip = rte_cpu_to_be_32(ifc.address);
  memset(&arp->arp_data.arp_tha, 0, sizeof(arp->arp_data.arp_tha));
  arp->arp_data.arp_tip = rte_cpu_to_be_32(target);
  rte_ether_addr broadcast;
  memset(broadcast.addr_bytes, 0xff, RTE_ETHER_ADDR_LEN);
  push_l2(m, ifc, unicast ? *unicast : broadcast, RTE_ETHER_TYPE_ARP);
  c_.arp_requests_out.add();
  tx_.send(ifc.lag.pick(m, ifc.l2_len()), m);
}

void Arp::on_frame(uint8_t iface, uint16_t rx_port, rte_mbuf* m, uint64_t now_ms,
                   uint64_t now_tsc) {
  const Interface& ifc = ifaces_[iface];
  const uint16_t l2 = l2_len_of(m);
  auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
  auto* arp = rte_pktmbuf_mtod_offset(m, rte_arp_hdr*, l2);
  const uint16_t op = rte_be_to_cpu_16(arp->arp_opcode);
  const uint32_t sender = rte_be_to_cpu_32(arp->arp_data.arp_sip);
  const uint32_t target = rte_be_to_cpu_32(arp->arp_data.arp_tip);
  const rte_ether_addr sender_mac = arp->arp_data.arp_sha;

  if (sender == ifc.address) {
    if (!rte_is_same_ether_addr(&sender_mac, &ifc.mac)) c_.arp_conflicts.add();
    rte_pktmbuf_free(m);
    return;
  }
  const bool from_host = is_host(ifc, sender) && rte_is_valid_assigned_ether_addr(&sender_mac);
  if (op == RTE_ARP_OP_REQUEST && target == ifc.address) {
    c_.arp_requests_in.add();
    if (from_host) learn(iface, sender, sender_mac, true, now_ms);
    if (!reply_limit_.take(now_tsc)) {
      c_.arp_rate_limited.add();
      rte_pktmbuf_free(m);
      return;
    }
    arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
    arp->arp_data.arp_tha = sender_mac;
    arp->arp_data.arp_tip = arp->arp_data.arp_sip;
    rte_ether_addr_copy(&ifc.mac, &arp->arp_data.arp_sha);
    arp->arp_data.arp_sip = rte_cpu_to_be_32(ifc.address);
    rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
    rte_ether_addr_copy(&ifc.mac, &eth->src_addr);
    c_.arp_replies_out.add();
    tx_.send(rx_port, m);
    return;
  }
  if (op == RTE_ARP_OP_REPLY) {
    c_.arp_replies_in.add();
  } else {
    c_.arp_ignored.add();
  }
  if (from_host) learn(iface, sender, sender_mac, false, now_ms);
  rte_pktmbuf_free(m);
}

void Arp::learn(uint8_t iface, uint32_t ip, const rte_ether_addr& mac, bool create,
                uint64_t now_ms) {
  Interface& ifc = ifaces_[iface];
  const uint32_t host = ip - ifc.network;
  auto it = table_.find(key(iface, host));
  if (it == table_.end()) {
    if (!create) return;
    it = table_.emplace(key(iface, host), Entry{}).first;
  }
  Entry& e = it->second;
  if (e.state == State::permanent) return;
  if (e.state == State::incomplete || e.state == State::failed) c_.neighbours_resolved.add();
  e.state = State::reachable;
  e.tries = 0;
  e.mac = mac;
  e.deadline_ms = now_ms + timers_.reachable_ms;
  ifc.neighbours.set_mac(host, mac);
  flush_held(iface, e);
}

void Arp::flush_held(uint8_t iface, Entry& e) noexcept {
  const Interface& ifc = ifaces_[iface];
  while (!e.held.empty()) {
    rte_mbuf* m = e.held.front();
    e.held.pop_front();
    held_--;
    if (!push_l2(m, ifc, e.mac, RTE_ETHER_TYPE_IPV4)) {
      c_.resolve_dropped.add();
      rte_pktmbuf_free(m);
      continue;
    }
    c_.resolve_sent.add();
    tx_.send(ifc.lag.pick(m, ifc.l2_len()), m);
  }
}

void Arp::drop_held(Entry& e) noexcept {
  c_.resolve_dropped.add(e.held.size());
  held_ -= e.held.size();
  for (rte_mbuf* m : e.held)
    rte_pktmbuf_free(m);
  e.held.clear();
}

void Arp::on_unresolved(rte_mbuf* m, uint64_t now_ms) {
  const uint32_t nh = meta(m).next_hop;
  const uint8_t iface = (nh >> 16) & 0xff;
  const uint32_t host = nh & 0xffff;
  auto [it, created] = table_.try_emplace(key(iface, host));
  Entry& e = it->second;
  if (created) {
    e.deadline_ms = now_ms;  // request on this tick
    tick_one(it->first, e, now_ms);
  }
  switch (e.state) {
    case State::reachable:
    case State::probe:
    case State::permanent:
      e.held.push_back(m);
      held_++;
      flush_held(iface, e);
      return;
    case State::failed:
      c_.resolve_dropped.add();
      rte_pktmbuf_free(m);
      return;
    case State::incomplete:
      // Full (this address's queue, or all of them): the newest stays
      // when this address holds any, the way one queue does.
      if (e.held.size() >= timers_.queue || held_ >= timers_.held) {
        c_.resolve_dropped.add();
        if (e.held.empty()) {
          rte_pktmbuf_free(m);
          return;
        }
        rte_pktmbuf_free(e.held.front());
        e.held.pop_front();
        held_--;
      }
      e.held.push_back(m);
      held_++;
      return;
  }
}

void Arp::fail(uint32_t k, Entry& e, uint64_t now_ms) noexcept {
  e.state = State::failed;
  e.deadline_ms = now_ms + timers_.retries * timers_.retry_ms;
  ifaces_[k >> 16].neighbours.set_failed(k & 0xffff);
  c_.neighbours_failed.add();
  drop_held(e);
}

// Advances one entry whose deadline has come; false when it is to be forgotten.
bool Arp::tick_one(uint32_t k, Entry& e, uint64_t now_ms) noexcept {
  const uint8_t iface = k >> 16;
  switch (e.state) {
    case State::permanent:
      return true;
    case State::incomplete:
      if (e.tries >= timers_.retries) {
        fail(k, e, now_ms);
        return true;
      }
      request(iface, ip_of(k), nullptr);
      break;
    case State::reachable:
      e.state = State::probe;
      e.tries = 0;
      [[fallthrough]];
    case State::probe:
      if (e.tries >= timers_.retries) {
        fail(k, e, now_ms);
        return true;
      }
      request(iface, ip_of(k), &e.mac);
      break;
    case State::failed:
      ifaces_[iface].neighbours.clear(k & 0xffff);
      if (!e.gateway) return false;
      e.state = State::incomplete;
      e.tries = 0;
      request(iface, ip_of(k), nullptr);
      break;
  }
  e.tries++;
  e.deadline_ms = now_ms + timers_.retry_ms;
  return true;
}

void Arp::tick(uint64_t now_ms) {
  for (auto it = table_.begin(); it != table_.end();) {
    if (it->second.deadline_ms <= now_ms && !tick_one(it->first, it->second, now_ms)) {
      it = table_.erase(it);
    } else {
      ++it;
    }
  }
}

bool Arp::state(uint8_t iface, uint32_t ip, State* out) const {
  const auto it = table_.find(key(iface, ip - ifaces_[iface].network));
  if (it == table_.end()) return false;
  *out = it->second.state;
  return true;
}

}  // namespace sluice
