#include "nat_table.h"

#include <rte_hash_crc.h>

#include <netinet/in.h>

#include <atomic>
#include <numeric>

namespace sluice {

namespace {

L4Proto l4(uint8_t proto) noexcept {
  return proto == IPPROTO_TCP ? L4Proto::tcp : proto == IPPROTO_UDP ? L4Proto::udp : L4Proto::icmp;
}

// Each index its own seed, from the table's.
uint32_t index_seed(uint64_t seed, uint32_t which) noexcept {
  return static_cast<uint32_t>(seed >> 32) ^ static_cast<uint32_t>(seed) ^ (which * 0x9e3779b9u);
}

std::vector<uint32_t> all_indexes(uint32_t n) {
  std::vector<uint32_t> v(n);
  // Popped from the back: index 0 first.
  std::iota(v.rbegin(), v.rend(), 0u);
  return v;
}

}  // namespace

NatTotals& NatTotals::operator+=(const NatTable& t) noexcept {
  // What goes is read before what comes, so a gauge never reads negative.
  const NatCounters& c = t.counters();
  const uint64_t deleted = c.sessions_deleted.read();
  const uint64_t created = c.sessions_created.read();
  sessions += created - deleted;
  sessions_created += created;
  sessions_deleted += deleted;
  const uint64_t mappings_deleted = c.mappings_deleted.read();
  mappings += c.mappings_created.read() - mappings_deleted;
  const uint64_t clients_deleted = c.clients_deleted.read();
  clients += c.clients_created.read() - clients_deleted;
  const uint64_t released = c.blocks_released.read();
  const uint64_t allocated = c.blocks_allocated.read();
  blocks += allocated - released;
  blocks_allocated += allocated;
  blocks_released += released;
  hairpins += c.hairpins.read();
  capacity += t.session_capacity();
  return *this;
}

NatTable::NatTable(const NatParams& params, unsigned worker, unsigned workers, uint64_t now_ms)
    : params_(params),
      blocks_(params.pool, worker, workers),
      timers_(params.sessions, 8192, 1000, now_ms),
      sessions_(params.sessions),
      session_index_(2 * params.sessions, index_seed(params.seed, 1)),
      mappings_(params.sessions),
      mapping_index_(2 * params.sessions, index_seed(params.seed, 2)),
      clients_(params.clients),
      client_index_(params.clients, index_seed(params.seed, 3)),
      meters_(params.clients),
      filters_(params.endpoint_independent_filtering ? 0 : params.sessions),
      filter_index_(static_cast<uint32_t>(filters_.size()), index_seed(params.seed, 4)),
      free_sessions_(all_indexes(params.sessions)),
      free_mappings_(all_indexes(params.sessions)),
      free_clients_(all_indexes(params.clients)),
      free_filters_(all_indexes(static_cast<uint32_t>(filters_.size()))),
      random_(params.seed | 1) {
  if (!check_pool(params.pool, workers, &error_)) return;
  if (params.max_blocks == 0 || params.max_blocks > kMaxBlocksPerClient) {
    error_ = "max_blocks must be 1 to " + std::to_string(kMaxBlocksPerClient);
    return;
  }
  if (!session_index_.ok() || !mapping_index_.ok() || !client_index_.ok() || !filter_index_.ok()) {
    error_ = "cannot make the NAT indexes for " + std::to_string(params.sessions) +
             " sessions and " + std::to_string(params.clients) +
             " clients: out of DPDK memory (raise eal.memory-mb or lower nat.sessions)";
    return;
  }
}

NatTable::~NatTable() = default;

uint32_t NatTable::next_random() noexcept {
  // xorshift64*: unpredictable enough to pick a port within a block.
  random_ ^= random_ >> 12;
  random_ ^= random_ << 25;
  random_ ^= random_ >> 27;
  return static_cast<uint32_t>((random_ * 0x2545F4914F6CDD1DULL) >> 32);
}

void NatTable::lookup(const SessionKey* keys, uint32_t n, uint32_t* out) const noexcept {
  for (uint32_t done = 0; done < n; done += SessionIndex::kBurstMax) {
    session_index_.lookup(keys + done, std::min<uint32_t>(n - done, SessionIndex::kBurstMax),
                          sessions_.data(), out + done);
  }
}

uint64_t NatTable::timeout_ms(const Session& s) const noexcept {
  switch (s.proto) {
    case IPPROTO_TCP:
      return tcp_uses_established_timeout(s.tcp) ? params_.tcp_established_timeout_ms
                                                 : params_.tcp_transitory_timeout_ms;
    case IPPROTO_UDP:
      return params_.udp_timeout_ms;
    default:
      return params_.icmp_timeout_ms;
  }
}

void NatTable::tcp_segment(uint32_t index, bool from_inside, uint8_t flags,
                           uint64_t now_ms) noexcept {
  Session& s = sessions_[index];
  const TcpState next = tcp_next(s.tcp, from_inside, flags);
  if (next == s.tcp) return;
  const bool was_long = tcp_uses_established_timeout(s.tcp);
  gauges_.tcp_moved(s.tcp, next);
  s.tcp = next;
  // The wheel holds the session at its old due time; a shorter timeout must
  // not wait for it (an RST'd session would linger for hours).
  if (was_long && !tcp_uses_established_timeout(next)) {
    timers_.cancel(index);
    timers_.schedule(index, now_ms + timeout_ms(s));
  }
}

uint32_t NatTable::client_ip(uint32_t i) const noexcept {
  return std::atomic_ref<uint32_t>(const_cast<uint32_t&>(clients_[i].ip))
      .load(std::memory_order_relaxed);
}

uint32_t NatTable::find_or_add_client(uint32_t ip, Drop* why) noexcept {
  const uint32_t found = client_index_.lookup(ClientKey{ip}, clients_.data());
  if (found != kNoIndex) return found;
  if (free_clients_.empty()) {
    *why = Drop::nat_clients_full;
    return kNoIndex;
  }
  const uint32_t c = free_clients_.back();
  if (!client_index_.add(ClientKey{ip}, c)) {
    *why = Drop::nat_clients_full;
    return kNoIndex;
  }
  free_clients_.pop_back();
  clients_used_++;
  clients_high_ = std::max(clients_high_, c + 1);
  Client& cl = clients_[c];
  std::atomic_ref<uint32_t>(cl.ip).store(ip, std::memory_order_relaxed);
  cl.profile = params_.policing != nullptr ? params_.policing->profile_of(ip) : 0;
  if (params_.policing != nullptr) params_.policing->reset(meters_[c], cl.profile);
  cl.address = kNoAddress;
  cl.sessions = 0;
  cl.blocks = 0;
  counters_.clients_created.add();
  return c;
}

uint32_t NatTable::find_or_add_mapping(uint8_t proto, uint32_t client, uint32_t inside_ip,
                                       uint16_t inside_port, uint64_t now_ms, Drop* why) noexcept {
  const MappingKey inside{inside_ip, inside_port, proto, 0};
  const uint32_t found = mapping_index_.lookup(inside, mappings_.data());
  if (found != kNoIndex) return found;
  // A port from one of the client's blocks, newest first; then a new block,
  // on the client's address while it has one free (paired pooling).
  Client& cl = clients_[client];
  const L4Proto p = l4(proto);
  // UDP keeps the inside port's parity where it can (RFC 4787 REQ-4: RTP on
  // even ports, RTCP on the odd one above).
  const int parity = proto == IPPROTO_UDP ? inside_port & 1 : -1;
  uint32_t block = kNoBlock;
  uint16_t port = 0;
  for (uint32_t i = cl.blocks; i-- > 0 && port == 0;) {
    port = blocks_.take_port(cl.block[i], p, next_random(), parity);
    if (port != 0) block = cl.block[i];
  }
  if (port == 0) {
    if (cl.blocks == params_.max_blocks) {
      *why = Drop::nat_client_limit;
      return kNoIndex;
    }
    block = blocks_.allocate(client, cl.address, rte_hash_crc_4byte(inside_ip, 0));
    if (block == kNoBlock) {
      *why = Drop::nat_pool_exhausted;
      return kNoIndex;
    }
    counters_.blocks_allocated.add();
    block_event(NatEventType::block_allocate, block, cl.ip, now_ms);
    cl.block[cl.blocks++] = block;
    if (cl.address == kNoAddress) cl.address = blocks_.address_index(block);
    port = blocks_.take_port(block, p, next_random(), parity);
  }
  const uint32_t m = free_mappings_.back();
  Mapping& mp = mappings_[m];
  mp = Mapping{inside_ip, blocks_.address(block), inside_port, port, proto, client, block, 0};
  const MappingKey outside{mp.public_ip, port, proto, 1};
  if (!mapping_index_.add(inside, m)) {
    blocks_.put_port(block, p, port, now_ms);
    *why = Drop::nat_table_full;
    return kNoIndex;
  }
  if (!mapping_index_.add(outside, m)) {
    mapping_index_.remove(inside, m);
    blocks_.put_port(block, p, port, now_ms);
    *why = Drop::nat_table_full;
    return kNoIndex;
  }
  free_mappings_.pop_back();
  mappings_used_++;
  counters_.mappings_created.add();
  return m;
}

uint32_t NatTable::add_session(uint32_t mapping, uint32_t remote_ip, uint16_t remote_port,
                               uint64_t now_ms) noexcept {
  Mapping& mp = mappings_[mapping];
  const uint32_t s = free_sessions_.back();
  const SessionKey in{mp.inside_ip, remote_ip, mp.inside_port, remote_port, mp.proto, 0, 0};
  const SessionKey out{mp.public_ip, remote_ip, mp.public_port, remote_port, mp.proto, 1, 0};
  if (!session_index_.add(in, s)) return kNoIndex;
  if (!session_index_.add(out, s)) {
    session_index_.remove(in, s);
    return kNoIndex;
  }
  free_sessions_.pop_back();
  sessions_used_++;
  sessions_high_ = std::max(sessions_high_, s + 1);
  sessions_[s] = Session{.inside_ip = mp.inside_ip,
                         .public_ip = mp.public_ip,
                         .remote_ip = remote_ip,
                         .inside_port = mp.inside_port,
                         .public_port = mp.public_port,
                         .remote_port = remote_port,
                         .proto = mp.proto,
                         .tcp = TcpState::closed,
                         .mapping = mapping,
                         .client = mp.client,
                         .last_ms = static_cast<uint32_t>(now_ms),
                         .start_ms = static_cast<uint32_t>(now_ms),
                         .exported_ms = static_cast<uint32_t>(now_ms),
                         .packets_out = 0,
                         .packets_in = 0,
                         .bytes_out = 0,
                         .bytes_in = 0,
                         .policed = 0,
                         .tcp_flags = 0,
                         .profile = clients_[mp.client].profile};
  mp.sessions++;
  clients_[mp.client].sessions++;
  if (!filters_.empty()) filter_add(mapping, remote_ip, 1);
  timers_.schedule(s, now_ms + timeout_ms(sessions_[s]));
  gauges_.added(mp.proto, TcpState::closed);
  counters_.sessions_created.add();
  if (events_ != nullptr) events_->session(NatEventType::session_create, sessions_[s], now_ms, {});
  return s;
}

uint32_t NatTable::create_outbound(uint8_t proto, uint32_t inside_ip, uint16_t inside_port,
                                   uint32_t remote_ip, uint16_t remote_port, uint64_t now_ms,
                                   Drop* why) noexcept {
  // Two passes: the second after reclaiming everything already expired, so
  // nothing is refused while dead sessions still hold the room.
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) expire(now_ms, ~0u);
    if (!accountable()) {
      *why = Drop::nat_unaccountable;
      return kNoIndex;
    }
    if (free_sessions_.empty()) {
      *why = Drop::nat_table_full;
      continue;
    }
    const uint32_t c = find_or_add_client(inside_ip, why);
    if (c == kNoIndex) continue;
    if (clients_[c].sessions >= params_.max_sessions) {
      *why = Drop::nat_session_limit;
      continue;
    }
    const uint32_t m = find_or_add_mapping(proto, c, inside_ip, inside_port, now_ms, why);
    if (m == kNoIndex) {
      // A client made for this session and left without a block goes again.
      if (clients_[c].blocks == 0) release_block(kNoBlock, c, now_ms);
      continue;
    }
    const uint32_t s = add_session(m, remote_ip, remote_port, now_ms);
    if (s != kNoIndex) return s;
    *why = Drop::nat_table_full;
    if (mappings_[m].sessions == 0) delete_mapping(m, now_ms);
  }
  refused_event(*why, proto, inside_ip, now_ms);
  return kNoIndex;
}

