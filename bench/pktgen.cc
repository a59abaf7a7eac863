// sluice-pktgen: the benchmark harness's traffic generator and responder, on
// DPDK. One process, one lcore, two ports: the inside port plays the campus
// (clients in 10.16.0.0/12 opening sessions to servers and sending on them),
// the outside port plays the internet (a responder that answers what arrives
// from the device under test's public addresses). Both ends share one TSC,
// so every data frame's one-way latency through the device is measured, and
// a per-session sequence number gives reordering; loss is what was offered
// and never came out (a frame the device's transport would not take counts
// as lost: over memif that is the device's backpressure).
//
// The responder keeps no state: a UDP datagram is echoed, a TCP SYN answered
// by a SYN-ACK, a FIN by a FIN-ACK, a data segment echoed as data, anything
// else dropped (counted). The clients keep one state byte and two sequence
// counters per session: a SYN-ACK is answered by the ACK that completes the
// handshake, a FIN-ACK by the last ACK, so TCP sessions really open and close
// through the device (sluice's TCP state machine, the kernel's conntrack).
//
// It reads one command per line on stdin and answers each with one line of
// JSON on stdout (bench/harness.py drives it):
//   link [seconds=S]                 wait until both ports' links are up
//   open proto=udp|tcp first=F clients=N per=M rate=R [timeout=S] [retries=K]
//                                    make the session set and open every
//                                    session at R per second, those not
//                                    answered within S tried K times more:
//                                    established (first_try: at once),
//                                    failed, seconds to the last one
//   trial load=L seconds=T [size=64|imix|1518] [drain=S]
//                                    L frames/s in all (L/2 up on the set's
//                                    sessions in turn, answered down): sent,
//                                    received, reordered, latency each way
//   close rate=R [timeout=S]         close the set's TCP sessions at R per s
//   counters [drain=S]               frames in and out of each port so far,
//                                    after S seconds (0.3) of answering
//   soak first=F clients=N per=M udp=K fill=R load=L churn=C seconds=T
//                                    the campus mix for a long run
//                                    (bench/soak.py): N x M sessions, every
//                                    K-th UDP and the rest TCP, opened at R
//                                    per second; then for T seconds IMIX data
//                                    at L frames/s up on the established ones
//                                    (answered down) while C sessions a second
//                                    are closed (TCP FIN; UDP left to time
//                                    out) and their slot opens a new one from
//                                    the client's next port
//   quit
// Every phase is bounded in time (trial seconds, timeouts, at most 600 s).
//
// Usage: sluice-pktgen EAL_ARGS -- --inside NAME --outside NAME
//                      [--dut-inside-mac MAC] [--dut-outside-mac MAC]
//                      [--rx-queues N]
// NAME is a port's device name (net_memif0, net_af_packet0, a PCI address);
// the MACs are the device's, where frames must be addressed to it.
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "pktgen_traffic.h"

using namespace sluice::pktgen;

namespace {

constexpr uint16_t kBurst = 32;
constexpr double kMaxPhaseSeconds = 600;

enum class State : uint8_t { idle, opening, established, closing, closed };

struct Session {
  State state = State::idle;
  uint32_t up_sent = 0;      // data frames sent up, the next one's sequence number
  uint32_t up_expected = 0;  // next sequence number the responder expects
  uint32_t down_expected = 0;
  uint8_t gen = 0;  // which of the slot's client ports (SessionSet::generations)
};

// Frames queued for one port's TX queue 0; what it does not take is freed
// and counted as lost (it was offered).
struct TxBuffer {
  uint16_t port = 0;
  uint16_t n = 0;
  rte_mbuf* pkts[kBurst];
  uint64_t offered = 0;
  uint64_t refused = 0;

