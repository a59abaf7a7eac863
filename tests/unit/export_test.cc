// The exporter's parts and the thread itself:
//  - ipfix::Encoder: messages decoded field by field by an independent
//    decoder (ipfix_decoder.h); sequence numbers; the MTU limit;
//  - NatLog: the exact lines, reopen after a rename (logrotate) losing no
//    line, a write error counted;
//  - Exporter: events from real rings to a real UDP socket on 127.0.0.1 and
//    a log file; templates first and again on refresh; a collector away
//    loses only what was sent meanwhile (counted) and gets the templates
//    again; stop() flushes everything.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <rte_ring.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "exporter.h"
#include "ipfix.h"
#include "ipfix_decoder.h"
#include "nat_events.h"
#include "nat_log.h"
#include "support.h"

namespace sluice::test {
namespace {

// RFC 7012 / RFC 8158 element ids, spelled out here from the RFCs.
constexpr uint16_t kObservationTimeMs = 323, kNatEvent = 230, kProto = 4, kSrcIp = 8, kSrcPort = 7,
                   kPostSrcIp = 225, kPostSrcPort = 227, kDstIp = 12, kDstPort = 11,
                   kPostDstIp = 226, kPostDstPort = 228, kRangeStart = 361, kRangeEnd = 362,
                   kQuota = 466, kFlowStartMs = 152, kFlowEndMs = 153, kOctets = 1, kPackets = 2,
                   kTcpFlags = 6, kEndReason = 136, kDropped = 133;
constexpr uint32_t kReverse = 29305;
constexpr int64_t kOffset =
    1'700'000'000'000 - 5'000'000;  // worker clock 5,000,000 = this wall time

NatEvent session_event(NatEventType type, uint16_t inside_port) {
  NatEvent e{};
  e.time_ms = 5'000'000 + inside_port;
  e.inside_ip = ip("10.16.1.10");
  e.public_ip = ip("198.51.100.7");
  e.remote_ip = ip("203.0.113.1");
  e.inside_port = inside_port;
  e.public_port = static_cast<uint16_t>(inside_port + 1000);
  e.remote_port = 443;
  e.type = type;
  e.proto = IPPROTO_TCP;
  e.tcp_flags = 0x13;
  e.end = FlowEnd::idle_timeout;
  e.start_age_ms = 60'000;
  e.last_age_ms = 1'000;
  e.packets_out = 10;
  e.packets_in = 12;
  e.bytes_out = 1'000;
  e.bytes_in = 15'000;
  e.policed = 3;
  return e;
}

NatEvent block_event(NatEventType type) {
  NatEvent e{};
  e.time_ms = 5'000'000;
  e.type = type;
  e.inside_ip = ip("10.16.1.10");
  e.public_ip = ip("198.51.100.7");
  e.public_port = 40192;
  e.remote_port = 40319;
  return e;
}

struct Captured {
  std::vector<std::vector<uint8_t>> messages;
  std::vector<uint32_t> records;
};

ipfix::Encoder encoder(Captured& c, ipfix::EncoderOptions o = {}) {
  return ipfix::Encoder(o, [&c](const uint8_t* m, size_t n, uint32_t records) {
    c.messages.emplace_back(m, m + n);
    c.records.push_back(records);
  });
}

}  // namespace

// Found by fuzz/ipfix_fuzz under UBSan: the sum of clock and offset was
// signed and could overflow.
TEST_CASE("IPFIX: observation time is the clock plus the offset modulo 2^64", "[export][ipfix]") {
  Captured c;
  ipfix::Encoder enc = encoder(c);
  IpfixDecoder dec;
  const std::vector<uint8_t> t = enc.templates_message(1234);
  dec.decode(t.data(), t.size());
  NatEvent e = block_event(NatEventType::block_allocate);
  e.time_ms = INT64_MAX;  // past any int64_t sum with a positive offset
  enc.add(e, kOffset, 1300);
  enc.flush(1300);
  REQUIRE(c.messages.size() == 1);
  const DecodedMessage m = dec.decode(c.messages[0].data(), c.messages[0].size());
  REQUIRE(m.records.size() == 1);
  CHECK(m.records[0].get(kObservationTimeMs) == uint64_t{INT64_MAX} + kOffset);
}

TEST_CASE("IPFIX: templates and NAT event records decode field by field", "[export][ipfix]") {
  const bool destinations = GENERATE(false, true);
  INFO("destinations " << destinations);
  Captured c;
  ipfix::EncoderOptions o;
  o.domain = 77;
  o.destinations = destinations;
  ipfix::Encoder enc = encoder(c, o);
  IpfixDecoder dec;
  const std::vector<uint8_t> t = enc.templates_message(1234);
  const DecodedMessage tm = dec.decode(t.data(), t.size());
  CHECK(tm.domain == 77);
  CHECK(tm.export_time == 1234);
  CHECK(tm.sequence == 0);
  CHECK(tm.records.empty());
  REQUIRE(tm.template_ids == std::vector<uint16_t>{256, 257, 258, 259});

  const auto ids = [&](uint16_t id) {
    std::vector<uint16_t> v;
    for (const DecodedField& f : dec.templates[id])
      v.push_back(f.id);
    return v;
  };
  std::vector<uint16_t> session = {kObservationTimeMs, kNatEvent,  kProto,      kSrcIp,
                                   kSrcPort,           kPostSrcIp, kPostSrcPort};
  if (destinations) session.insert(session.end(), {kDstIp, kDstPort, kPostDstIp, kPostDstPort});
  CHECK(ids(256) == session);
  CHECK(ids(257) == std::vector<uint16_t>{kObservationTimeMs, kNatEvent, kSrcIp, kPostSrcIp,
                                          kRangeStart, kRangeEnd});
  CHECK(ids(258) ==
        std::vector<uint16_t>{kObservationTimeMs, kNatEvent, kProto, kSrcIp, kPostSrcIp, kQuota});

  enc.add(session_event(NatEventType::session_create, 5000), kOffset, 1300);
  enc.add(session_event(NatEventType::session_delete, 5001), kOffset, 1300);
  enc.add(block_event(NatEventType::block_allocate), kOffset, 1300);
  NatEvent quota{};
  quota.time_ms = 5'000'000;
  quota.type = NatEventType::quota_exceeded;
  quota.quota = QuotaLimit::per_user;
  quota.proto = IPPROTO_UDP;
  quota.inside_ip = ip("10.16.1.11");
  enc.add(quota, kOffset, 1300);
  REQUIRE(c.messages.empty());
  enc.flush(1301);
  REQUIRE(c.messages.size() == 1);
  CHECK(c.records[0] == 5);
  const DecodedMessage m = dec.decode(c.messages[0].data(), c.messages[0].size());
  CHECK(m.export_time == 1301);
  CHECK(m.sequence == 0);
  CHECK(m.domain == 77);
  REQUIRE(m.records.size() == 5);

  const DecodedRecord& create = m.records[0];
  CHECK(create.template_id == 256);
  CHECK(create.get(kObservationTimeMs) == 1'700'000'005'000);
  CHECK(create.get(kNatEvent) == 4);
  CHECK(create.get(kProto) == IPPROTO_TCP);
  CHECK(ip_text(static_cast<uint32_t>(create.get(kSrcIp))) == "10.16.1.10");
  CHECK(create.get(kSrcPort) == 5000);
  CHECK(ip_text(static_cast<uint32_t>(create.get(kPostSrcIp))) == "198.51.100.7");
  CHECK(create.get(kPostSrcPort) == 6000);
  CHECK(create.has(kDstIp) == destinations);
  if (destinations) {
    CHECK(ip_text(static_cast<uint32_t>(create.get(kDstIp))) == "203.0.113.1");
    CHECK(create.get(kDstPort) == 443);
    CHECK(create.get(kPostDstIp) == create.get(kDstIp));
    CHECK(create.get(kPostDstPort) == 443);
  }
  CHECK(m.records[1].template_id == 256);
  CHECK(m.records[1].get(kNatEvent) == 5);

  const DecodedRecord& flow = m.records[2];
  CHECK(flow.template_id == 259);
  CHECK(flow.get(kFlowStartMs) == 1'700'000'005'001 - 60'000);
  CHECK(flow.get(kFlowEndMs) == 1'700'000'005'001 - 1'000);
  CHECK(flow.get(kProto) == IPPROTO_TCP);
  CHECK(flow.get(kSrcPort) == 5001);
  CHECK(flow.get(kPostSrcPort) == 6001);
  CHECK(flow.get(kOctets) == 1'000);
  CHECK(flow.get(kPackets) == 10);
  CHECK(flow.get(kOctets, kReverse) == 15'000);
  CHECK(flow.get(kPackets, kReverse) == 12);
  CHECK(flow.get(kTcpFlags) == 0x13);
  CHECK(flow.get(kEndReason) == 1);
  CHECK(flow.get(kDropped) == 3);
  CHECK(flow.has(kDstIp) == destinations);

  const DecodedRecord& block = m.records[3];
  CHECK(block.template_id == 257);
  CHECK(block.get(kNatEvent) == 16);
  CHECK(ip_text(static_cast<uint32_t>(block.get(kSrcIp))) == "10.16.1.10");
  CHECK(ip_text(static_cast<uint32_t>(block.get(kPostSrcIp))) == "198.51.100.7");
  CHECK(block.get(kRangeStart) == 40192);
  CHECK(block.get(kRangeEnd) == 40319);

  const DecodedRecord& q = m.records[4];
  CHECK(q.template_id == 258);
  CHECK(q.get(kNatEvent) == 13);
  CHECK(q.get(kQuota) == 3);
  CHECK(q.get(kProto) == IPPROTO_UDP);
  CHECK(ip_text(static_cast<uint32_t>(q.get(kSrcIp))) == "10.16.1.11");
  CHECK(q.get(kPostSrcIp) == 0);
}

TEST_CASE("IPFIX: without flows, no flow template and no flow records", "[export][ipfix]") {
  Captured c;
  ipfix::EncoderOptions o;
  o.flows = false;
  ipfix::Encoder enc = encoder(c, o);
  IpfixDecoder dec;
  const std::vector<uint8_t> t = enc.templates_message(1);
  CHECK(dec.decode(t.data(), t.size()).template_ids == std::vector<uint16_t>{256, 257, 258});
  enc.add(session_event(NatEventType::session_delete, 1), kOffset, 1);
  enc.add(session_event(NatEventType::flow_update, 2), kOffset, 1);
  enc.flush(1);
  REQUIRE(c.messages.size() == 1);
  const DecodedMessage m = dec.decode(c.messages[0].data(), c.messages[0].size());
  REQUIRE(m.records.size() == 1);
  CHECK(m.records[0].get(kNatEvent) == 5);
}

TEST_CASE("IPFIX: sequence numbers count earlier records; messages stay within the MTU",
          "[export][ipfix]") {
  const size_t max = GENERATE(size_t{548}, size_t{1472}, size_t{8972});
  INFO("max message " << max);
  Captured c;
  ipfix::EncoderOptions o;
  o.max_message = max;
  o.destinations = true;
  ipfix::Encoder enc = encoder(c, o);
  IpfixDecoder dec;
  const std::vector<uint8_t> t = enc.templates_message(1);
  dec.decode(t.data(), t.size());
  // A mix of kinds, so sets open and close inside messages.
  uint32_t expected = 0;
  for (uint16_t i = 0; i < 1000; i++) {
    const NatEventType type = i % 3 == 0   ? NatEventType::session_create
                              : i % 3 == 1 ? NatEventType::session_delete
                                           : NatEventType::block_release;
    enc.add(type == NatEventType::block_release ? block_event(type) : session_event(type, i),
            kOffset, 9);
    expected += type == NatEventType::session_delete ? 2 : 1;
  }
  enc.flush(9);
  CHECK(c.messages.size() > 1);
  uint32_t sequence = 0;
  std::vector<uint16_t> create_ports;
  for (size_t i = 0; i < c.messages.size(); i++) {
    CHECK(c.messages[i].size() <= max);
    const DecodedMessage m = dec.decode(c.messages[i].data(), c.messages[i].size());
    CHECK(m.sequence == sequence);
    CHECK(m.records.size() == c.records[i]);
    sequence += static_cast<uint32_t>(m.records.size());
    for (const DecodedRecord& r : m.records) {
      if (r.template_id == 256 && r.get(kNatEvent) == 4) {
        create_ports.push_back(static_cast<uint16_t>(r.get(kSrcPort)));
      }
    }
  }
  CHECK(sequence == expected);
  CHECK(enc.sequence() == expected);
  // Nothing lost or reordered across message boundaries.
  REQUIRE(create_ports.size() == 334);
  for (size_t i = 0; i < create_ports.size(); i++)
    CHECK(create_ports[i] == 3 * i);
  // A template message carries the sequence number unchanged.
  const std::vector<uint8_t> t2 = enc.templates_message(10);
  CHECK(dec.decode(t2.data(), t2.size()).sequence == expected);
}

namespace {

std::string temp_path(const char* what) {
  return std::string("/tmp/sluice-unit-") + std::to_string(getpid()) + "-" + what;
}

// A log and the trace index NatLog keeps beside it (PATH.idx).
void remove_log(const std::string& path) {
  std::remove(path.c_str());
  std::filesystem::remove_all(path + ".idx");
}

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> v;
  for (std::string l; std::getline(in, l);)
    v.push_back(l);
  return v;
}

}  // namespace

TEST_CASE("NAT log: one short line per session and block event", "[export][log]") {
  const std::string path = temp_path("natlog");
  remove_log(path);
  {
    NatLogOptions o;
    o.path = path;
    NatLog log(o);
    log.add(block_event(NatEventType::block_allocate), kOffset);
    log.add(session_event(NatEventType::session_create, 5000), kOffset);
    NatEvent icmp = session_event(NatEventType::session_delete, 77);
    icmp.proto = IPPROTO_ICMP;
    log.add(icmp, kOffset);
    log.add(session_event(NatEventType::flow_update, 1), kOffset);  // no line
    NatEvent quota{};
    quota.type = NatEventType::quota_exceeded;
    log.add(quota, kOffset);  // no line
    log.add(block_event(NatEventType::block_release), kOffset);
    log.flush();
    CHECK(log.counters().lines.read() == 4);
  }
  const std::vector<std::string> lines = lines_of(path);
  REQUIRE(lines.size() == 4);
  // 1,700,000,000,000 ms since 1970 is 2023-11-14T22:13:20Z.
  CHECK(lines[0] == "2023-11-14T22:13:20.000Z;B+;-;10.16.1.10;-;198.51.100.7;40192-40319");
  CHECK(lines[1] == "2023-11-14T22:13:25.000Z;S+;tcp;10.16.1.10;5000;198.51.100.7;6000");
  CHECK(lines[2] == "2023-11-14T22:13:20.077Z;S-;icmp;10.16.1.10;77;198.51.100.7;1077");
  CHECK(lines[3] == "2023-11-14T22:13:20.000Z;B-;-;10.16.1.10;-;198.51.100.7;40192-40319");
  for (const std::string& l : lines)
    CHECK(l.size() < 80);
  remove_log(path);

  NatLogOptions o;
  o.path = path;
  o.destinations = true;
  o.blocks = false;
  {
    NatLog log(o);
    log.add(block_event(NatEventType::block_allocate), kOffset);
    log.add(session_event(NatEventType::session_create, 5000), kOffset);
  }
  CHECK(lines_of(path) == std::vector<std::string>{"2023-11-14T22:13:25.000Z;S+;tcp;10.16.1.10;"
                                                   "5000;198.51.100.7;6000;203.0.113.1;443"});
  remove_log(path);
}

TEST_CASE("NAT log: reopen after a rename loses no line; a failed write is counted",
          "[export][log]") {
  const std::string path = temp_path("rotate");
  remove_log(path);
  remove_log(path + ".1");
  NatLogOptions o;
  o.path = path;
  {
    NatLog log(o);
    for (uint16_t i = 0; i < 3000; i++) {
      log.add(session_event(NatEventType::session_create, i), kOffset);
      if (i == 1000) REQUIRE(std::rename(path.c_str(), (path + ".1").c_str()) == 0);
      if (i == 2000) REQUIRE(log.reopen());
    }
    log.flush();
    CHECK(log.counters().lines.read() == 3000);
    CHECK(log.counters().reopens.read() == 1);
  }
  const std::vector<std::string> old_lines = lines_of(path + ".1");
  const std::vector<std::string> new_lines = lines_of(path);
  CHECK(old_lines.size() == 2001);
  CHECK(new_lines.size() == 999);
  CHECK(new_lines.front().find(";2001;") != std::string::npos);
  remove_log(path);
  remove_log(path + ".1");

  o.path = "/dev/full";
  NatLog full(o);
  full.add(session_event(NatEventType::session_create, 1), kOffset);
  full.add(session_event(NatEventType::session_create, 2), kOffset);
  full.flush();
  CHECK(full.counters().lines.read() == 0);
  CHECK(full.counters().lines_lost.read() == 2);
  CHECK(full.counters().write_errors.read() == 1);
  CHECK(full.take_error().find("No space left") != std::string::npos);
}

// A SIGHUP that rotates nothing (logrotate found nothing to do, or a storm
// of them) used to end the index segment: a record with its 32 KiB Bloom
// filter per SIGHUP, so 50 of them filled a 1 MiB log disk with the index
// of a few kilobytes of log.
TEST_CASE("NAT log: a reopen of the same file adds nothing to the trace index", "[export][log]") {
  const std::string path = temp_path("rehup");
  remove_log(path);
  NatLogOptions o;
  o.path = path;
  {
    NatLog log(o);
    for (uint16_t i = 0; i < 50; i++) {
      log.add(session_event(NatEventType::session_create, i), kOffset);
      REQUIRE(log.reopen());
    }
    log.flush();
    CHECK(log.counters().reopens.read() == 50);
    CHECK(log.counters().lines.read() == 50);
  }
  CHECK(lines_of(path).size() == 50);
  // One segment, ended when the log closed: one record.
  uint64_t index_bytes = 0;
  for (const auto& f : std::filesystem::directory_iterator(path + ".idx"))
    index_bytes += f.file_size();
  CHECK(index_bytes > 0);
  CHECK(index_bytes < 2 * LogIndex::kBloomBits / 8);
  remove_log(path);
}

namespace {

// A collector: a UDP socket on 127.0.0.1, port chosen by the kernel.
class UdpCollector {
 public:
  explicit UdpCollector(uint16_t port = 0) {
    fd_ = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    const int buffer = 8 << 20;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
  }
  ~UdpCollector() { close(fd_); }
  uint16_t port() const { return port_; }

  // Datagrams that arrive within `ms`.
  std::vector<std::vector<uint8_t>> receive(int ms) {
    std::vector<std::vector<uint8_t>> v;
    pollfd p{fd_, POLLIN, 0};
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          end - std::chrono::steady_clock::now());
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) != 1) break;
      std::vector<uint8_t> b(65536);
      const ssize_t n = recv(fd_, b.data(), b.size(), 0);
      if (n <= 0) break;
      b.resize(static_cast<size_t>(n));
      v.push_back(std::move(b));
    }
    return v;
  }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

struct ExportRig {
  explicit ExportRig(uint16_t port, unsigned refresh_s = 60, bool with_log = false,
                     unsigned send_batch = 32) {
    ring = rte_ring_create_elem(("export_rig" + std::to_string(serial())).c_str(), sizeof(NatEvent),
                                4096, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    REQUIRE(ring != nullptr);
    producer = std::make_unique<NatEvents>(ring, false);
    ExporterOptions o;
    o.collectors = {{ip("127.0.0.1"), port}};
    o.template_refresh_s = refresh_s;
    o.send_batch = send_batch;
    o.wall_offset_ms = kOffset;
    if (with_log) {
      log_path = temp_path("exporter-log");
      remove_log(log_path);
      o.log.path = log_path;
    }
    exporter = std::make_unique<Exporter>(o, std::vector<rte_ring*>{ring},
                                          std::vector<const NatEvents*>{producer.get()});
  }
  ~ExportRig() {
    exporter.reset();
    rte_ring_free(ring);
    if (!log_path.empty()) remove_log(log_path);
  }
  static unsigned serial() {
    static std::atomic<unsigned> n{0};
    return n++;
  }
  void sessions(uint16_t first, uint16_t count) {
    for (uint16_t i = 0; i < count; i++) {
      const NatEvent e = session_event(NatEventType::session_create, first + i);
      REQUIRE(rte_ring_sp_enqueue_elem(ring, const_cast<NatEvent*>(&e), sizeof(e)) == 0);
    }
  }

  rte_ring* ring;
  std::unique_ptr<NatEvents> producer;
  std::unique_ptr<Exporter> exporter;
  std::string log_path;
};

// The inside ports of the session-create records in these datagrams
// (templates learnt on the way); *templates counts template messages.
std::vector<uint16_t> created(IpfixDecoder& dec, const std::vector<std::vector<uint8_t>>& msgs,
                              unsigned* templates = nullptr) {
  std::vector<uint16_t> ports;
  for (const auto& m : msgs) {
    const DecodedMessage d = dec.decode(m.data(), m.size());
    if (!d.template_ids.empty() && templates != nullptr) (*templates)++;
    for (const DecodedRecord& r : d.records)
      ports.push_back(static_cast<uint16_t>(r.get(kSrcPort)));
  }
  return ports;
}

}  // namespace

TEST_CASE("Exporter: templates first, refreshed; stop() flushes every event", "[export]") {
  UdpCollector collector;
  ExportRig rig(collector.port(), 1, true);
  rig.exporter->start();
  IpfixDecoder dec;
  unsigned templates = 0;
  std::vector<std::vector<uint8_t>> got = collector.receive(300);
  REQUIRE(!got.empty());
  CHECK(dec.decode(got[0].data(), got[0].size()).template_ids.size() == 4);
  created(dec, got, &templates);
  CHECK(templates == 1);
  // The refresh interval is 1 s: a second template message comes unasked.
  got = collector.receive(1500);
  created(dec, got, &templates);
  CHECK(templates >= 2);

  rig.sessions(0, 500);
  rig.exporter->stop();
  const std::vector<uint16_t> ports = created(dec, collector.receive(200));
  REQUIRE(ports.size() == 500);
  for (uint16_t i = 0; i < 500; i++)
    CHECK(ports[i] == i);
  const ExportTotals t = rig.exporter->totals();
  CHECK(t.events == 500);
  CHECK(t.records == 500);
  CHECK(t.records_lost == 0);
  CHECK(t.log_lines == 500);
  CHECK(lines_of(rig.log_path).size() == 500);
}

TEST_CASE("Exporter: messages sent in batches arrive whole, in order, with their sequence",
          "[export]") {
  for (const unsigned batch : {1u, 3u, 32u}) {
    UdpCollector collector;
    ExportRig rig(collector.port(), 60, false, batch);
    rig.exporter->start();
    rig.sessions(0, 3000);  // about 60 messages, in two or more rounds
    rig.exporter->stop();
    IpfixDecoder dec;
    uint32_t records = 0;
    uint64_t messages = 0;
    std::vector<uint16_t> ports;
    for (const auto& m : collector.receive(300)) {
      const DecodedMessage d = dec.decode(m.data(), m.size());
      if (d.records.empty()) continue;
      CHECK(d.sequence == records);  // nothing missing or reordered before it
      records += static_cast<uint32_t>(d.records.size());
      messages++;
      for (const DecodedRecord& r : d.records)
        ports.push_back(static_cast<uint16_t>(r.get(kSrcPort)));
    }
    REQUIRE(ports.size() == 3000);
    for (uint16_t i = 0; i < 3000; i++)
      CHECK(ports[i] == i);
    const ExportTotals t = rig.exporter->totals();
    CHECK(t.messages == messages);
    CHECK(t.records == 3000);
    CHECK(t.send_errors == 0);
  }
}

TEST_CASE(
    "Exporter: a collector away loses what was sent meanwhile, counted, then gets "
    "templates again",
    "[export]") {
  auto collector = std::make_unique<UdpCollector>();
  const uint16_t port = collector->port();
  ExportRig rig(port);
  rig.exporter->start();
  IpfixDecoder dec;
  rig.sessions(0, 100);
  std::vector<uint16_t> ports = created(dec, collector->receive(300));
  CHECK(ports.size() == 100);

  collector.reset();  // the port is closed: sends meet ICMP port unreachable
  uint64_t lost = 0;
  for (uint16_t round = 0; round < 20 && lost == 0; round++) {
    rig.sessions(static_cast<uint16_t>(100 + round * 10), 10);
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    lost = rig.exporter->totals().records_lost;
  }
  REQUIRE(lost > 0);
  const uint64_t sent_while_away = rig.exporter->totals().events - 100;

  collector = std::make_unique<UdpCollector>(port);
  IpfixDecoder fresh;  // a restarted collector knows no template
  rig.sessions(1000, 50);
  rig.exporter->stop();
  unsigned templates = 0;
  ports = created(fresh, collector->receive(300), &templates);
  CHECK(templates >= 1);
  REQUIRE(ports.size() == 50);
  CHECK(ports.front() == 1000);
  const ExportTotals t = rig.exporter->totals();
  CHECK(t.send_errors >= 1);
  CHECK(t.records_lost <= sent_while_away);
  CHECK(t.records == t.events - t.records_lost);
}

}  // namespace sluice::test