uint32_t NatTable::create_inbound(uint8_t proto, uint32_t public_ip, uint16_t public_port,
                                  uint32_t remote_ip, uint16_t remote_port, bool may_open,
                                  uint64_t now_ms, Drop* why) noexcept {
  // Reclaim before looking: the catch-up may end the very mapping this
  // packet is for, which must then not take a session.
  if (free_sessions_.empty()) expire(now_ms, ~0u);
  const uint32_t m =
      mapping_index_.lookup(MappingKey{public_ip, public_port, proto, 1}, mappings_.data());
  if (m == kNoIndex) {
    *why = Drop::nat_no_mapping;
    return kNoIndex;
  }
  if (!params_.endpoint_independent_filtering && !filter_allows(m, remote_ip)) {
    *why = Drop::nat_filtered;
    return kNoIndex;
  }
  if (!may_open) {
    *why = Drop::nat_tcp_not_syn;
    return kNoIndex;
  }
  if (clients_[mappings_[m].client].sessions >= params_.max_sessions) {
    *why = Drop::nat_session_limit;
    refused_event(*why, proto, mappings_[m].inside_ip, now_ms);
    return kNoIndex;
  }
  if (!accountable()) {
    *why = Drop::nat_unaccountable;
    return kNoIndex;
  }
  const uint32_t s =
      free_sessions_.empty() ? kNoIndex : add_session(m, remote_ip, remote_port, now_ms);
  if (s == kNoIndex) {
    *why = Drop::nat_table_full;
    refused_event(*why, proto, mappings_[m].inside_ip, now_ms);
  }
  return s;
}

