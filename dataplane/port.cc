#include "port.h"

#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_flow.h>

#include <netinet/in.h>

#include <fmt/format.h>

#include <cstring>
#include <vector>

#include "steering.h"

namespace sluice {

namespace {

// Every rule for TCP and UDP, or none (and why).
bool install_rules(uint16_t port, const std::vector<PortRule>& rules, uint16_t rx_queues,
                   std::string* why) {
  rte_flow_error error{};
  for (const uint8_t proto : {IPPROTO_TCP, IPPROTO_UDP}) {
    for (const PortRule& r : rules) {
      if (r.worker >= rx_queues) {
        *why = fmt::format("{} RX queues, no queue for worker {}", rx_queues, r.worker);
        rte_flow_flush(port, &error);
        return false;
      }
      rte_flow_attr attr{};
      attr.ingress = 1;
      rte_flow_item_ipv4 ip_spec{};
      rte_flow_item_ipv4 ip_mask{};
      ip_spec.hdr.next_proto_id = proto;
      ip_mask.hdr.next_proto_id = 0xff;
      // TCP and UDP headers both start with the ports.
      rte_flow_item_tcp tcp_spec{};
      rte_flow_item_tcp tcp_mask{};
      rte_flow_item_udp udp_spec{};
      rte_flow_item_udp udp_mask{};
      tcp_spec.hdr.dst_port = udp_spec.hdr.dst_port = rte_cpu_to_be_16(r.value);
      tcp_mask.hdr.dst_port = udp_mask.hdr.dst_port = rte_cpu_to_be_16(r.mask);
      const bool tcp = proto == IPPROTO_TCP;
      const rte_flow_item pattern[] = {
          {.type = RTE_FLOW_ITEM_TYPE_ETH, .spec = nullptr, .last = nullptr, .mask = nullptr},
          {.type = RTE_FLOW_ITEM_TYPE_IPV4, .spec = &ip_spec, .last = nullptr, .mask = &ip_mask},
          {.type = tcp ? RTE_FLOW_ITEM_TYPE_TCP : RTE_FLOW_ITEM_TYPE_UDP,
           .spec = tcp ? static_cast<const void*>(&tcp_spec) : &udp_spec,
           .last = nullptr,
           .mask = tcp ? static_cast<const void*>(&tcp_mask) : &udp_mask},
          {.type = RTE_FLOW_ITEM_TYPE_END, .spec = nullptr, .last = nullptr, .mask = nullptr},
      };
      const rte_flow_action_queue queue{.index = static_cast<uint16_t>(r.worker)};
      const rte_flow_action actions[] = {
          {.type = RTE_FLOW_ACTION_TYPE_QUEUE, .conf = &queue},
          {.type = RTE_FLOW_ACTION_TYPE_END, .conf = nullptr},
      };
      if (rte_flow_validate(port, &attr, pattern, actions, &error) != 0 ||
          rte_flow_create(port, &attr, pattern, actions, &error) == nullptr) {
        *why = error.message != nullptr ? error.message : rte_strerror(rte_errno);
        rte_flow_flush(port, &error);
        return false;
      }
    }
  }
  return true;
}

bool fail(const PortInfo& p, const std::string& what, int rc, std::string* error) {
  *error =
      fmt::format("port {} ({}): {}: {}", p.name, p.driver, what, rte_strerror(rc < 0 ? -rc : rc));
  return false;
}

// The redirection table steering.h expects; false when the driver refuses it
// (the port then spreads by its default table, and handoff does the rest).
bool set_reta(uint16_t port, uint16_t size, uint16_t queues) {
  std::vector<rte_eth_rss_reta_entry64> reta(size / RTE_ETH_RETA_GROUP_SIZE);
  for (uint32_t i = 0; i < size; i++) {
    rte_eth_rss_reta_entry64& group = reta[i / RTE_ETH_RETA_GROUP_SIZE];
    group.mask |= uint64_t{1} << (i % RTE_ETH_RETA_GROUP_SIZE);
    group.reta[i % RTE_ETH_RETA_GROUP_SIZE] = rss_reta_entry(i, queues);
  }
  return rte_eth_dev_rss_reta_update(port, reta.data(), size) == 0;
}

}  // namespace

bool port_by_name(const std::string& name, uint16_t* port) {
  return rte_eth_dev_get_port_by_name(name.c_str(), port) == 0;
}

bool port_start(uint16_t port, const PortSetup& setup, PortInfo* info_out, std::string* error) {
  PortInfo& p = *info_out;
  p.id = port;
  char name[RTE_ETH_NAME_MAX_LEN];
  if (rte_eth_dev_get_name_by_port(port, name) == 0) p.name = name;
  rte_eth_dev_info info{};
  int rc = rte_eth_dev_info_get(port, &info);
  if (rc != 0) return fail(p, "cannot read device info", rc, error);
  p.driver = info.driver_name;

  const uint16_t tx_needed = setup.workers + 1;
  if (info.max_tx_queues < tx_needed) {
    *error = fmt::format(
        "port {} ({}): driver offers {} TX queue(s), sluice needs {} (one per worker and one "
        "for the control thread)",
        p.name, p.driver, info.max_tx_queues, tx_needed);
    return false;
  }
  const bool fanout = p.driver == "net_af_packet";
  // A tap's queues are pairs (one file descriptor each): as many RX as TX.
  const bool paired = p.driver == "net_tap";
  p.rx_queues = fanout   ? info.max_rx_queues
                : paired ? tx_needed
                         : std::min<uint16_t>(setup.workers, info.max_rx_queues);
  p.tx_queues = tx_needed;

  rte_eth_conf conf{};
  uint8_t key[kRssKeyLen];
  if (p.rx_queues > 1 && (info.flow_type_rss_offloads & RTE_ETH_RSS_IP) != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads & RTE_ETH_RSS_IP;
    p.rss = true;
    p.steered = setup.steer_by_source && !fanout && info.hash_key_size == kRssKeyLen &&
                info.reta_size >= 64 && info.reta_size % RTE_ETH_RETA_GROUP_SIZE == 0 &&
                (info.flow_type_rss_offloads & RTE_ETH_RSS_L3_SRC_ONLY);
    if (p.steered) {
      std::memcpy(key, kRssKey, sizeof key);
      conf.rx_adv_conf.rss_conf.rss_key = key;
      conf.rx_adv_conf.rss_conf.rss_key_len = kRssKeyLen;
      conf.rx_adv_conf.rss_conf.rss_hf =
          (info.flow_type_rss_offloads & RTE_ETH_RSS_IP) | RTE_ETH_RSS_L3_SRC_ONLY;
    }
  }
  if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) {
    conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
  }
  if (info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
  }
  rc = rte_eth_dev_configure(port, p.rx_queues, p.tx_queues, &conf);
  if (rc != 0) return fail(p, "configure", rc, error);