  void push(rte_mbuf* m) {
    pkts[n++] = m;
    if (n == kBurst) flush();
  }
  void flush() {
    if (n == 0) return;
    const uint16_t sent = rte_eth_tx_burst(port, 0, pkts, n);
    rte_pktmbuf_free_bulk(pkts + sent, n - sent);
    offered += n;
    refused += n - sent;
    n = 0;
  }
};

struct Side {
  uint16_t port = 0;
  uint16_t rx_queues = 1;
  Addressing addr{};
  TxBuffer tx;
  uint64_t rx = 0;
};

// What a command saw; reset by each command.
struct PhaseStats {
  uint64_t tx_up = 0, rx_up = 0, tx_down = 0, rx_down = 0;
  uint64_t reordered_up = 0, reordered_down = 0;
  uint64_t established = 0, closed = 0;
  uint64_t foreign = 0;  // frames of no session of the set, or not TCP/UDP
  uint64_t ignored = 0;  // segments the responder does not answer (ACK, RST)
  uint64_t no_mbuf = 0;  // frames not sent for want of a buffer
  uint64_t stale = 0;    // data frames of an earlier phase, arrived late (not counted)
  uint64_t opened = 0;   // soak: new sessions started in reused slots
  uint64_t close_started = 0;
  uint64_t stuck_opening = 0;  // soak: a slot due for churn still unanswered
  uint64_t stuck_closing = 0;  // soak: a slot due for churn whose close never completed
  uint64_t old_gen = 0;        // soak: data answers for a slot's previous session
  uint64_t data_skipped = 0;   // soak: data due while no established session was near
  uint64_t last_event = 0;
  LatencyHistogram up, down;
};

struct Options {
  std::string inside, outside, dut_inside_mac, dut_outside_mac;
  uint16_t rx_queues = 1;
};

using Args = std::map<std::string, std::string>;

double number(const Args& a, const std::string& key, double fallback) {
  const auto it = a.find(key);
  return it == a.end() ? fallback : std::stod(it->second);
}

class Generator {
 public:
  Generator(const Side& in, const Side& out, rte_mempool* pool)
      : in_(in), out_(out), pool_(pool), hz_(rte_get_tsc_hz()) {}

  std::string link(const Args& a) {
    const uint64_t end = rte_rdtsc() + seconds(std::min(number(a, "seconds", 10), 60.0));
    bool up = false;
    while (!(up = link_up(in_.port) && link_up(out_.port)) && rte_rdtsc() < end)
      rte_delay_ms(10);
    return fmt::format("{{\"up\": {}}}", up);
  }

  std::string open(const Args& a) {
    set_.proto = a.at("proto") == "tcp" ? IPPROTO_TCP : IPPROTO_UDP;
    set_.first = static_cast<uint32_t>(number(a, "first", 0));
    set_.clients = static_cast<uint32_t>(number(a, "clients", 1));
    set_.per_client = static_cast<uint32_t>(number(a, "per", 1));
    set_.generations = 1;
    udp_every_ = 0;
    if (set_.per_client == 0 || set_.per_client > kMaxPerClient || set_.clients == 0 ||
        set_.first + set_.clients > kClientSpan ||
        uint64_t{set_.clients} * set_.per_client > kMaxSessions) {
      set_.clients = 0;
      return "{\"error\": \"the set does not fit 10.16.0.0/12 or the server addresses\"}";
    }
    sessions_.assign(set_.size(), Session{});
    const double rate = number(a, "rate", 100000);
    const double timeout = number(a, "timeout", 1);
    begin_phase();
    const uint64_t start = rte_rdtsc();
    paced(rate, set_.size(), [&](uint32_t id, uint64_t now) {
      sessions_[id].state = State::opening;
      return handshake(id, RTE_TCP_SYN_FLAG, now);
    });
    uint64_t sent_at = rte_rdtsc();
    const double send_seconds = elapsed(start, sent_at);
    wait([&] { return stats_.established == set_.size(); }, sent_at + seconds(timeout));
    const uint64_t first_try = stats_.established;
    // Sessions whose first frame or answer was lost are tried again (the
    // same frame: to the device it is a retransmission).
    unsigned retries = static_cast<unsigned>(std::min(number(a, "retries", 0), 10.0));
    for (; retries > 0 && stats_.established < set_.size(); retries--) {
      std::vector<uint32_t> again;
      for (uint32_t id = 0; id < set_.size(); id++) {
        if (sessions_[id].state == State::opening) again.push_back(id);
      }
      paced(rate, again.size(),
            [&](uint32_t k, uint64_t now) { return handshake(again[k], RTE_TCP_SYN_FLAG, now); });
      sent_at = rte_rdtsc();
      wait([&] { return stats_.established == set_.size(); }, sent_at + seconds(timeout));
    }
    return fmt::format(
        "{{\"offered\": {}, \"established\": {}, \"failed\": {}, \"first_try\": {}, "
        "\"send_seconds\": {:.6f}, \"seconds\": {:.6f}, {}}}",
        set_.size(), stats_.established, set_.size() - stats_.established, first_try, send_seconds,
        elapsed(start, std::max(stats_.last_event, sent_at)), phase_json());
  }