bool NatTable::filter_allows(uint32_t mapping, uint32_t remote_ip) noexcept {
  return filter_index_.lookup(FilterKey{mapping, remote_ip}, filters_.data()) != kNoIndex;
}

void NatTable::filter_add(uint32_t mapping, uint32_t remote_ip, int delta) noexcept {
  const FilterKey k{mapping, remote_ip};
  uint32_t f = filter_index_.lookup(k, filters_.data());
  if (f == kNoIndex) {
    // At most one filter per session, so there is always one free; and the
    // index has room for all of them.
    if (delta < 0 || free_filters_.empty()) return;
    f = free_filters_.back();
    if (!filter_index_.add(k, f)) return;
    free_filters_.pop_back();
    filters_[f] = Filter{mapping, remote_ip, 0};
  }
  filters_[f].sessions += delta;
  if (filters_[f].sessions == 0) {
    filter_index_.remove(k, f);
    free_filters_.push_back(f);
  }
}

void NatTable::delete_session(uint32_t index, uint64_t now_ms) noexcept {
  Session& s = sessions_[index];
  if (events_ != nullptr) {
    const bool ended =
        s.proto == IPPROTO_TCP && (s.tcp == TcpState::fin_both || s.tcp == TcpState::transitory);
    events_->session(NatEventType::session_delete, s, now_ms,
                     ended ? FlowEnd::end_of_flow : FlowEnd::idle_timeout);
  }
  const SessionKey in{s.inside_ip, s.remote_ip, s.inside_port, s.remote_port, s.proto, 0, 0};
  const SessionKey out{s.public_ip, s.remote_ip, s.public_port, s.remote_port, s.proto, 1, 0};
  session_index_.remove(in, index);
  session_index_.remove(out, index);
  if (!filters_.empty()) filter_add(s.mapping, s.remote_ip, -1);
  Mapping& mp = mappings_[s.mapping];
  clients_[s.client].sessions--;
  if (--mp.sessions == 0) delete_mapping(s.mapping, now_ms);
  gauges_.removed(s.proto, s.tcp);
  s.proto = 0;  // free, for listings
  free_sessions_.push_back(index);
  sessions_used_--;
  counters_.sessions_deleted.add();
}