  uint16_t rx_desc = setup.rx_desc;
  uint16_t tx_desc = setup.tx_desc;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_desc, &tx_desc);
  if (rc != 0) return fail(p, "adjust descriptors", rc, error);
  const int socket = rte_eth_dev_socket_id(port);
  for (uint16_t q = 0; q < p.rx_queues; q++) {
    rte_eth_rxconf rxconf = info.default_rxconf;
    rxconf.offloads = conf.rxmode.offloads;
    rc = rte_eth_rx_queue_setup(port, q, rx_desc, socket, &rxconf, setup.pool);
    if (rc != 0) return fail(p, fmt::format("RX queue {}", q), rc, error);
  }
  for (uint16_t q = 0; q < p.tx_queues; q++) {
    rte_eth_txconf txconf = info.default_txconf;
    txconf.offloads = conf.txmode.offloads;
    rc = rte_eth_tx_queue_setup(port, q, tx_desc, socket, &txconf);
    if (rc != 0) return fail(p, fmt::format("TX queue {}", q), rc, error);
  }
  // Virtual devices often cannot change MTU; the interface MTU is enforced by
  // the pipeline either way.
  (void)rte_eth_dev_set_mtu(port, setup.mtu);
  rc = rte_eth_macaddr_get(port, &p.mac);
  if (rc != 0) return fail(p, "read MAC address", rc, error);
  rc = rte_eth_dev_start(port);
  if (rc != 0) return fail(p, "start", rc, error);
  if (p.steered) p.steered = set_reta(port, info.reta_size, p.rx_queues);
  if (!setup.port_rules.empty()) {
    p.rules_installed = install_rules(port, setup.port_rules, p.rx_queues, &p.rules_error);
  }
  return true;
}

void port_stop(uint16_t port) noexcept {
  (void)rte_eth_dev_stop(port);
  (void)rte_eth_dev_close(port);
}

}  // namespace sluice