  std::string close(const Args& a) {
    if (set_.proto != IPPROTO_TCP) return "{\"error\": \"only TCP sessions are closed\"}";
    std::vector<uint32_t> open_ids;
    for (uint32_t id = 0; id < set_.size(); id++) {
      if (sessions_[id].state == State::established) open_ids.push_back(id);
    }
    begin_phase();
    const uint64_t start = rte_rdtsc();
    paced(number(a, "rate", 100000), open_ids.size(), [&](uint32_t k, uint64_t now) {
      sessions_[open_ids[k]].state = State::closing;
      return handshake(open_ids[k], RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, now);
    });
    const uint64_t sent_at = rte_rdtsc();
    wait([&] { return stats_.closed == open_ids.size(); },
         sent_at + seconds(number(a, "timeout", 1)));
    return fmt::format(
        "{{\"offered\": {}, \"closed\": {}, \"failed\": {}, \"send_seconds\": {:.6f}, "
        "\"seconds\": {:.6f}, {}}}",
        open_ids.size(), stats_.closed, open_ids.size() - stats_.closed, elapsed(start, sent_at),
        elapsed(start, std::max(stats_.last_event, sent_at)), phase_json());
  }

  std::string trial(const Args& a) {
    if (set_.size() == 0) return "{\"error\": \"no session set: open one first\"}";
    const double load = number(a, "load", 10000);
    const double secs = std::min(number(a, "seconds", 1), kMaxPhaseSeconds);
    const std::string size = a.count("size") ? a.at("size") : "64";
    std::vector<uint16_t> sizes;
    if (size == "imix") {
      sizes.assign(kImix.begin(), kImix.end());
    } else {
      sizes.push_back(static_cast<uint16_t>(std::clamp(std::stoi(size), 64, 1518)));
    }
    begin_phase();
    const uint64_t start = rte_rdtsc();
    const auto frames = static_cast<uint64_t>(load / 2 * secs);
    uint32_t next = 0;
    size_t k = 0;
    paced(
        load / 2, frames,
        [&](uint32_t, uint64_t now) {
          const uint32_t id = next;
          next = next + 1 == set_.size() ? 0 : next + 1;
          const uint16_t wire = sizes[k];
          k = k + 1 == sizes.size() ? 0 : k + 1;
          return data(id, wire, now);
        },
        secs);  // a generator slower than the load sends less, in time
    const uint64_t sent_at = rte_rdtsc();
    wait([] { return false; }, sent_at + seconds(number(a, "drain", 0.5)));
    return fmt::format(
        "{{\"load\": {:.0f}, \"seconds\": {:.6f}, \"size\": \"{}\", \"offered_up\": {}, "
        "\"wire_bytes_up\": {}, {}}}",
        load, elapsed(start, sent_at), size, frames, wire_bytes_, phase_json());
  }

