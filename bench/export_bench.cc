// Benchmark of NAT logging and export for a day of the reference deployment
// (../shared/SPEC.md: ~20,000 clients, ~80 million NAT events a day, a /26
// pool). Reports numbers; asserts nothing.
//
//  1. exporter: `events` session events (create, then delete with its flow
//     record) from one producer thread through a real event ring into the
//     real Exporter thread, which writes the NAT log (a file under --dir)
//     and sends IPFIX to a UDP socket on 127.0.0.1 drained by a receiver
//     thread. The producer never loses an event: when the ring is full it
//     sleeps (and counts the waits), so the rate measured is the most the
//     exporter sustains with zero loss. Checked after: every event exported,
//     every log line written, no record lost in sluice. Twice, in the same
//     run: IPFIX messages sent one send() each (send_batch 1), then batched
//     32 to a sendmmsg() (the default).
//  2. a day of session lines: `sessions` sessions (2 lines each: 80 million
//     lines by default) spread over 24 hours, each client's sessions on its
//     own public address and port block, durations of UDP and TCP sessions
//     (30 s to 2 h), written in time order by NatLog (no destinations, the
//     default). Log size, write rate.
//  3. the same day with port blocks: only B+/B- lines, each client holding
//     its block from its first session to its last plus the hold-down,
//     over 1 to 6 stretches a day.
//  4. trace: sluicectl trace's search (trace.h) for a session created near
//     midday, at its creation plus 10 s, window 5 s, with and without the
//     protocol given; and for a port that nobody used (the worst case: the
//     search must settle every protocol over the 1-day lookback, which the
//     log's index, nat_log_index.h, makes a read of the index). Median of 5,
//     page cache warm (the log was just written); the index's size.
//
// Usage: export_bench [--events N] [--sessions N] [--dir DIR] [--keep] [--json FILE]
#include <rte_ring.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common.h"
#include "exporter.h"
#include "nat_events.h"
#include "nat_log.h"
#include "trace.h"

