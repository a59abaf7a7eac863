// One interface's aggregate on the control thread: its member ports' link
// monitors, its LACP machines (lacp.h, or static mode) and the distribution
// set the workers read (dataplane/lag.h).
//
// poll() reads each member's link from the driver every link-poll-ms, passes
// changes that outlast down-delay or up-delay to LACP, ticks LACP's timers,
// and whenever the members carrying or taking in traffic change publishes a
// new set (the distributing and the collecting members) and frees replaced
// ones once the workers have moved on. on_frame() takes the
// slow protocols frames the workers punted. LACPDUs and marker responses go
// out on control's own TX queue of the member, from the aggregate's MAC.
//
// status() copies everything /proc/net/bonding would show, for telemetry
// (another thread): the control thread holds the same lock while it runs
// the machines.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "arp.h"
#include "config.h"
#include "interface.h"
#include "lacp.h"
#include "link_monitor.h"

namespace sluice {

struct MemberPort {
  uint16_t port;
  std::string name;
};

struct AggregateStatus {
  struct Member {
    MemberPort port;
    bool driver_link_up = false;  // as last read, before the delays
    bool distributing = false;
    lacp::MemberStatus lacp;
  };
  LagConfig config;
  lacp::Mac system{};
  bool has_partner = false;
  lacp::PortInfo partner;  // the LAG the aggregator carries
  int aggregator_member = -1;
  std::vector<Member> members;
};

class Aggregator {
 public:
  // The driver's link status of a port (rte_eth_link_get_nowait; tests inject).
  using LinkRead = std::function<bool(uint16_t port)>;

  Aggregator(const LagConfig& config, const rte_ether_addr& mac, std::vector<MemberPort> members,
             Lag& lag, ControlTx& tx, LinkRead read_link);

  // A slow protocols frame from a worker. Consumes m.
  void on_frame(uint16_t rx_port, rte_mbuf* m, uint64_t now_ms);
  // Link polling, LACP timers, publishing. Call every millisecond or so.
  void poll(uint64_t now_ms);

  AggregateStatus status() const;

 private:
  void publish_if_changed();

  LagConfig config_;
  std::vector<MemberPort> ports_;
  Lag& lag_;
  ControlTx& tx_;
  LinkRead read_link_;
  std::vector<LinkMonitor> links_;
  std::vector<bool> driver_up_;
  lacp::Aggregate lacp_;
  uint64_t published_generation_ = 0;
  uint64_t next_poll_ms_ = 0;
  mutable std::mutex mutex_;
};

}  // namespace sluice