void NatTable::delete_mapping(uint32_t index, uint64_t now_ms) noexcept {
  const Mapping& mp = mappings_[index];
  const MappingKey inside{mp.inside_ip, mp.inside_port, mp.proto, 0};
  const MappingKey outside{mp.public_ip, mp.public_port, mp.proto, 1};
  mapping_index_.remove(inside, index);
  mapping_index_.remove(outside, index);
  // The block starts its hold-down when this was its last port in use.
  blocks_.put_port(mp.block, l4(mp.proto), mp.public_port, now_ms);
  free_mappings_.push_back(index);
  mappings_used_--;
  counters_.mappings_deleted.add();
}

// Takes a released block off its client; a client with no block left is
// forgotten. block == kNoBlock: only the latter.
void NatTable::release_block(uint32_t block, uint32_t client, uint64_t now_ms) noexcept {
  Client& cl = clients_[client];
  for (uint32_t i = 0; i < cl.blocks && block != kNoBlock; i++) {
    if (cl.block[i] == block) {
      cl.block[i] = cl.block[--cl.blocks];
      counters_.blocks_released.add();
      block_event(NatEventType::block_release, block, cl.ip, now_ms);
      break;
    }
  }
  if (cl.blocks != 0) return;
  client_index_.remove(ClientKey{cl.ip}, client);
  std::atomic_ref<uint32_t>(cl.ip).store(0, std::memory_order_relaxed);
  for (ClientMeter& m : meters_[client].dir)
    m.clear_counters();
  free_clients_.push_back(client);
  clients_used_--;
  counters_.clients_deleted.add();
}