  std::string soak(const Args& a) {
    set_.proto = IPPROTO_TCP;
    set_.first = static_cast<uint32_t>(number(a, "first", 0));
    set_.clients = static_cast<uint32_t>(number(a, "clients", 1));
    set_.per_client = static_cast<uint32_t>(number(a, "per", 15));
    udp_every_ = static_cast<uint32_t>(number(a, "udp", 4));
    if (set_.per_client == 0 || set_.per_client > kMaxPerClient / 2 || set_.clients == 0 ||
        set_.first + set_.clients > kClientSpan ||
        uint64_t{set_.clients} * set_.per_client > kMaxSessions) {
      set_.clients = 0;
      return "{\"error\": \"the set does not fit 10.16.0.0/12 or the server addresses\"}";
    }
    set_.generations = std::min<uint32_t>(16, kMaxPerClient / set_.per_client);
    sessions_.assign(set_.size(), Session{});
    const double seconds_run = std::min(number(a, "seconds", 600), 86400.0);
    const double load = number(a, "load", 100000);
    const double churn = number(a, "churn", 200);

    // Fill: every slot opened, those unanswered tried three times more.
    begin_phase();
    const uint64_t fill_start = rte_rdtsc();
    const double fill = number(a, "fill", 50000);
    const double timeout = number(a, "timeout", 2);
    paced(fill, set_.size(), [&](uint32_t id, uint64_t now) {
      sessions_[id].state = State::opening;
      return handshake(id, RTE_TCP_SYN_FLAG, now);
    });
    wait([&] { return stats_.established == set_.size(); }, rte_rdtsc() + seconds(timeout));
    for (int retry = 0; retry < 3 && stats_.established < set_.size(); retry++) {
      std::vector<uint32_t> again;
      for (uint32_t id = 0; id < set_.size(); id++) {
        if (sessions_[id].state == State::opening) again.push_back(id);
      }
      paced(fill, again.size(),
            [&](uint32_t k, uint64_t now) { return handshake(again[k], RTE_TCP_SYN_FLAG, now); });
      wait([&] { return stats_.established == set_.size(); }, rte_rdtsc() + seconds(timeout));
    }
    const uint64_t fill_established = stats_.established;
    const double fill_seconds = elapsed(fill_start, rte_rdtsc());

    // Run: data and churn, each paced on its own from the same start.
    begin_phase();
    soaking_ = true;
    const uint64_t refused_in = in_.tx.refused, refused_out = out_.tx.refused;
    const uint64_t start = rte_rdtsc();
    const uint64_t end = start + seconds(seconds_run);
    const double data_per_cycle = load / static_cast<double>(hz_);
    const double churn_per_cycle = churn / static_cast<double>(hz_);
    uint64_t data_due_done = 0, churn_done = 0;
    uint32_t data_cursor = 0, churn_cursor = 0;
    size_t k = 0;
    for (uint64_t now = start; now < end; now = rte_rdtsc()) {
      const auto cycles = static_cast<double>(now - start);
      const auto data_due = static_cast<uint64_t>(cycles * data_per_cycle) + 1;
      for (unsigned b = 0; data_due_done < data_due && b < kBurst; b++, data_due_done++) {
        uint32_t id = data_cursor;
        unsigned probe = 0;
        for (; probe < 64 && sessions_[id].state != State::established; probe++)
          id = id + 1 == set_.size() ? 0 : id + 1;
        data_cursor = id + 1 == set_.size() ? 0 : id + 1;
        if (probe == 64) {
          stats_.data_skipped++;
          continue;
        }
        const uint16_t wire = kImix[k];
        k = k + 1 == kImix.size() ? 0 : k + 1;
        if (rte_mbuf* m = data(id, wire, now)) in_.tx.push(m);
      }
      const auto churn_due = static_cast<uint64_t>(cycles * churn_per_cycle);
      for (; churn_done < churn_due; churn_done++) {
        churn_slot(churn_cursor, now);
        churn_cursor = churn_cursor + 1 == set_.size() ? 0 : churn_cursor + 1;
      }
      in_.tx.flush();
      poll(now);
    }
    const double run_seconds = elapsed(start, rte_rdtsc());
    soaking_ = false;
    wait([] { return false; }, rte_rdtsc() + seconds(number(a, "drain", 0.5)));
    uint64_t live = 0;
    for (const Session& s : sessions_)
      live += s.state == State::established;
    const PhaseStats& st = stats_;
    return fmt::format(
        "{{\"sessions\": {}, \"generations\": {}, \"fill_established\": {}, "
        "\"fill_seconds\": {:.3f}, \"seconds\": {:.3f}, \"established_at_end\": {}, "
        "\"opened\": {}, \"established\": {}, \"close_started\": {}, \"closed\": {}, "
        "\"stuck_opening\": {}, \"stuck_closing\": {}, \"old_gen\": {}, "
        "\"data_skipped\": {}, \"inside_tx_refused\": {}, \"outside_tx_refused\": {}, {}}}",
        set_.size(), set_.generations, fill_established, fill_seconds, run_seconds, live, st.opened,
        st.established, st.close_started, st.closed, st.stuck_opening, st.stuck_closing, st.old_gen,
        st.data_skipped, in_.tx.refused - refused_in, out_.tx.refused - refused_out, phase_json());
  }

  // After `drain` seconds of polling, so frames still in flight (the last
  // ACKs of a close) are counted where they arrive.
  std::string counters(const Args& a) {
    wait([] { return false; }, rte_rdtsc() + seconds(std::min(number(a, "drain", 0.3), 10.0)));
    return fmt::format(
        "{{\"inside_tx\": {}, \"inside_tx_refused\": {}, \"inside_rx\": {}, \"outside_tx\": {}, "
        "\"outside_tx_refused\": {}, \"outside_rx\": {}}}",
        in_.tx.offered, in_.tx.refused, in_.rx, out_.tx.offered, out_.tx.refused, out_.rx);
  }

