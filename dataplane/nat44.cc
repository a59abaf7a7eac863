#include "nat44.h"

#include <rte_tcp.h>

#include <netinet/in.h>

#include <algorithm>

#include "icmp.h"
#include "nat_headers.h"
#include "packet.h"
#include "steering.h"

namespace sluice {

namespace {

constexpr uint8_t kIcmpCodeAdminProhibited = 13;

// The session key of a packet as the NAT sees it: ICMP queries are keyed on
// the identifier alone (the remote "port" is 0).
SessionKey key_of(const NatTuple& t, bool outside) noexcept {
  const bool icmp = t.proto == IPPROTO_ICMP;
  if (outside) {
    return {t.dst, t.src, t.dport, icmp ? uint16_t{0} : t.sport, t.proto, 1, 0};
  }
  return {t.src, t.dst, t.sport, icmp ? uint16_t{0} : t.dport, t.proto, 0, 0};
}

// An ICMP error is keyed on the datagram it quotes, which went the other way.
SessionKey error_key_of(const NatTuple& t, bool outside) noexcept {
  const bool icmp = t.proto == IPPROTO_ICMP;
  if (outside) {
    return {t.src, t.dst, t.sport, icmp ? uint16_t{0} : t.dport, t.proto, 1, 0};
  }
  return {t.dst, t.src, t.dport, icmp ? uint16_t{0} : t.sport, t.proto, 0, 0};
}

// Why a packet of this kind is dropped when it has no session and may not
// open one; `flow` for a flow.
Drop no_session(NatKind kind, Drop flow) noexcept {
  switch (kind) {
    case NatKind::tail:
      return Drop::nat_frag_no_session;
    case NatKind::icmp_error:
      return Drop::nat_icmp_no_session;
    case NatKind::truncated:
      return Drop::nat_truncated;
    case NatKind::unsupported:
      return Drop::nat_unsupported;
    case NatKind::flow:
      break;
  }
  return flow;
}

bool opens_tcp(uint8_t flags) noexcept {
  return (flags & (RTE_TCP_SYN_FLAG | RTE_TCP_RST_FLAG)) == RTE_TCP_SYN_FLAG;
}

}  // namespace

Nat44::Nat44(NatTable& table, const Nat44Options& options, unsigned worker, unsigned workers,
             PacketSink& sink, TokenBucket& icmp_limit)
    : table_(table),
      options_(options),
      pool_(table.params().pool.addresses),
      pool_low_(*std::min_element(table.params().pool.addresses.begin(),
                                  table.params().pool.addresses.end())),
      pool_span_(*std::max_element(table.params().pool.addresses.begin(),
                                   table.params().pool.addresses.end()) -
                 pool_low_),
      port_owner_(table.params().pool, workers),
      worker_(worker),
      workers_(workers),
      ticks_per_ms_(options.hz >= 1000 ? options.hz / 1000 : 1),
      sink_(sink),
      icmp_limit_(icmp_limit) {}

unsigned Nat44::owner(const rte_mbuf* m, bool inside) const noexcept {
  if (workers_ == 1) return 0;
  if (inside) return client_owner(ip_src(rte_pktmbuf_mtod(m, const rte_ipv4_hdr*)), workers_);
  const NatTuple t = nat_tuple(m);
  uint16_t port = 0;
  switch (t.kind) {
    case NatKind::flow:
    case NatKind::tail:
      port = t.dport;
      break;
    case NatKind::icmp_error:
      port = t.sport;  // the quoted datagram left from our public port
      break;
    default:
      return worker_;  // dropped here, counted here
  }
  const unsigned w = port_owner_.owner(port);
  return w < workers_ ? w : worker_;
}

void Nat44::refuse(rte_mbuf* m, Drop why, uint64_t now, rte_mbuf** kept,
                   uint16_t* n_kept) noexcept {
  sink_.counters.drop(why);
  const bool quota = why == Drop::nat_client_limit || why == Drop::nat_session_limit ||
                     why == Drop::nat_pool_exhausted;
  if (!quota || !options_.exhausted_icmp ||
      !icmp_error_allowed(rte_pktmbuf_mtod(m, const rte_ipv4_hdr*))) {
    rte_pktmbuf_free(m);
    return;
  }
  if (!icmp_limit_.take(now)) {
    sink_.counters.icmp_errors_suppressed.add();
    rte_pktmbuf_free(m);
    return;
  }
  if (!make_icmp_error(m, kIcmpDestUnreachable, kIcmpCodeAdminProhibited, options_.inside_address,
                       0)) {
    rte_pktmbuf_free(m);
    return;
  }
  sink_.counters.icmp_errors_sent.add();
  meta(m).flags = kMetaLocal;
  kept[(*n_kept)++] = m;
}

bool Nat44::police(rte_mbuf* m, Session& s, Direction d, uint64_t now) noexcept {
  if (options_.policer == nullptr) return true;
  PolicerColour c;
  if (options_.policer->pass(m, table_.meters(s.client), s.profile, d, now, &c)) return true;
  sink_.drop(m, c == PolicerColour::violate ? Drop::policer_violate : Drop::policer_exceed);
  s.policed++;
  return false;
}

bool Nat44::translate(rte_mbuf* m, const NatTuple& t, uint32_t si, bool outward, uint64_t now,
                      uint64_t now_ms) noexcept {
  Session& s = table_.session(si);
  if (t.kind == NatKind::icmp_error) {
    // The error must come from (or go to) the session's own client.
    const auto* ip = rte_pktmbuf_mtod(m, const rte_ipv4_hdr*);
    if (outward ? ip_src(ip) != s.inside_ip : ip_dst(ip) != s.public_ip) {
      sink_.drop(m, Drop::nat_icmp_no_session);
      return false;
    }
  }
  // Upload is policed before NAT changes anything, download after; the
  // session's flow counts what went on.
  if (outward && !police(m, s, Direction::upload, now)) return false;
  if (t.kind == NatKind::icmp_error) {
    if (outward) {
      translate_icmp_error(m, true, s.public_ip, s.public_port);
    } else {
      translate_icmp_error(m, false, s.inside_ip, s.inside_port);
    }
    return outward || police(m, s, Direction::download, now);
  }
  s.last_ms = static_cast<uint32_t>(now_ms);
  const bool tcp = t.proto == IPPROTO_TCP && t.kind == NatKind::flow;
  if (tcp) table_.tcp_segment(si, outward, t.tcp_flags, now_ms);
  if (outward) {
    rewrite_source(m, t, s.public_ip, s.public_port);
  } else {
    rewrite_destination(m, t, s.inside_ip, s.inside_port);
    if (!police(m, s, Direction::download, now)) return false;
  }
  table_.account(si, outward,
                 rte_be_to_cpu_16(rte_pktmbuf_mtod(m, const rte_ipv4_hdr*)->total_length),
                 tcp ? t.tcp_flags : 0, now_ms);
  return true;
}

void Nat44::translate_hits(rte_mbuf** pkts, const NatTuple* t, const SessionKey* keys,
                           uint32_t* index, bool* live, uint16_t n, bool outward,
                           uint64_t now) noexcept {
  const uint64_t now_ms = ms(now);
  table_.lookup(keys, n, index);
  if (options_.policer != nullptr) {
    // The sessions are in cache now; their clients' meters are not.
    const Direction d = outward ? Direction::upload : Direction::download;
    for (uint16_t i = 0; i < n; i++) {
      if (index[i] != kNoIndex) table_.prefetch_meter(table_.session(index[i]).client, d);
    }
  }
  for (uint16_t i = 0; i < n; i++) {
    if (live[i] && index[i] != kNoIndex)
      live[i] = translate(pkts[i], t[i], index[i], outward, now, now_ms);
  }
}

uint16_t Nat44::in2out(rte_mbuf** pkts, uint16_t n, uint64_t now, rte_mbuf** hairpin,
                       uint16_t* hairpins) noexcept {
  const uint64_t now_ms = ms(now);
  NatTuple t[kBurst];
  SessionKey keys[kBurst];
  uint32_t index[kBurst];
  bool live[kBurst];
  for (uint16_t i = 0; i < n; i++) {
    t[i] = nat_tuple(pkts[i]);
    live[i] = true;
    switch (t[i].kind) {
      case NatKind::flow:
      case NatKind::tail:
        keys[i] = key_of(t[i], false);
        break;
      case NatKind::icmp_error:
        if (!icmp_error_checksums_ok(pkts[i])) {
          sink_.drop(pkts[i], Drop::icmp_bad_checksum);
          live[i] = false;
          keys[i] = SessionKey{};
          break;
        }
        keys[i] = error_key_of(t[i], false);
        break;
      case NatKind::unsupported:
      case NatKind::truncated:
        sink_.drop(pkts[i], no_session(t[i].kind, Drop::nat_unsupported));
        live[i] = false;
        keys[i] = SessionKey{};
        break;
    }
  }
  translate_hits(pkts, t, keys, index, live, n, true, now);

  uint16_t kept = 0;
  *hairpins = 0;
  bool opened = false;  // a session made in this burst
  for (uint16_t i = 0; i < n; i++) {
    if (!live[i]) continue;
    rte_mbuf* m = pkts[i];
    if (index[i] == kNoIndex) {
      // An earlier packet of this burst may have opened it (a first
      // fragment before its tails, a SYN before its retransmission).
      uint32_t s = opened ? table_.lookup(keys[i]) : kNoIndex;
      if (s == kNoIndex) {
        Drop why = no_session(t[i].kind, Drop::nat_unsupported);
        const bool opens = t[i].kind == NatKind::flow &&
                           (t[i].proto == IPPROTO_TCP    ? opens_tcp(t[i].tcp_flags)
                            : t[i].proto == IPPROTO_ICMP ? icmp_is_request(t[i].icmp_type)
                                                         : true);
        if (t[i].kind == NatKind::flow && t[i].proto == IPPROTO_TCP && !opens) {
          why = Drop::nat_tcp_not_syn;
        }
        if (!opens) {
          sink_.drop(m, why);
          continue;
        }
        s = table_.create_outbound(t[i].proto, t[i].src, t[i].sport, t[i].dst, keys[i].remote_port,
                                   now_ms, &why);
        if (s == kNoIndex) {
          refuse(m, why, now, pkts, &kept);
          continue;
        }
        opened = true;
      }
      if (!translate(m, t[i], s, true, now, now_ms)) continue;
    }
    if (is_public(ip_dst(rte_pktmbuf_mtod(m, const rte_ipv4_hdr*)))) {
      table_.counters().hairpins.add();
      hairpin[(*hairpins)++] = m;
      continue;
    }
    pkts[kept++] = m;
  }
  return kept;
}

uint16_t Nat44::out2in(rte_mbuf** pkts, uint16_t n, uint64_t now) noexcept {
  const uint64_t now_ms = ms(now);
  NatTuple t[kBurst];
  SessionKey keys[kBurst];
  uint32_t index[kBurst];
  bool live[kBurst];
  for (uint16_t i = 0; i < n; i++) {
    rte_mbuf* m = pkts[i];
    t[i] = nat_tuple(m);
    live[i] = false;
    keys[i] = SessionKey{};
    if (!is_public(ip_dst(rte_pktmbuf_mtod(m, const rte_ipv4_hdr*)))) {
      sink_.drop(m, Drop::nat_not_pool);
      continue;
    }
    switch (t[i].kind) {
      case NatKind::flow:
        // Only replies to our queries come in; a request from outside has
        // no mapping to go to.
        if (t[i].proto == IPPROTO_ICMP && icmp_is_request(t[i].icmp_type)) {
          sink_.drop(m, Drop::nat_no_mapping);
          continue;
        }
        [[fallthrough]];
      case NatKind::tail:
        keys[i] = key_of(t[i], true);
        break;
      case NatKind::icmp_error:
        if (!icmp_error_checksums_ok(m)) {
          sink_.drop(m, Drop::icmp_bad_checksum);
          continue;
        }
        keys[i] = error_key_of(t[i], true);
        break;
      case NatKind::unsupported:
      case NatKind::truncated:
        sink_.drop(m, no_session(t[i].kind, Drop::nat_unsupported));
        continue;
    }
    live[i] = true;
  }
  translate_hits(pkts, t, keys, index, live, n, false, now);

  uint16_t kept = 0;
  bool opened = false;  // a session made in this burst
  for (uint16_t i = 0; i < n; i++) {
    if (!live[i]) continue;
    rte_mbuf* m = pkts[i];
    if (index[i] == kNoIndex) {
      // Opened by an earlier packet of this burst?
      uint32_t s = opened ? table_.lookup(keys[i]) : kNoIndex;
      if (s == kNoIndex) {
        Drop why = no_session(t[i].kind, Drop::nat_no_mapping);
        if (t[i].kind == NatKind::flow && t[i].proto != IPPROTO_ICMP) {
          const bool may_open = t[i].proto != IPPROTO_TCP || opens_tcp(t[i].tcp_flags);
          s = table_.create_inbound(t[i].proto, t[i].dst, t[i].dport, t[i].src, t[i].sport,
                                    may_open, now_ms, &why);
          opened = opened || s != kNoIndex;
        }
        if (s == kNoIndex) {
          sink_.drop(m, why);
          continue;
        }
      }
      if (!translate(m, t[i], s, false, now, now_ms)) continue;
    }
    pkts[kept++] = m;
  }
  return kept;
}

}  // namespace sluice
