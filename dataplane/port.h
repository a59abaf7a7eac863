// Member ports: opening, queue layout and start-up.
//
// Queue layout (ARCHITECTURE.md): W workers, RX queues spread so that queue q
// is polled by worker q mod W, TX queue k for worker k and TX queue W for the
// control thread. Most drivers get min(W, max) RX queues, with RSS on the IPv4
// addresses when there is more than one (on the source address alone, the way
// steering.h assigns clients to workers, when asked and the driver can). af_packet opens one socket
// per queue pair in a single fanout group; every socket receives a share, so every RX queue it has
// must be polled: sluice gives it W + 1 pairs and polls them all. A tap
// (net_tap) needs as many RX queues as TX queues: W + 1 too, all polled.
#pragma once

#include <rte_ether.h>
#include <rte_mempool.h>

#include <cstdint>
#include <string>
#include <vector>

#include "steering.h"

namespace sluice {

struct PortSetup {
  uint16_t workers = 1;
  uint16_t rx_desc = 1024;
  uint16_t tx_desc = 1024;
  uint16_t mtu = 1500;
  rte_mempool* pool = nullptr;
  // RSS on the source address with sluice's key and redirection table, so
  // each client arrives at its owner's queue (steering.h); where the driver
  // cannot, RSS as usual.
  bool steer_by_source = false;
  // Flow rules (rte_flow) sending TCP and UDP packets to the queue of the
  // worker owning their destination port's block (steering.h); worker w's
  // queue is w. None: RSS as usual.
  std::vector<PortRule> port_rules;
};

struct PortInfo {
  uint16_t id = 0;
  std::string name;
  std::string driver;
  uint16_t rx_queues = 0;
  uint16_t tx_queues = 0;
  bool rss = false;
  bool steered = false;  // steer_by_source asked and done
  // port_rules asked: installed, or why not (the driver's word).
  bool rules_installed = false;
  std::string rules_error;
  rte_ether_addr mac{};
};

// Configures and starts the port. On failure returns false with *error naming
// the port and the reason (the driver cannot give what sluice needs).
bool port_start(uint16_t port, const PortSetup& setup, PortInfo* info, std::string* error);

// Finds a probed port by its device name (a PCI address or a vdev name).
bool port_by_name(const std::string& name, uint16_t* port);

void port_stop(uint16_t port) noexcept;

}  // namespace sluice