 private:
  uint64_t seconds(double s) const { return static_cast<uint64_t>(s * static_cast<double>(hz_)); }
  double elapsed(uint64_t from, uint64_t to) const {
    return static_cast<double>(to - from) / static_cast<double>(hz_);
  }
  uint8_t proto_of(uint32_t id) const {
    return udp_every_ != 0 && id % udp_every_ == 0 ? uint8_t{IPPROTO_UDP} : set_.proto;
  }

  // A new session in slot id, from the client's next port: a new 5-tuple to
  // the device.
  void reopen(uint32_t id, uint64_t now) {
    Session& s = sessions_[id];
    const auto gen = static_cast<uint8_t>((s.gen + 1u) % set_.generations);
    s = Session{};
    s.gen = gen;
    s.state = State::opening;
    stats_.opened++;
    if (rte_mbuf* m = handshake(id, RTE_TCP_SYN_FLAG, now)) in_.tx.push(m);
  }

  // The soak's churn on one slot: an established TCP session is closed (and
  // reopened once closed, in to_client); a UDP one is left to the device's
  // timeout and replaced at once; a slot still unanswered is counted.
  void churn_slot(uint32_t id, uint64_t now) {
    Session& s = sessions_[id];
    if (s.state == State::opening) stats_.stuck_opening++;
    if (s.state == State::closing) stats_.stuck_closing++;
    if (proto_of(id) == IPPROTO_TCP && s.state == State::established) {
      s.state = State::closing;
      stats_.close_started++;
      if (rte_mbuf* m = handshake(id, RTE_TCP_FIN_FLAG | RTE_TCP_ACK_FLAG, now)) in_.tx.push(m);
      return;
    }
    reopen(id, now);
  }

  static bool link_up(uint16_t port) {
    rte_eth_link l{};
    return rte_eth_link_get_nowait(port, &l) == 0 && l.link_status == RTE_ETH_LINK_UP;
  }

  // Whatever arrived before this phase is not its traffic.
  void begin_phase() {
    const uint64_t end = rte_rdtsc() + seconds(0.05);
    while (rte_rdtsc() < end)
      poll(rte_rdtsc());
    stats_ = PhaseStats{};
    wire_bytes_ = 0;
    phase_++;
  }

  // Calls make(i, now) for i < count, `rate` times a second, polling both
  // ports in between, for `limit` seconds at most; make returns the frame to
  // send up (or null).
  template <class Make>
  void paced(double rate, uint64_t count, Make make, double limit = kMaxPhaseSeconds) {
    const uint64_t start = rte_rdtsc();
    const uint64_t end = start + seconds(std::min(limit, kMaxPhaseSeconds));
    const double per_cycle = rate / static_cast<double>(hz_);
    uint64_t sent = 0;
    while (sent < count) {
      const uint64_t now = rte_rdtsc();
      if (now > end) break;
      const auto due = std::min<uint64_t>(
          static_cast<uint64_t>(static_cast<double>(now - start) * per_cycle) + 1, count);
      for (uint64_t k = 0; sent < due && k < kBurst; k++, sent++) {
        if (rte_mbuf* m = make(static_cast<uint32_t>(sent), now)) in_.tx.push(m);
      }
      in_.tx.flush();
      poll(now);
    }
  }

  template <class Done>
  void wait(Done done, uint64_t until) {
    uint64_t now;
    while (!done() && (now = rte_rdtsc()) < until)
      poll(now);
  }

  rte_mbuf* alloc() {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (m == nullptr) stats_.no_mbuf++;  // not sent: the generator's own limit
    return m;
  }

  rte_mbuf* handshake(uint32_t id, uint8_t flags, uint64_t now) {
    rte_mbuf* m = alloc();
    if (m == nullptr) return nullptr;
    Session& s = sessions_[id];
    if (proto_of(id) == IPPROTO_UDP) {
      build(m, in_.addr, IPPROTO_UDP, set_.client_ip(id), set_.client_port(id, s.gen),
            SessionSet::server_ip(id), SessionSet::server_port(id), 64, 0, 0, 0);
      Headers h;
      parse(m, &h);
      stamp(h, s.up_sent++, now, phase_);
      stats_.tx_up++;
      return m;
    }
    build(m, in_.addr, IPPROTO_TCP, set_.client_ip(id), set_.client_port(id, s.gen),
          SessionSet::server_ip(id), SessionSet::server_port(id), 64, flags, s.up_sent, 0);
    Headers h;
    parse(m, &h);
    stamp(h, s.up_sent, now, phase_);
    return m;
  }