namespace {

using namespace sluice;
using Clock = std::chrono::steady_clock;

constexpr int64_t kDayStart = 1'736'899'200'000;  // 2025-01-15T00:00:00Z
constexpr int64_t kDay = 86'400'000;
constexpr unsigned kClients = 20'000;
constexpr unsigned kAddresses = 64;
constexpr uint32_t kPool = 0xc6336400;    // 198.51.100.0
constexpr uint32_t kInside = 0x0a100000;  // 10.16.0.0
constexpr uint16_t kBlock = 128;

struct Options {
  uint64_t events = 20'000'000;
  uint64_t sessions = 40'000'000;
  std::string dir = "/tmp";
  bool keep = false;
  std::string json;
};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

uint64_t file_size(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// A client's public address and the first port of its block.
uint32_t public_of(uint32_t client) {
  return kPool + client % kAddresses;
}
uint16_t block_of(uint32_t client) {
  return static_cast<uint16_t>(1024 + (client / kAddresses) * kBlock);
}

NatEvent session_event(bool create, int64_t at, uint32_t client, uint16_t inside_port,
                       uint16_t port, uint8_t proto) {
  NatEvent e{};
  e.time_ms = static_cast<uint64_t>(at);
  e.type = create ? NatEventType::session_create : NatEventType::session_delete;
  e.proto = proto;
  e.inside_ip = kInside + 256 + client;
  e.inside_port = inside_port;
  e.public_ip = public_of(client);
  e.public_port = port;
  e.remote_ip = 0x08080808;
  e.remote_port = 443;
  e.packets_out = 10;
  e.bytes_out = 1000;
  e.packets_in = 12;
  e.bytes_in = 15000;
  return e;
}

// The files of a directory (an index beside a log): their bytes; removed.
uint64_t dir_size(const std::string& dir) {
  uint64_t bytes = 0;
  std::error_code none;
  for (const auto& e : std::filesystem::directory_iterator(dir, none))
    bytes += e.file_size();
  return bytes;
}
void remove_dir(const std::string& dir) {
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

struct ExporterResult {
  unsigned send_batch = 0;
  double seconds = 0;
  double events_per_s = 0;
  uint64_t waits = 0;
  ExportTotals totals;
  uint64_t received_messages = 0;
};

ExporterResult bench_exporter(const Options& o, unsigned send_batch) {
  ExporterResult res;
  res.send_batch = send_batch;
  rte_ring* ring = rte_ring_create_elem("bench_events", sizeof(NatEvent), 262144, SOCKET_ID_ANY,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
  NatEvents producer(ring, false);
  const int rx = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(rx, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(rx, reinterpret_cast<sockaddr*>(&a), &len);
  const int buffer = 16 << 20;
  setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
  std::atomic<bool> receiving{true};
  std::atomic<uint64_t> received{0};
  std::thread receiver([&] {
    std::vector<uint8_t> b(65536);
    pollfd p{rx, POLLIN, 0};
    while (receiving.load() || poll(&p, 1, 50) == 1) {
      if (poll(&p, 1, 50) != 1) continue;
      if (recv(rx, b.data(), b.size(), 0) > 0) received.fetch_add(1, std::memory_order_relaxed);
    }
  });

  ExporterOptions eo;
  eo.collectors = {{0x7f000001, ntohs(a.sin_port)}};
  eo.log.path = o.dir + "/sluice-bench-exporter.log";
  std::remove(eo.log.path.c_str());
  eo.wall_offset_ms = kDayStart;
  eo.send_batch = send_batch;
  {
    Exporter exporter(eo, {ring}, {&producer});
    exporter.start();
    const auto t0 = Clock::now();
    for (uint64_t i = 0; i < o.events; i++) {
      const auto client = static_cast<uint32_t>(i % kClients);
      const NatEvent e =
          session_event(i % 2 == 0, static_cast<int64_t>(i / 1000), client,
                        static_cast<uint16_t>(1024 + i % 60000),
                        static_cast<uint16_t>(block_of(client) + i % kBlock), IPPROTO_UDP);
      // Full: wait without spinning, so the exporter has the CPU.
      while (rte_ring_sp_enqueue_elem(ring, const_cast<NatEvent*>(&e), sizeof(e)) != 0) {
        res.waits++;
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
    exporter.stop();
    res.seconds = seconds_since(t0);
    res.totals = exporter.totals();
  }
  receiving.store(false);
  receiver.join();
  close(rx);
  rte_ring_free(ring);
  res.events_per_s = static_cast<double>(o.events) / res.seconds;
  res.received_messages = received.load();
  if (!o.keep) {
    std::remove(eo.log.path.c_str());
    remove_dir(eo.log.path + ".idx");
  }
  return res;
}

struct DayResult {
  uint64_t lines = 0;
  uint64_t bytes = 0;
  double seconds = 0;
  // A session near midday to trace: its public endpoint, protocol and start.
  uint32_t public_ip = 0;
  uint16_t port = 0;
  uint8_t proto = 0;
  int64_t start_ms = 0;
  uint32_t client = 0;
};

// Sessions through the day: starts uniform over 24 h, in time order, each
// deleted after its duration; per client a stretch of the day for blocks.
DayResult write_day(const Options& o, const std::string& path, bool blocks) {
  DayResult r;
  std::remove(path.c_str());
  NatLogOptions lo;
  lo.path = path;
  lo.sessions = !blocks;
  lo.blocks = blocks;
  NatLog log(lo);
  std::mt19937_64 rng(42);
  struct Pending {
    int64_t at;
    NatEvent e;
    bool operator>(const Pending& p) const { return at > p.at; }
  };
  std::priority_queue<Pending, std::vector<Pending>, std::greater<>> ends;
  const auto t0 = Clock::now();
  const double step = static_cast<double>(kDay) / static_cast<double>(o.sessions);
  if (blocks) {
    // Each client: 1 to 6 stretches a day during which it holds its block.
    std::vector<Pending> all;
    for (uint32_t c = 0; c < kClients; c++) {
      const unsigned stretches = 1 + static_cast<unsigned>(rng() % 6);
      std::vector<int64_t> cuts;
      for (unsigned k = 0; k < 2 * stretches; k++)
        cuts.push_back(static_cast<int64_t>(rng() % kDay));
      std::sort(cuts.begin(), cuts.end());
      for (unsigned k = 0; k + 1 < cuts.size(); k += 2) {
        NatEvent e{};
        e.inside_ip = kInside + 256 + c;
        e.public_ip = public_of(c);
        e.public_port = block_of(c);
        e.remote_port = static_cast<uint16_t>(block_of(c) + kBlock - 1);
        e.type = NatEventType::block_allocate;
        e.time_ms = static_cast<uint64_t>(kDayStart + cuts[k]);
        all.push_back({cuts[k], e});
        e.type = NatEventType::block_release;
        e.time_ms = static_cast<uint64_t>(kDayStart + cuts[k + 1] + 120'000);
        all.push_back({cuts[k + 1] + 120'000, e});
        if (r.client == 0 && cuts[k] < kDay / 2 && cuts[k + 1] > kDay / 2) {
          r.client = c;
          r.public_ip = e.public_ip;
          r.port = static_cast<uint16_t>(e.public_port + 17);
          r.start_ms = kDayStart + kDay / 2;
        }
      }
    }
    std::sort(all.begin(), all.end(),
              [](const Pending& a, const Pending& b) { return a.at < b.at; });
    for (const Pending& p : all)
      log.add(p.e, 0);
    r.lines = all.size();
  } else {
    for (uint64_t i = 0; i < o.sessions; i++) {
      const auto at = kDayStart + static_cast<int64_t>(static_cast<double>(i) * step);
      while (!ends.empty() && ends.top().at <= at) {
        log.add(ends.top().e, 0);
        ends.pop();
        r.lines++;
      }
      const auto client = static_cast<uint32_t>(rng() % kClients);
      const bool tcp = rng() % 2 == 0;
      const uint8_t proto = tcp ? IPPROTO_TCP : IPPROTO_UDP;
      const auto port = static_cast<uint16_t>(block_of(client) + rng() % kBlock);
      const auto inside_port = static_cast<uint16_t>(32768 + rng() % 28000);
      const int64_t duration = tcp ? 30'000 + static_cast<int64_t>(rng() % 7'200'000)
                                   : 30'000 + static_cast<int64_t>(rng() % 600'000);
      NatEvent e = session_event(true, at, client, inside_port, port, proto);
      log.add(e, 0);
      r.lines++;
      if (r.client == 0 && at >= kDayStart + kDay / 2) {
        r.client = client;
        r.public_ip = e.public_ip;
        r.port = port;
        r.proto = proto;
        r.start_ms = at;
      }
      e.type = NatEventType::session_delete;
      e.time_ms = static_cast<uint64_t>(at + duration);
      ends.push({at + duration, e});
    }
    while (!ends.empty()) {
      log.add(ends.top().e, 0);
      ends.pop();
      r.lines++;
    }
  }
  log.flush();
  r.seconds = seconds_since(t0);
  r.bytes = file_size(path);
  return r;
}

struct TraceTiming {
  double median_ms = 0;
  size_t holders = 0;
  bool named = false;
  uint64_t bytes_read = 0;
};

TraceTiming time_trace(const std::string& path, const TraceQuery& q, uint32_t client) {
  std::vector<double> ms;
  TraceTiming t;
  for (int i = 0; i < 5; i++) {
    const auto t0 = Clock::now();
    const TraceResult r = trace(path, q);
    ms.push_back(seconds_since(t0) * 1000);
    t.holders = r.holders.size();
    t.named = !r.holders.empty() && r.holders[0].inside_ip == kInside + 256 + client;
    t.bytes_read = r.bytes_read;
  }
  std::sort(ms.begin(), ms.end());
  t.median_ms = ms[2];
  return t;
}

std::string mib(uint64_t bytes) {
  return fmt::format("{:.1f} MiB", static_cast<double>(bytes) / (1 << 20));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; i++) {
    const std::string k = argv[i];
    const std::string v = i + 1 < argc ? argv[i + 1] : "";
    if (k == "--keep") {
      o.keep = true;
      continue;
    }
    if (v.empty()) {
      fmt::print(stderr, "export_bench: {} needs a value\n", k);
      return 2;
    }
    i++;
    if (k == "--events") {
      o.events = std::stoull(v);
    } else if (k == "--sessions") {
      o.sessions = std::stoull(v);
    } else if (k == "--dir") {
      o.dir = v;
    } else if (k == "--json") {
      o.json = v;
    } else {
      fmt::print(stderr,
                 "Usage: export_bench [--events N] [--sessions N] [--dir DIR] [--keep] [--json "
                 "FILE]\n");
      return 2;
    }
  }
  if (!benchmark::init_eal("export_bench", 256)) return 1;

  fmt::print("# NAT export and logging: a day of the reference deployment\n\n");
  fmt::print(
      "## Exporter thread\n\n{} events (session create / delete with its flow record) through "
      "one ring, IPFIX to 127.0.0.1 and the NAT log\n\n"
      "| messages per system call | seconds | events/s | zero loss | IPFIX records | messages | "
      "records lost | producer waits | datagrams received |\n"
      "|---|---|---|---|---|---|---|---|---|\n",
      o.events);
  ExporterResult ex;
  double unbatched_per_s = 0;
  bool zero_loss = true;
  for (const unsigned batch : {1u, 32u}) {
    ex = bench_exporter(o, batch);
    const ExportTotals& t = ex.totals;
    const bool lossless = t.events == o.events && t.ring_full == 0 && t.records_lost == 0 &&
                          t.log_lines == o.events && t.log_lines_lost == 0;
    zero_loss = zero_loss && lossless;
    if (batch == 1) unbatched_per_s = ex.events_per_s;
    fmt::print("| {} ({}) | {:.2f} | **{:.0f}** | {} | {} | {} | {} | {} | {} |\n", batch,
               batch == 1 ? "send" : "sendmmsg", ex.seconds, ex.events_per_s,
               lossless ? "yes" : "NO", t.records, t.messages, t.records_lost, ex.waits,
               ex.received_messages);
  }
  fmt::print("\n");

  const std::string sessions_log = o.dir + "/sluice-bench-day/nat.log";
  const std::string blocks_log = o.dir + "/sluice-bench-blocks/nat.log";
  mkdir((o.dir + "/sluice-bench-day").c_str(), 0755);
  mkdir((o.dir + "/sluice-bench-blocks").c_str(), 0755);
  const DayResult day = write_day(o, sessions_log, false);
  const DayResult blocks = write_day(o, blocks_log, true);
  fmt::print(
      "## A day's NAT log\n\n| log | lines | size | bytes/line | written in | lines/s |\n"
      "|---|---|---|---|---|---|\n"
      "| sessions (S+/S-) | {} | {} | {:.1f} | {:.1f} s | {:.0f} |\n"
      "| port blocks (B+/B-) | {} | {} | {:.1f} | {:.2f} s | {:.0f} |\n\n",
      day.lines, mib(day.bytes), static_cast<double>(day.bytes) / static_cast<double>(day.lines),
      day.seconds, static_cast<double>(day.lines) / day.seconds, blocks.lines, mib(blocks.bytes),
      static_cast<double>(blocks.bytes) / static_cast<double>(blocks.lines), blocks.seconds,
      static_cast<double>(blocks.lines) / blocks.seconds);

  TraceQuery q;
  q.public_ip = day.public_ip;
  q.port = day.port;
  q.time_ms = day.start_ms + 10'000;
  const TraceTiming any = time_trace(sessions_log, q, day.client);
  q.proto = day.proto;
  const TraceTiming proto = time_trace(sessions_log, q, day.client);
  TraceQuery unused = q;
  unused.port = 1023;  // below every block: never used
  const TraceTiming none = time_trace(sessions_log, unused, 0);
  TraceQuery bq;
  bq.public_ip = blocks.public_ip;
  bq.port = blocks.port;
  bq.time_ms = blocks.start_ms;
  const TraceTiming block_trace = time_trace(blocks_log, bq, blocks.client);
  const uint64_t index_bytes = dir_size(sessions_log + ".idx");
  // The same searches without the index: what they cost before it.
  remove_dir(sessions_log + ".idx");
  q.proto = 0;  // the index of the day's log is gone from here on
  const TraceTiming any_scan = time_trace(sessions_log, q, day.client);
  const TraceTiming none_scan = time_trace(sessions_log, unused, 0);
  fmt::print(
      "## Trace at midday (median of 5, page cache warm)\n\n"
      "The session log's index: {} ({:.1f}% of the log).\n\n"
      "| log | query | time | log read | answer |\n|---|---|---|---|---|\n"
      "| sessions | port in use, any protocol | {:.1f} ms | {} | {} |\n"
      "| sessions | port in use, --proto | {:.1f} ms | {} | {} |\n"
      "| sessions | port never used (every protocol over the 1-day lookback) | {:.1f} ms | {} | "
      "{} |\n"
      "| port blocks | port in a held block | {:.1f} ms | {} | {} |\n"
      "| sessions, no index | port in use, any protocol | {:.1f} ms | {} | {} |\n"
      "| sessions, no index | port never used | {:.1f} ms | {} | {} |\n",
      mib(index_bytes), 100.0 * static_cast<double>(index_bytes) / static_cast<double>(day.bytes),
      any.median_ms, mib(any.bytes_read), any.named ? "the client" : "WRONG", proto.median_ms,
      mib(proto.bytes_read), proto.named ? "the client" : "WRONG", none.median_ms,
      mib(none.bytes_read), none.holders == 0 ? "nobody" : "WRONG", block_trace.median_ms,
      mib(block_trace.bytes_read), block_trace.named ? "the client" : "WRONG", any_scan.median_ms,
      mib(any_scan.bytes_read), any_scan.named ? "the client" : "WRONG", none_scan.median_ms,
      mib(none_scan.bytes_read), none_scan.holders == 0 ? "nobody" : "WRONG");

  if (!o.json.empty()) {
    FILE* f = std::fopen(o.json.c_str(), "w");
    if (f != nullptr) {
      fmt::print(f,
                 "{{\"exporter\": {{\"events\": {}, \"seconds\": {:.3f}, \"events_per_s\": {:.0f}, "
                 "\"events_per_s_unbatched\": {:.0f}, \"zero_loss\": {}}}, \"day\": {{\"lines\": "
                 "{}, \"bytes\": {}, \"seconds\": "
                 "{:.2f}}}, \"blocks\": {{\"lines\": {}, \"bytes\": {}}}, \"trace_ms\": {{\"any\": "
                 "{:.2f}, \"proto\": {:.2f}, \"unused\": {:.2f}, \"blocks\": {:.2f}, "
                 "\"any_no_index\": {:.2f}, \"unused_no_index\": {:.2f}}}, \"index_bytes\": "
                 "{}}}\n",
                 o.events, ex.seconds, ex.events_per_s, unbatched_per_s, zero_loss, day.lines,
                 day.bytes, day.seconds, blocks.lines, blocks.bytes, any.median_ms, proto.median_ms,
                 none.median_ms, block_trace.median_ms, any_scan.median_ms, none_scan.median_ms,
                 index_bytes);
      std::fclose(f);
    }
  }
  if (!o.keep) {
    std::remove(sessions_log.c_str());
    std::remove(blocks_log.c_str());
    remove_dir(blocks_log + ".idx");
    rmdir((o.dir + "/sluice-bench-day").c_str());
    rmdir((o.dir + "/sluice-bench-blocks").c_str());
  }
  return 0;
}