void NatTable::expire(uint64_t now_ms, unsigned budget) noexcept {
  const unsigned fired = timers_.advance(now_ms, budget, [&](uint32_t index) {
    const Session& s = sessions_[index];
    const uint32_t idle = static_cast<uint32_t>(now_ms) - s.last_ms;
    const uint64_t timeout = timeout_ms(s);
    if (idle < timeout) {
      timers_.schedule(index, now_ms + (timeout - idle));
    } else {
      delete_session(index, now_ms);
    }
  });
  counters_.expiry_visits.add(fired);
  blocks_.expire(now_ms, budget,
                 [&](uint32_t block, uint32_t client) { release_block(block, client, now_ms); });
}

void NatTable::attach_events(NatEvents* events, uint32_t active_timeout_ms) noexcept {
  events_ = events;
  active_timeout_ms_ = events != nullptr && active_timeout_ms != 0 ? active_timeout_ms : ~0u;
}

// Room for what a new session may queue: its port block and its creation.
bool NatTable::accountable() const noexcept {
  return events_ == nullptr || !events_->accountable() || events_->room(2);
}

void NatTable::flow_record(uint32_t index, uint64_t now_ms) noexcept {
  Session& s = sessions_[index];
  if (events_ != nullptr)
    events_->session(NatEventType::flow_update, s, now_ms, FlowEnd::active_timeout);
  s.exported_ms = static_cast<uint32_t>(now_ms);
  s.packets_out = s.packets_in = s.bytes_out = s.bytes_in = s.policed = 0;
}

void NatTable::block_event(NatEventType type, uint32_t block, uint32_t inside_ip,
                           uint64_t now_ms) noexcept {
  if (events_ == nullptr) return;
  const uint16_t first = blocks_.first_port(block);
  events_->block(type, inside_ip, blocks_.address(block), first,
                 static_cast<uint16_t>(first + params_.pool.block_size - 1), now_ms);
}

// RFC 8158: a client whose address has no free block left is "ports
// exhausted" on that address; one without an address "addresses exhausted".
void NatTable::refused_event(Drop why, uint8_t proto, uint32_t inside_ip,
                             uint64_t now_ms) noexcept {
  if (events_ == nullptr) return;
  switch (why) {
    case Drop::nat_client_limit:
    case Drop::nat_session_limit:
      events_->refused(NatEventType::quota_exceeded, QuotaLimit::per_user, proto, inside_ip, 0,
                       now_ms);
      return;
    case Drop::nat_table_full:
      events_->refused(NatEventType::quota_exceeded, QuotaLimit::sessions, proto, inside_ip, 0,
                       now_ms);
      return;
    case Drop::nat_clients_full:
      events_->refused(NatEventType::quota_exceeded, QuotaLimit::hosts, proto, inside_ip, 0,
                       now_ms);
      return;
    case Drop::nat_pool_exhausted: {
      const uint32_t c = client_index_.lookup(ClientKey{inside_ip}, clients_.data());
      const uint32_t address = c != kNoIndex ? clients_[c].address : kNoAddress;
      if (address == kNoAddress) {
        events_->refused(NatEventType::addresses_exhausted, QuotaLimit::none, proto, inside_ip, 0,
                         now_ms);
      } else {
        events_->refused(NatEventType::ports_exhausted, QuotaLimit::none, proto, inside_ip,
                         params_.pool.addresses[address], now_ms);
      }
      return;
    }
    default:
      return;
  }
}

void NatTable::end_all(uint64_t now_ms) noexcept {
  if (events_ == nullptr) return;
  events_->wait_when_full();
  for (const Session& s : sessions_) {
    if (s.proto != 0)
      events_->session(NatEventType::session_delete, s, now_ms, FlowEnd::forced_end);
  }
  for (const Client& cl : clients_) {
    for (uint32_t i = 0; i < cl.blocks; i++)
      block_event(NatEventType::block_release, cl.block[i], cl.ip, now_ms);
  }
}

}  // namespace sluice