  rte_mbuf* data(uint32_t id, uint16_t wire, uint64_t now) {
    rte_mbuf* m = alloc();
    if (m == nullptr) return nullptr;
    build(m, in_.addr, proto_of(id), set_.client_ip(id), set_.client_port(id, sessions_[id].gen),
          SessionSet::server_ip(id), SessionSet::server_port(id), wire,
          RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG, 0, 0);
    Headers h;
    parse(m, &h);
    stamp(h, sessions_[id].up_sent++, now, phase_);
    stats_.tx_up++;
    wire_bytes_ += wire;
    return m;
  }

  void poll(uint64_t now) {
    rte_mbuf* pkts[kBurst];
    for (uint16_t q = 0; q < out_.rx_queues; q++) {
      const uint16_t n = rte_eth_rx_burst(out_.port, q, pkts, kBurst);
      out_.rx += n;
      for (uint16_t i = 0; i < n; i++)
        respond(pkts[i], now);
    }
    out_.tx.flush();
    for (uint16_t q = 0; q < in_.rx_queues; q++) {
      const uint16_t n = rte_eth_rx_burst(in_.port, q, pkts, kBurst);
      in_.rx += n;
      for (uint16_t i = 0; i < n; i++)
        to_client(pkts[i], now);
    }
    in_.tx.flush();
  }

  static void count_order(uint32_t seq, uint32_t& expected, uint64_t& reordered) {
    if (seq < expected) {
      reordered++;
    } else {
      expected = seq + 1;
    }
  }

  // The stamp of a data frame of this phase, its latency counted; false
  // (counted) for a late frame of an earlier phase.
  bool current(const Headers& h, Stamp* st, LatencyHistogram& hist, uint64_t now) {
    if (!read_stamp(h, st)) {
      st->seq = 0;
      return true;
    }
    if (st->phase != phase_) {
      stats_.stale++;
      return false;
    }
    hist.add((now - st->tsc) & kStampMask);
    return true;
  }

  // The internet side: answers a frame from the device's public side.
  void respond(rte_mbuf* m, uint64_t now) {
    Headers h;
    uint32_t id = 0;
    if (!parse(m, &h) ||
        !set_.from_server_side(rte_be_to_cpu_32(h.ip->dst_addr), dport_of(h), &id)) {
      stats_.foreign++;
      rte_pktmbuf_free(m);
      return;
    }
    if (h.ip->next_proto_id == IPPROTO_TCP) {
      auto* tcp = reinterpret_cast<rte_tcp_hdr*>(h.l4);
      const uint8_t flags = tcp->tcp_flags;
      if (h.payload_len == 0) {
        if (flags & RTE_TCP_RST_FLAG || !(flags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG))) {
          stats_.ignored++;
          rte_pktmbuf_free(m);
          return;
        }
        // SYN -> SYN-ACK, FIN -> FIN-ACK.
        const uint32_t their = rte_be_to_cpu_32(tcp->sent_seq);
        reverse(h, out_.addr);
        tcp->tcp_flags = (flags & (RTE_TCP_SYN_FLAG | RTE_TCP_FIN_FLAG)) | RTE_TCP_ACK_FLAG;
        tcp->recv_ack = rte_cpu_to_be_32(their + 1);
        stamp(h, 0, now, phase_);
        out_.tx.push(m);
        return;
      }
      tcp->tcp_flags = RTE_TCP_ACK_FLAG | RTE_TCP_PSH_FLAG;
    }
    Stamp st;
    if (!current(h, &st, stats_.up, now)) {
      rte_pktmbuf_free(m);
      return;
    }
    stats_.rx_up++;
    count_order(st.seq, sessions_[id].up_expected, stats_.reordered_up);
    reverse(h, out_.addr);
    stamp(h, st.seq, now, phase_);
    stats_.tx_down++;
    out_.tx.push(m);
  }

