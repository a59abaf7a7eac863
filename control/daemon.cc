#include "daemon.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_random.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

#include "eal.h"
#include "forward.h"
#include "icmp.h"

namespace sluice {

namespace {

constexpr unsigned kMbufCache = 256;
// Flow rules per protocol sluice asks of an outside port at most.
constexpr size_t kMaxPortRules = 256;

PoolConfig pool_config(const NatConfig& nc) {
  PoolConfig pool;
  pool.addresses = nc.pool;
  pool.port_min = static_cast<uint16_t>(nc.port_min);
  pool.block_size = static_cast<uint16_t>(nc.block_size);
  pool.hold_down_ms = nc.hold_down * 1000;
  return pool;
}

struct Launch {
  WorkerContext* ctx;
  Pipeline* pipeline;
  const std::atomic<bool>* running;
};

int launch_worker(void* arg) {
  auto* l = static_cast<Launch*>(arg);
  worker_loop(*l->ctx, *l->pipeline, *l->running);
  return 0;
}

uint64_t tsc_to_ms(uint64_t tsc) {
  return tsc / (rte_get_tsc_hz() / 1000);
}

bool link_up(uint16_t port) {
  rte_eth_link link{};
  return rte_eth_link_get_nowait(port, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
}

// What is left in the pool's shared store, besides the lcores' caches (as
// rte_mempool_avail_count counts them; DPDK exports no reader of the store
// alone).
unsigned shared_free(const rte_mempool* mp) noexcept {
  unsigned cached = 0;
  if (mp->cache_size != 0) {
    for (unsigned i = 0; i < RTE_MAX_LCORE; i++)
      cached += mp->local_cache[i].len;
  }
  const unsigned avail = rte_mempool_avail_count(mp);
  return avail > cached ? avail - cached : 0;
}

}  // namespace

Daemon::~Daemon() {
  arp_.reset();  // frees held packets while the pool still exists
  for (auto& a : aggregators_)
    a.reset();
  for (const PortInfo& p : ports_)
    port_stop(p.id);
  for (rte_ring* r : punt_rings_)
    rte_ring_free(r);
  pipelines_.clear();
  handoffs_.clear();  // frees what they staged
  for (rte_ring* r : handoff_rings_) {
    void* obj = nullptr;
    while (r != nullptr && rte_ring_sc_dequeue(r, &obj) == 0)
      rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
    rte_ring_free(r);
  }
  exporter_.reset();  // stops its thread before the rings go
  for (rte_ring* r : event_rings_)
    rte_ring_free(r);
  nat_.clear();
  workers_.clear();
  rte_free(rcu_);
  rte_mempool_free(pool_);
}

void Daemon::setup() {
  const unsigned w = config_.workers;
  control_queue_ = static_cast<uint16_t>(w);
  const size_t member_ports = config_.inside.ports.size() + config_.outside.ports.size();
  unsigned mbufs = config_.mbufs;
  if (mbufs == 0) {
    // Every RX and TX descriptor of every queue full, every punt ring full,
    // every lcore's cache, and room for held and in-flight packets.
    mbufs = static_cast<unsigned>(member_ports * (w + 1) * (config_.rx_desc + config_.tx_desc) +
                                  w * config_.punt_ring + (w + 1) * kMbufCache + 4096);
  }
  pool_ = rte_pktmbuf_pool_create("sluice_mbufs", mbufs, kMbufCache, kMbufPrivSize,
                                  RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (pool_ == nullptr) {
    throw std::runtime_error(
        fmt::format("cannot create a pool of {} packet buffers: {} (raise eal.memory-mb or lower "
                    "dataplane.mbufs)",
                    mbufs, rte_strerror(rte_errno)));
  }
  rcu_ = static_cast<rte_rcu_qsbr*>(
      rte_zmalloc("sluice_rcu", rte_rcu_qsbr_get_memsize(w), RTE_CACHE_LINE_SIZE));
  if (rcu_ == nullptr || rte_rcu_qsbr_init(rcu_, w) != 0) {
    throw std::runtime_error("cannot create the workers' RCU state (raise eal.memory-mb)");
  }
  for (unsigned k = 0; k < w; k++) {
    rte_rcu_qsbr_thread_register(rcu_, k);
    rte_ring* r = rte_ring_create(fmt::format("punt{}", k).c_str(), config_.punt_ring,
                                  rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (r == nullptr)
      throw std::runtime_error("cannot create punt ring: " + std::string(rte_strerror(rte_errno)));
    punt_rings_.push_back(r);
    workers_.push_back(std::make_unique<WorkerContext>(k, r, rcu_));
    workers_.back()->icmp_limit =
        TokenBucket(config_.icmp_error_rate, config_.icmp_error_rate / 10 + 1, rte_get_tsc_hz());
  }
  setup_interface(Side::inside, config_.inside);
  setup_interface(Side::outside, config_.outside);
  setup_tables();
  setup_workers();
}

void Daemon::setup_interface(Side side, const InterfaceConfig& ic) {
  const auto index = static_cast<uint8_t>(side);
  Interface& ifc = tables_.ifaces[index];
  ifc.assign(side, ic.address, ic.prefix_len);
  ifc.vlan = ic.vlan;
  ifc.mtu = ic.mtu;

  PortSetup ps;
  ps.workers = static_cast<uint16_t>(config_.workers);
  ps.rx_desc = static_cast<uint16_t>(config_.rx_desc);
  ps.tx_desc = static_cast<uint16_t>(config_.tx_desc);
  ps.mtu = ic.mtu;
  ps.pool = pool_;
  const bool cgnat = config_.pipeline == "cgnat";
  ps.steer_by_source = side == Side::inside && cgnat;
  if (side == Side::outside && cgnat && config_.workers > 1) {
    ps.port_rules =
        port_block_rules(PortOwner(pool_config(config_.nat), config_.workers), kMaxPortRules);
  }
  for (const std::string& spec : ic.ports) {
    uint16_t id = 0;
    if (!port_by_name(device_name(spec), &id)) {
      throw std::runtime_error(fmt::format(
          "{}.port = '{}': DPDK found no such device (check the PCI address is bound to "
          "vfio-pci, or the vdev's arguments)",
          side_name(side), spec));
    }
    PortInfo info;
    std::string error;
    if (!port_start(id, ps, &info, &error)) throw std::runtime_error(error);
    if (ic.mac) rte_eth_dev_default_mac_addr_set(id, const_cast<rte_ether_addr*>(&*ic.mac));
    for (uint16_t q = 0; q < info.rx_queues; q++) {
      workers_[q % config_.workers]->rx.push_back(RxQueue{id, q, index});
    }
    for (auto& wk : workers_) {
      if (!wk->tx.add_port(id)) throw std::runtime_error("out of memory for TX buffers");
    }
    if (ps.steer_by_source && !info.steered && config_.workers > 1) {
      fmt::print(
          "sluice: note: port {} ({}) cannot steer clients by source address to their "
          "workers; about {} in {} packets from the inside will be handed between workers\n",
          info.name, info.driver, config_.workers - 1, config_.workers);
    }
    if (side == Side::outside && cgnat && config_.workers > 1) {
      if (info.rules_installed) {
        fmt::print(
            "sluice: port {} ({}) steers the outside to port-block owners with {} flow "
            "rules\n",
            info.name, info.driver, 2 * ps.port_rules.size());
      } else {
        fmt::print(
            "sluice: note: port {} ({}) cannot steer outside packets to their port block's "
            "worker ({}); about {} in {} packets from the outside will be handed between "
            "workers\n",
            info.name, info.driver,
            ps.port_rules.empty() ? "the pool's layout needs too many flow rules"
                                  : info.rules_error,
            config_.workers - 1, config_.workers);
      }
    }
    ifc.members.push_back(id);
    ports_.push_back(info);
  }
  ifc.mac = ic.mac ? *ic.mac : ports_[ports_.size() - ic.ports.size()].mac;
  setup_aggregate(side, ic);
}

void Daemon::setup_aggregate(Side side, const InterfaceConfig& ic) {
  Interface& ifc = tables_.ifaces[static_cast<size_t>(side)];
  std::vector<MemberPort> members;
  for (size_t i = 0; i < ifc.members.size(); i++) {
    const uint16_t id = ifc.members[i];
    // Every member receives for the aggregate's MAC (which all traffic comes
    // from) and, with LACP, for the slow protocols address. Drivers that
    // cannot are told by the traffic they miss; af_packet and tap see all.
    if (ifc.members.size() > 1) (void)rte_eth_dev_default_mac_addr_set(id, &ifc.mac);
    if (ic.lag.lacp) (void)rte_eth_allmulticast_enable(id);
    members.push_back({id, ic.ports[i]});
  }
  ifc.lag.use_rcu(rcu_);
  auto& agg = aggregators_[static_cast<size_t>(side)];
  agg = std::make_unique<Aggregator>(ic.lag, ifc.mac, std::move(members), ifc.lag, *this, link_up);
  // Static members with link up carry traffic from the first packet.
  agg->poll(tsc_to_ms(rte_rdtsc()));
}

void Daemon::setup_tables() {
  tables_.routes = std::make_unique<RouteTable>();
  tables_.clients = std::make_unique<PrefixSet>("sluice_clients");
  if (!tables_.routes->ok()) throw std::runtime_error(tables_.routes->error());
  if (!tables_.clients->ok()) throw std::runtime_error(tables_.clients->error());
  tables_.parse.allow_ip_options = config_.allow_ip_options;

  ArpTimers timers;
  timers.reachable_ms = config_.arp_reachable_ms;
  timers.retry_ms = config_.arp_retry_ms;
  timers.retries = config_.arp_retries;
  timers.queue = config_.arp_queue;
  timers.held = config_.arp_held != 0 ? config_.arp_held : std::max(1u, pool_->size / 8);
  arp_ = std::make_unique<Arp>(
      tables_.ifaces, timers, *this, counters_,
      TokenBucket(config_.arp_reply_rate, config_.arp_reply_rate / 10 + 1, rte_get_tsc_hz()));
  echo_limit_ = TokenBucket(config_.echo_rate, config_.echo_rate / 10 + 1, rte_get_tsc_hz());
  // A second's worth at once: a partner may send three LACPDUs in a second
  // when its state changes (802.1AX 6.4.16), besides markers.
  for (TokenBucket& b : slow_limits_)
    b = TokenBucket(config_.slow_protocols_rate, config_.slow_protocols_rate, rte_get_tsc_hz());

  std::string error;
  for (uint8_t i = 0; i < kInterfaces; i++) {
    const Interface& ifc = tables_.ifaces[i];
    if (!tables_.routes->add(ifc.network, ifc.prefix_len, next_hop::connected(i), &error)) {
      throw std::runtime_error("connected route: " + error);
    }
    const InterfaceConfig& ic = i == 0 ? config_.inside : config_.outside;
    for (const StaticNeighbour& n : ic.neighbours)
      arp_->add_static(i, n.ip, n.mac);
  }
  const uint64_t now_ms = tsc_to_ms(rte_rdtsc());
  for (const Route& r : config_.routes) {
    const uint8_t i = tables_.ifaces[0].on_link(r.gateway) ? 0 : 1;
    const Interface& ifc = tables_.ifaces[i];
    const auto host = static_cast<uint16_t>(r.gateway - ifc.network);
    if (!tables_.routes->add(r.prefix.network, r.prefix.len, next_hop::via(i, host), &error)) {
      throw std::runtime_error(
          fmt::format("routes.static {}/{}: {}", format_ip(r.prefix.network), r.prefix.len, error));
    }
    arp_->add_gateway(i, r.gateway, now_ms);
  }
  for (const Prefix& p : config_.clients) {
    if (!tables_.clients->insert(p.network, p.len, &error)) {
      throw std::runtime_error("inside.clients: " + error);
    }
  }
}

void Daemon::setup_workers() {
  if (config_.pipeline == "cgnat") {
    setup_nat();
    return;
  }
  for (auto& wk : workers_)
    pipelines_.push_back(make_forward_pipeline(tables_, *wk));
}

void Daemon::setup_nat() {
  const unsigned w = config_.workers;
  const NatConfig& nc = config_.nat;
  NatParams p;
  p.pool = pool_config(nc);
  p.sessions = (nc.sessions + w - 1) / w;
  p.clients = (nc.clients + w - 1) / w;
  p.max_blocks = nc.max_blocks;
  p.max_sessions = nc.max_sessions;
  p.endpoint_independent_filtering = nc.endpoint_independent_filtering;
  p.udp_timeout_ms = nc.udp_timeout * 1000;
  p.tcp_established_timeout_ms = nc.tcp_established_timeout * 1000;
  p.tcp_transitory_timeout_ms = nc.tcp_transitory_timeout * 1000;
  p.icmp_timeout_ms = nc.icmp_timeout * 1000;
  if (config_.policing.enabled) {
    policing_ = std::make_unique<PolicerProfiles>(config_.policing.profiles, rte_get_tsc_hz());
    if (!policing_->ok()) throw std::runtime_error(policing_->error());
    p.policing = policing_.get();
  }

  // ring[from * w + to], none from a worker to itself.
  handoff_rings_.assign(size_t{w} * w, nullptr);
  for (unsigned from = 0; from < w; from++) {
    for (unsigned to = 0; to < w; to++) {
      if (from == to) continue;
      rte_ring* r =
          rte_ring_create(fmt::format("handoff{}_{}", from, to).c_str(), config_.handoff_ring,
                          rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (r == nullptr) {
        throw std::runtime_error("cannot create handoff ring: " +
                                 std::string(rte_strerror(rte_errno)));
      }
      handoff_rings_[size_t{from} * w + to] = r;
    }
  }
  const uint64_t now_ms = tsc_to_ms(rte_rdtsc());
  for (unsigned k = 0; k < w; k++) {
    p.seed = rte_rand();
    nat_.push_back(std::make_unique<NatTable>(p, k, w, now_ms));
    if (!nat_.back()->ok()) throw std::runtime_error(nat_.back()->error());
    std::vector<rte_ring*> to(w, nullptr);
    std::vector<rte_ring*> from(w, nullptr);
    for (unsigned j = 0; j < w; j++) {
      to[j] = handoff_rings_[size_t{k} * w + j];
      from[j] = handoff_rings_[size_t{j} * w + k];
    }
    handoffs_.push_back(std::make_unique<Handoff>(to, from, workers_[k]->sink));
    CgnatWorker cw{*nat_.back(), *handoffs_.back(), {}, {}, w};
    cw.frag.entries = nc.fragments;
    cw.frag.held = nc.fragments_held;
    cw.frag.timeout_ms = nc.fragment_timeout_ms;
    cw.frag.seed = rte_rand();
    cw.nat.exhausted_icmp = nc.exhausted_icmp;
    cw.nat.inside_address = config_.inside.address;
    cw.nat.hz = rte_get_tsc_hz();
    if (policing_ != nullptr) {
      policers_.push_back(std::make_unique<Policer>(*policing_));
      cw.nat.policer = policers_.back().get();
    }
    pipelines_.push_back(make_cgnat_pipeline(tables_, *workers_[k], cw));
  }
  if (policing_ != nullptr) {
    std::vector<const Policer*> policers;
    std::vector<const NatTable*> tables;
    for (unsigned k = 0; k < w; k++) {
      policers.push_back(policers_[k].get());
      tables.push_back(nat_[k].get());
    }
    policing_stats_ = std::make_unique<PolicingStats>(*policing_, policers, tables);
  }
  if (config_.exporting.enabled()) setup_export(now_ms);
}

void Daemon::setup_export(uint64_t now_ms) {
  const ExportConfig& ec = config_.exporting;
  std::vector<const NatEvents*> producers;
  for (unsigned k = 0; k < nat_.size(); k++) {
    rte_ring* r = rte_ring_create_elem(fmt::format("nat_events{}", k).c_str(), sizeof(NatEvent),
                                       ec.ring, rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (r == nullptr) {
      throw std::runtime_error(fmt::format(
          "export.ring = {}: cannot create the NAT event ring: {} (raise eal.memory-mb)", ec.ring,
          rte_strerror(rte_errno)));
    }
    event_rings_.push_back(r);
    events_.push_back(std::make_unique<NatEvents>(r, ec.accountability, ec.refusal_rate));
    producers.push_back(events_.back().get());
    nat_[k]->attach_events(events_.back().get(), ec.active_timeout * 1000);
  }
  ExporterOptions o;
  o.collectors = ec.collectors;
  o.ipfix.domain = ec.observation_domain;
  o.ipfix.max_message = ec.mtu - 28;  // IPv4 and UDP headers
  o.ipfix.destinations = ec.destinations;
  o.ipfix.flows = ec.flows;
  o.template_refresh_s = ec.template_refresh;
  o.log.path = ec.log;
  o.log.sessions = ec.log_sessions;
  o.log.blocks = ec.log_blocks;
  o.log.destinations = ec.destinations;
  // The workers' clock is the TSC in ms; the log and IPFIX want the wall clock.
  const auto wall_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  o.wall_offset_ms = wall_ms - static_cast<int64_t>(now_ms);
  exporter_ = std::make_unique<Exporter>(o, event_rings_, producers);
}

void Daemon::send(uint16_t port, rte_mbuf* m) noexcept {
  if (port == kNoMember) {
    counters_.no_member.add();
    rte_pktmbuf_free(m);
    return;
  }
  if (rte_eth_tx_burst(port, control_queue_, &m, 1) != 1) {
    counters_.tx_failed.add();
    rte_pktmbuf_free(m);
  }
}

void Daemon::answer_echo(rte_mbuf* m, uint64_t now_tsc) {
  const PacketMeta& pm = meta(m);
  if (!echo_limit_.take(now_tsc)) {
    counters_.echo_rate_limited.add();
    rte_pktmbuf_free(m);
    return;
  }
  const Interface& ifc = tables_.ifaces[pm.iface];
  const auto* eth = rte_pktmbuf_mtod(m, const rte_ether_hdr*);
  const rte_ether_addr requester = eth->src_addr;
  rte_pktmbuf_adj(m, l2_len_of(m));
  const auto* ip = rte_pktmbuf_mtod(m, const rte_ipv4_hdr*);
  const uint32_t total = rte_be_to_cpu_16(ip->total_length);
  if (rte_pktmbuf_pkt_len(m) > total) rte_pktmbuf_trim(m, rte_pktmbuf_pkt_len(m) - total);
  make_echo_reply(m);
  push_l2(m, ifc, requester, RTE_ETHER_TYPE_IPV4);
  counters_.echo_replies.add();
  send(pm.rx_port, m);
}

void Daemon::handle_punt(rte_mbuf* m, uint64_t now_tsc, uint64_t now_ms) {
  counters_.punts_received.add();
  const PacketMeta& pm = meta(m);
  switch (pm.punt) {
    case Punt::arp:
      arp_->on_frame(pm.iface, pm.rx_port, m, now_ms, now_tsc);
      return;
    case Punt::icmp_echo:
      answer_echo(m, now_tsc);
      return;
    case Punt::resolve:
      arp_->on_unresolved(m, now_ms);
      return;
    case Punt::slow_protocols:
      if (pm.rx_port >= slow_limits_.size() || !slow_limits_[pm.rx_port].take(now_tsc)) {
        counters_.lacp_rate_limited.add();
        rte_pktmbuf_free(m);
        return;
      }
      aggregators_[pm.iface]->on_frame(pm.rx_port, m, now_ms);
      return;
    case Punt::none:
      break;
  }
  rte_pktmbuf_free(m);
}

void Daemon::run(std::atomic<bool>& running) {
  if (exporter_) exporter_->start();
  workers_running_.store(true, std::memory_order_relaxed);
  std::vector<Launch> launches(workers_.size());
  unsigned k = 0;
  unsigned lcore = 0;
  RTE_LCORE_FOREACH_WORKER(lcore) {
    if (k == workers_.size()) break;
    launches[k] = Launch{workers_[k].get(), pipelines_[k].get(), &workers_running_};
    if (rte_eal_remote_launch(launch_worker, &launches[k], lcore) != 0) break;
    k++;
  }
  if (k != workers_.size()) {
    workers_running_.store(false, std::memory_order_relaxed);
    rte_eal_mp_wait_lcore();  // the ones already running stop before ports close
    throw std::runtime_error(fmt::format("could launch only {} of {} workers", k, workers_.size()));
  }

  arp_->announce();
  rte_mbuf* burst[kBurst];
  uint64_t next_sample = 0;
  uint64_t dry_ms = UINT64_MAX;
  while (running.load(std::memory_order_relaxed)) {
    const uint64_t now_tsc = rte_rdtsc();
    const uint64_t now_ms = tsc_to_ms(now_tsc);
    // The shared pool, not the lcores' caches: a worker whose cache is empty
    // gets nothing from another lcore's.
    if (now_ms != dry_ms && shared_free(pool_) < kBurst) {
      counters_.mbufs_exhausted_ms.add();
      dry_ms = now_ms;
    }
    unsigned handled = 0;
    for (rte_ring* r : punt_rings_) {
      const unsigned n =
          rte_ring_sc_dequeue_burst(r, reinterpret_cast<void**>(burst), kBurst, nullptr);
      for (unsigned i = 0; i < n; i++)
        handle_punt(burst[i], now_tsc, now_ms);
      handled += n;
    }
    arp_->tick(now_ms);
    if (policing_stats_ != nullptr && now_ms >= next_sample) {
      policing_stats_->sample(now_tsc, rte_get_tsc_hz());
      next_sample = now_ms + 1000;
    }
    for (auto& a : aggregators_)
      a->poll(now_ms);
    if (handled == 0) rte_delay_us_sleep(1000);
  }

  workers_running_.store(false, std::memory_order_relaxed);
  rte_eal_mp_wait_lcore();
  // Packets the workers handed each other in their last round are finished
  // here, on their owners' pipelines and TX queues (the workers are gone),
  // so none is lost uncounted.
  for (unsigned round = 0; round < 8; round++) {
    unsigned moved = 0;
    for (size_t k = 0; k < pipelines_.size(); k++) {
      moved += pipelines_[k]->poll(rte_rdtsc());
      workers_[k]->tx.flush();
    }
    if (moved == 0) break;
  }
  // Whatever the workers punted before they stopped is released, not leaked.
  for (rte_ring* r : punt_rings_) {
    void* obj = nullptr;
    while (rte_ring_sc_dequeue(r, &obj) == 0)
      rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
  }
  // The log closes what it opened: every session and block still held ends
  // here (forced end), and the exporter writes and sends all of it.
  if (exporter_) {
    const uint64_t now_ms = tsc_to_ms(rte_rdtsc());
    for (auto& table : nat_)
      table->end_all(now_ms);
    exporter_->stop();
  }
}

void Daemon::print_summary() const {
  WorkerTotals t;
  for (const auto& wk : workers_)
    t += wk->counters;
  fmt::print(
      "sluice: workers rx {} tx {} forwarded {} punted {} handed-off {} handed-in {} icmp-errors "
      "{} icmp-suppressed {} fragments-made {}\n",
      t.rx_packets, t.tx_packets, t.forwarded, t.punted, t.handed_off, t.handed_in,
      t.icmp_errors_sent, t.icmp_errors_suppressed, t.fragments_made);
  for (size_t i = 0; i < kDropCount; i++) {
    if (t.drops[i] != 0) fmt::print("sluice: drop {:<22} {}\n", kDropInfo[i].name, t.drops[i]);
  }
  if (!nat_.empty()) {
    NatTotals n;
    for (const auto& table : nat_)
      n += *table;
    fmt::print(
        "sluice: nat sessions {} (created {} expired {}), mappings {}, clients {}, port blocks {} "
        "(allocated {} released {}), hairpins {}\n",
        n.sessions, n.sessions_created, n.sessions_deleted, n.mappings, n.clients, n.blocks,
        n.blocks_allocated, n.blocks_released, n.hairpins);
  }
  if (policing_stats_ != nullptr) {
    policing_stats_->sample(rte_rdtsc(), rte_get_tsc_hz());
    for (const ProfileFigures& f : policing_stats_->profiles()) {
      for (unsigned d = 0; d < kDirections; d++) {
        fmt::print(
            "sluice: policing {} {} conformed {} ({} bytes) exceeded {} ({} bytes) violated {} "
            "({} bytes)\n",
            f.name, d == 0 ? "upload" : "download", f.packets[d][0], f.bytes[d][0], f.packets[d][1],
            f.bytes[d][1], f.packets[d][2], f.bytes[d][2]);
      }
    }
  }
  if (exporter_) {
    const ExportTotals e = exporter_->totals();
    fmt::print(
        "sluice: export events {} (lost to full rings {}, refusals suppressed {}), ipfix "
        "messages {} records {} (send errors {}, records lost {}), templates {}, log lines {} "
        "(lost {}, write errors {}, reopens {})\n",
        e.events, e.ring_full, e.refusals_suppressed, e.messages, e.records, e.send_errors,
        e.records_lost, e.templates_sent, e.log_lines, e.log_lines_lost, e.log_write_errors,
        e.log_reopens);
  }
  const ControlCounters& c = counters_;
  fmt::print(
      "sluice: control arp requests in {} out {}, replies in {} out {}, resolved {} failed {}, "
      "held for arp sent {} dropped {}, echo replies {} (rate-limited {}), lacp rate-limited {}\n",
      c.arp_requests_in.read(), c.arp_requests_out.read(), c.arp_replies_in.read(),
      c.arp_replies_out.read(), c.neighbours_resolved.read(), c.neighbours_failed.read(),
      c.resolve_sent.read(), c.resolve_dropped.read(), c.echo_replies.read(),
      c.echo_rate_limited.read(), c.lacp_rate_limited.read());
  for (const PortInfo& p : ports_) {
    rte_eth_stats s{};
    if (rte_eth_stats_get(p.id, &s) != 0) continue;
    fmt::print("sluice: port {} rx {} tx {} missed {} rx-errors {} tx-errors {} no-mbuf {}\n",
               p.name, s.ipackets, s.opackets, s.imissed, s.ierrors, s.oerrors, s.rx_nombuf);
  }
}

}  // namespace sluice