  // The campus side: a frame to a client.
  void to_client(rte_mbuf* m, uint64_t now) {
    Headers h;
    uint32_t id = 0, gen = 0;
    if (!parse(m, &h) ||
        !set_.from_client_side(rte_be_to_cpu_32(h.ip->dst_addr), dport_of(h), &id, &gen)) {
      stats_.foreign++;
      rte_pktmbuf_free(m);
      return;
    }
    Session& s = sessions_[id];
    if (gen != s.gen) {  // the slot's previous session (soak): data arrived, nothing else
      const bool data = h.ip->next_proto_id == IPPROTO_UDP || h.payload_len > 0;
      (data ? stats_.old_gen : stats_.ignored)++;
      if (data) stats_.rx_down++;
      rte_pktmbuf_free(m);
      return;
    }
    if (h.ip->next_proto_id == IPPROTO_TCP && h.payload_len == 0) {
      auto* tcp = reinterpret_cast<rte_tcp_hdr*>(h.l4);
      const uint8_t flags = tcp->tcp_flags;
      const bool syn_ack = (flags & RTE_TCP_SYN_FLAG) && s.state == State::opening;
      const bool fin_ack = (flags & RTE_TCP_FIN_FLAG) && s.state == State::closing;
      if (!syn_ack && !fin_ack) {
        stats_.ignored++;
        rte_pktmbuf_free(m);
        return;
      }
      s.state = syn_ack ? State::established : State::closed;
      (syn_ack ? stats_.established : stats_.closed)++;
      stats_.last_event = now;
      // The ACK that completes the handshake, or the last ACK.
      const uint32_t their = rte_be_to_cpu_32(tcp->sent_seq);
      reverse(h, in_.addr);
      tcp->tcp_flags = RTE_TCP_ACK_FLAG;
      tcp->recv_ack = rte_cpu_to_be_32(their + 1);
      stamp(h, s.up_sent + 1, now, phase_);
      in_.tx.push(m);
      if (fin_ack && soaking_) reopen(id, now);
      return;
    }
    if (s.state == State::opening) {  // a UDP session's first answer
      s.state = State::established;
      stats_.established++;
      stats_.last_event = now;
    }
    Stamp st;
    if (current(h, &st, stats_.down, now)) {
      stats_.rx_down++;
      count_order(st.seq, s.down_expected, stats_.reordered_down);
    }
    rte_pktmbuf_free(m);
  }

  std::string latency_json(const LatencyHistogram& hist) const {
    const double ns = 1e9 / static_cast<double>(hz_);
    return fmt::format(
        "{{\"count\": {}, \"p50\": {:.0f}, \"p90\": {:.0f}, \"p99\": {:.0f}, \"p99_9\": {:.0f}, "
        "\"max\": {:.0f}}}",
        hist.count(), hist.quantile(0.5) * ns, hist.quantile(0.9) * ns, hist.quantile(0.99) * ns,
        hist.quantile(0.999) * ns, hist.max() * ns);
  }

  std::string phase_json() const {
    const PhaseStats& s = stats_;
    return fmt::format(
        "\"tx_up\": {}, \"rx_up\": {}, \"tx_down\": {}, \"rx_down\": {}, \"reordered_up\": {}, "
        "\"reordered_down\": {}, \"foreign\": {}, \"ignored\": {}, \"no_mbuf\": {}, "
        "\"stale\": {}, \"latency_up_ns\": {}, \"latency_down_ns\": {}",
        s.tx_up, s.rx_up, s.tx_down, s.rx_down, s.reordered_up, s.reordered_down, s.foreign,
        s.ignored, s.no_mbuf, s.stale, latency_json(s.up), latency_json(s.down));
  }

  Side in_, out_;
  rte_mempool* pool_;
  uint64_t hz_;
  SessionSet set_;
  std::vector<Session> sessions_;
  PhaseStats stats_;
  uint64_t wire_bytes_ = 0;
  uint8_t phase_ = 0;       // stamped in data frames: late frames of earlier phases are told apart
  uint32_t udp_every_ = 0;  // every udp_every_-th session UDP, the rest set_.proto (0: none)
  bool soaking_ = false;    // a closed TCP session's slot opens a new one at once
};

bool start_port(const std::string& name, const std::string& dut_mac, uint16_t rx_queues,
                rte_mempool* pool, Side* side) {
  if (rte_eth_dev_get_port_by_name(name.c_str(), &side->port) != 0) {
    fmt::print(stderr, "sluice-pktgen: no port {}\n", name);
    return false;
  }
  rte_eth_dev_info info{};
  rte_eth_dev_info_get(side->port, &info);
  side->rx_queues = std::min<uint16_t>(rx_queues, info.max_rx_queues);
  rte_eth_conf conf{};
  uint16_t rxd = 1024, txd = 1024;
  int rc = rte_eth_dev_configure(side->port, side->rx_queues, 1, &conf);
  if (rc == 0) rc = rte_eth_dev_adjust_nb_rx_tx_desc(side->port, &rxd, &txd);
  for (uint16_t q = 0; rc == 0 && q < side->rx_queues; q++)
    rc = rte_eth_rx_queue_setup(side->port, q, rxd, rte_eth_dev_socket_id(side->port), nullptr,
                                pool);
  if (rc == 0)
    rc = rte_eth_tx_queue_setup(side->port, 0, txd, rte_eth_dev_socket_id(side->port), nullptr);
  if (rc == 0) rc = rte_eth_dev_start(side->port);
  if (rc != 0) {
    fmt::print(stderr, "sluice-pktgen: port {}: {}\n", name, rte_strerror(-rc));
    return false;
  }
  rte_eth_promiscuous_enable(side->port);
  rte_eth_macaddr_get(side->port, &side->addr.src_mac);
  side->addr.dst_mac = side->addr.src_mac;
  if (!dut_mac.empty() && rte_ether_unformat_addr(dut_mac.c_str(), &side->addr.dst_mac) != 0) {
    fmt::print(stderr, "sluice-pktgen: bad MAC {}\n", dut_mac);
    return false;
  }
  side->tx.port = side->port;
  return true;
}

int serve(Generator& g) {
  fmt::print("{{\"ready\": true}}\n");
  std::fflush(stdout);
  for (std::string line; std::getline(std::cin, line);) {
    std::istringstream words(line);
    std::string cmd;
    words >> cmd;
    Args a;
    for (std::string w; words >> w;) {
      const size_t eq = w.find('=');
      if (eq != std::string::npos) a[w.substr(0, eq)] = w.substr(eq + 1);
    }
    std::string reply;
    try {
      if (cmd == "quit") break;
      if (cmd == "link")
        reply = g.link(a);
      else if (cmd == "open")
        reply = g.open(a);
      else if (cmd == "trial")
        reply = g.trial(a);
      else if (cmd == "close")
        reply = g.close(a);
      else if (cmd == "counters")
        reply = g.counters(a);
      else if (cmd == "soak")
        reply = g.soak(a);
      else
        reply = fmt::format("{{\"error\": \"unknown command '{}'\"}}", cmd);
    } catch (const std::exception& e) {  // a missing or malformed argument
      reply = fmt::format("{{\"error\": \"{}: {}\"}}", cmd, e.what());
    }
    fmt::print("{}\n", reply);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int eal = rte_eal_init(argc, argv);
  if (eal < 0) {
    fmt::print(stderr, "sluice-pktgen: EAL init failed\n");
    return 1;
  }
  Options o;
  for (int i = eal + 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--inside")
      o.inside = v;
    else if (k == "--outside")
      o.outside = v;
    else if (k == "--dut-inside-mac")
      o.dut_inside_mac = v;
    else if (k == "--dut-outside-mac")
      o.dut_outside_mac = v;
    else if (k == "--rx-queues")
      o.rx_queues = static_cast<uint16_t>(std::stoi(v));
    else {
      fmt::print(stderr, "sluice-pktgen: unknown option {}\n", k);
      return 2;
    }
  }
  int rc = 1;
  rte_mempool* pool =
      rte_pktmbuf_pool_create("pktgen", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  Side in, out;
  if (pool != nullptr && start_port(o.inside, o.dut_inside_mac, o.rx_queues, pool, &in) &&
      start_port(o.outside, o.dut_outside_mac, o.rx_queues, pool, &out)) {
    Generator g(in, out, pool);
    rc = serve(g);
    rte_eth_dev_stop(in.port);
    rte_eth_dev_stop(out.port);
    rte_eth_dev_close(in.port);
    rte_eth_dev_close(out.port);
  } else if (pool == nullptr) {
    fmt::print(stderr, "sluice-pktgen: cannot create the mbuf pool\n");
  }
  rte_eal_cleanup();
  return rc;
}
