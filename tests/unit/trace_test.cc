// The trace search (control/trace.h) on logs written by the real NatLog:
// a holder found inside the window, before it (held when it opened), a
// port that changed hands, a free port, block lines answering for every
// port of the block, logs rotated into plain and gzip files, and the index
// beside the log (nat_log_index.h) skipping what does not name the port
// without changing an answer.
#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "nat_events.h"
#include "nat_log.h"
#include "nat_log_index.h"
#include "support.h"
#include "trace.h"

namespace sluice::test {
namespace {

// 2025-01-15T10:00:00Z in ms.
constexpr int64_t kT0 = 1'736'935'200'000;
constexpr int64_t kSecond = 1000;
const uint32_t kPublic = ip("198.51.100.7");
const uint32_t kA = ip("10.16.1.2");
const uint32_t kB = ip("10.16.1.3");

NatEvent session(bool create, int64_t at, uint32_t inside, uint16_t inside_port, uint16_t port,
                 uint8_t proto = IPPROTO_UDP, uint32_t public_ip = kPublic) {
  NatEvent e{};
  e.time_ms = static_cast<uint64_t>(at);
  e.type = create ? NatEventType::session_create : NatEventType::session_delete;
  e.proto = proto;
  e.inside_ip = inside;
  e.inside_port = inside_port;
  e.public_ip = public_ip;
  e.public_port = port;
  e.remote_ip = ip("203.0.113.9");
  e.remote_port = 53;
  return e;
}

NatEvent block(bool allocate, int64_t at, uint32_t inside, uint16_t first, uint16_t last) {
  NatEvent e{};
  e.time_ms = static_cast<uint64_t>(at);
  e.type = allocate ? NatEventType::block_allocate : NatEventType::block_release;
  e.inside_ip = inside;
  e.public_ip = kPublic;
  e.public_port = first;
  e.remote_port = last;
  return e;
}

class LogDir {
 public:
  LogDir() {
    dir_ = "/tmp/sluice-trace-" + std::to_string(getpid()) + "-" + std::to_string(serial_++);
    mkdir(dir_.c_str(), 0700);
  }
  ~LogDir() { std::filesystem::remove_all(dir_); }
  std::string log() const { return dir_ + "/nat.log"; }

  // The events (in time order) as the file `name`, with a line of noise
  // (other clients, other ports, other addresses) before each.
  void write(const std::string& name, const std::vector<NatEvent>& events, bool gz = false) {
    const std::string path = dir_ + "/" + name;
    const std::string plain = gz ? path + ".tmp" : path;
    {
      NatLogOptions o;
      o.path = plain;
      NatLog writer(o);
      uint16_t noise = 0;
      for (const NatEvent& e : events) {
        for (int k = 0; k < 50; k++, noise++) {
          writer.add(
              session(true, static_cast<int64_t>(e.time_ms) - 1, ip("10.16.9.9"), noise,
                      static_cast<uint16_t>(2000 + noise % 1000), IPPROTO_UDP, ip("198.51.100.8")),
              0);
        }
        writer.add(e, 0);
      }
    }
    if (!gz) return;
    std::ifstream in(plain);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    gzFile g = gzopen(path.c_str(), "wb");
    REQUIRE(g != nullptr);
    gzwrite(g, text.data(), static_cast<unsigned>(text.size()));
    gzclose(g);
    std::remove(plain.c_str());
  }

 private:
  static inline int serial_ = 0;
  std::string dir_;
};

// n session lines of other clients on another public address, one every
// 100 ms from `from`: about 66 bytes each.
void noise(NatLog& log, int64_t from, int n) {
  for (int i = 0; i < n; i++) {
    log.add(session(i % 2 == 0, from + i * 100, ip("10.16.9.9") + static_cast<uint32_t>(i % 500),
                    static_cast<uint16_t>(1024 + i % 30000), static_cast<uint16_t>(2000 + i % 1000),
                    IPPROTO_UDP, ip("198.51.100.8")),
            0);
  }
}

TraceQuery query(uint16_t port, int64_t at, int64_t window = 5 * kSecond, uint8_t proto = 0) {
  TraceQuery q;
  q.public_ip = kPublic;
  q.port = port;
  q.time_ms = at;
  q.window_ms = window;
  q.proto = proto;
  return q;
}

}  // namespace

TEST_CASE("trace: session lines name the client in, before and across the window", "[trace]") {
  LogDir d;
  d.write("nat.log", {
                         session(true, kT0, kA, 5000, 40123),
                         session(true, kT0 + 10 * kSecond, kA, 5000, 40123),  // a 2nd remote
                         session(false, kT0 + 20 * kSecond, kA, 5000, 40123),
                         session(false, kT0 + 60 * kSecond, kA, 5000, 40123),
                         session(true, kT0 + 300 * kSecond, kB, 6000, 40123),
                         session(false, kT0 + 400 * kSecond, kB, 6000, 40123),
                         session(true, kT0 + 500 * kSecond, kB, 6001, 40123, IPPROTO_TCP),
                     });

  SECTION("held when the window opened: the create that outlasts the deletes is shown") {
    const TraceResult r = trace(d.log(), query(40123, kT0 + 30 * kSecond));
    REQUIRE(r.holders.size() == 1);
    CHECK(ip_text(r.holders[0].inside_ip) == "10.16.1.2");
    CHECK(r.holders[0].held_at_start);
    REQUIRE(r.holders[0].lines.size() == 1);
    CHECK(r.holders[0].lines[0] ==
          "2025-01-15T10:00:00.000Z;S+;udp;10.16.1.2;5000;198.51.100.7;40123");
  }
  SECTION("its end inside the window") {
    const TraceResult r = trace(d.log(), query(40123, kT0 + 58 * kSecond));
    REQUIRE(r.holders.size() == 1);
    CHECK(r.holders[0].held_at_start);
    REQUIRE(r.holders[0].lines.size() == 2);
    CHECK(r.holders[0].lines[1].find(";S-;udp;10.16.1.2;5000;") != std::string::npos);
  }
  SECTION("free between two clients") {
    const TraceResult r = trace(d.log(), query(40123, kT0 + 200 * kSecond));
    CHECK(r.holders.empty());
    CHECK_FALSE(r.undecided);
  }
  SECTION("a window over both tenures names both, in order") {
    const TraceResult r = trace(d.log(), query(40123, kT0 + 200 * kSecond, 150 * kSecond));
    REQUIRE(r.holders.size() == 2);
    CHECK(ip_text(r.holders[0].inside_ip) == "10.16.1.2");
    CHECK(ip_text(r.holders[1].inside_ip) == "10.16.1.3");
  }
  SECTION("the protocol: TCP on the same port is another mapping") {
    CHECK(trace(d.log(), query(40123, kT0 + 350 * kSecond, 5 * kSecond, IPPROTO_TCP))
              .holders.empty());
    const TraceResult r =
        trace(d.log(), query(40123, kT0 + 600 * kSecond, 5 * kSecond, IPPROTO_TCP));
    REQUIRE(r.holders.size() == 1);
    CHECK(ip_text(r.holders[0].inside_ip) == "10.16.1.3");
  }
  SECTION("another port of the same address: nobody") {
    CHECK(trace(d.log(), query(40124, kT0 + 30 * kSecond)).holders.empty());
  }
}

TEST_CASE("trace: one block line answers for every port of its block", "[trace]") {
  LogDir d;
  d.write("nat.log", {
                         block(true, kT0, kA, 40064, 40191),
                         block(false, kT0 + 3600 * kSecond, kA, 40064, 40191),
                         block(true, kT0 + 3800 * kSecond, kB, 40064, 40191),
                     });
  for (uint16_t port : {uint16_t{40064}, uint16_t{40123}, uint16_t{40191}}) {
    const TraceResult r = trace(d.log(), query(port, kT0 + 1800 * kSecond));
    REQUIRE(r.holders.size() == 1);
    CHECK(ip_text(r.holders[0].inside_ip) == "10.16.1.2");
    CHECK(r.holders[0].held_at_start);
    CHECK(r.holders[0].lines[0].find(";B+;-;10.16.1.2;-;198.51.100.7;40064-40191") !=
          std::string::npos);
  }
  CHECK(trace(d.log(), query(40192, kT0 + 1800 * kSecond)).holders.empty());
  CHECK(trace(d.log(), query(40123, kT0 + 3700 * kSecond)).holders.empty());
  const TraceResult later = trace(d.log(), query(40123, kT0 + 4000 * kSecond));
  REQUIRE(later.holders.size() == 1);
  CHECK(ip_text(later.holders[0].inside_ip) == "10.16.1.3");
}

TEST_CASE("trace: rotated logs, plain and gzip, are read in time order", "[trace]") {
  LogDir d;
  // Oldest in .2.gz (A's block allocated), then .1 (plain), then the current.
  d.write("nat.log.2.gz", {block(true, kT0, kA, 40064, 40191)}, true);
  d.write("nat.log.1", {session(true, kT0 + 7200 * kSecond, kB, 1, 50000)});
  d.write("nat.log", {block(false, kT0 + 86400 * kSecond, kA, 40064, 40191)});
  const TraceResult r = trace(d.log(), query(40100, kT0 + 43200 * kSecond));
  REQUIRE(r.holders.size() == 1);
  CHECK(ip_text(r.holders[0].inside_ip) == "10.16.1.2");
  CHECK(r.holders[0].held_at_start);
  CHECK(r.files.size() == 2);  // the .1 and the .2.gz, not the current one
  const TraceResult end = trace(d.log(), query(40100, kT0 + 86400 * kSecond));
  REQUIRE(end.holders.size() == 1);
  CHECK(end.holders[0].lines.size() == 2);  // the allocation, then the release in the window
}

TEST_CASE("trace: the index skips what never names the port, and answers the same", "[trace]") {
  LogDir d;
  constexpr int kNoise = 40'000;  // about 2.6 MB, two and a half index segments
  {
    NatLogOptions o;
    o.path = d.log();
    NatLog log(o);
    log.add(session(true, kT0, kA, 5000, 40123), 0);  // UDP, held from then on
    log.add(session(true, kT0, kB, 6000, 40200, IPPROTO_TCP), 0);
    log.add(session(false, kT0 + 1000, kB, 6000, 40200, IPPROTO_TCP), 0);
    noise(log, kT0 + 2000, kNoise);
  }
  {
    NatLogOptions o;  // sluice restarted: appends to the file and its index
    o.path = d.log();
    NatLog log(o);
    noise(log, kT0 + 2000 + kNoise * 100, kNoise);
    log.add(session(true, kT0 + 9000 * kSecond, kB, 6001, 40300, IPPROTO_ICMP), 0);
  }
  const int64_t later = kT0 + 8000 * kSecond;
  struct stat st {};
  REQUIRE(stat(d.log().c_str(), &st) == 0);
  const auto size = static_cast<uint64_t>(st.st_size);
  REQUIRE(size > 5 * LogIndex::kSegmentBytes);

  const auto check = [&](const TraceResult& held, const TraceResult& ended,
                         const TraceResult& nobody) {
    REQUIRE(held.holders.size() == 1);
    CHECK(ip_text(held.holders[0].inside_ip) == "10.16.1.2");
    CHECK(held.holders[0].held_at_start);
    CHECK(held.holders[0].lines[0].find(";S+;udp;10.16.1.2;5000;198.51.100.7;40123") !=
          std::string::npos);
    CHECK_FALSE(held.undecided);
    CHECK(ended.holders.empty());
    CHECK_FALSE(ended.undecided);
    CHECK(nobody.holders.empty());
    CHECK_FALSE(nobody.undecided);
  };
  const TraceResult held = trace(d.log(), query(40123, later));
  const TraceResult ended = trace(d.log(), query(40200, later));
  const TraceResult nobody = trace(d.log(), query(40124, later));
  check(held, ended, nobody);
  // Every protocol settled without reading the segments between.
  CHECK(held.bytes_read < size / 2);
  CHECK(nobody.bytes_read < size / 2);
  // Without the index the whole file is read, to the same answers.
  std::filesystem::remove_all(d.log() + ".idx");
  const TraceResult held_scan = trace(d.log(), query(40123, later));
  check(held_scan, trace(d.log(), query(40200, later)), trace(d.log(), query(40124, later)));
  CHECK(held_scan.bytes_read > size);
  CHECK(trace(d.log(), query(40300, kT0 + 9000 * kSecond)).holders.size() == 1);
}

TEST_CASE("trace: the index follows a rotated log and never speaks for another file", "[trace]") {
  LogDir d;
  NatLogOptions o;
  o.path = d.log();
  {
    NatLog log(o);
    log.add(session(true, kT0, kA, 5000, 40123), 0);
    noise(log, kT0 + 1000, 40'000);
    // logrotate: rename, then SIGHUP; the index stays the renamed file's.
    REQUIRE(std::rename(d.log().c_str(), (d.log() + ".1").c_str()) == 0);
    REQUIRE(log.reopen());
    noise(log, kT0 + 5000 * kSecond, 100);
  }
  struct stat st {};
  REQUIRE(stat((d.log() + ".1").c_str(), &st) == 0);
  CHECK(access(LogIndex::path_of(d.log(), st.st_ino).c_str(), R_OK) == 0);
  const TraceResult r = trace(d.log(), query(40123, kT0 + 4000 * kSecond));
  REQUIRE(r.holders.size() == 1);
  CHECK(r.holders[0].held_at_start);
  CHECK(r.bytes_read < static_cast<uint64_t>(st.st_size) / 2);

  // The rotated file is rewritten in place (same inode, other lines, as
  // copytruncate would): its old index is not used, the answer is right.
  { std::ofstream truncate(d.log() + ".1", std::ios::trunc); }
  {
    NatLogOptions other = o;
    other.path = d.log() + ".1";
    NatLog log(other);
    log.add(session(true, kT0, kB, 7000, 40123), 0);
    noise(log, kT0 + 1000, 100);
  }
  REQUIRE(stat((d.log() + ".1").c_str(), &st) == 0);
  const TraceResult after = trace(d.log(), query(40123, kT0 + 4000 * kSecond));
  REQUIRE(after.holders.size() == 1);
  CHECK(ip_text(after.holders[0].inside_ip) == "10.16.1.3");

  // A compressed (new) file's index is gone at the next rotation.
  const std::string stale = LogIndex::path_of(d.log(), st.st_ino);
  CHECK(access(stale.c_str(), R_OK) == 0);
  REQUIRE(std::remove((d.log() + ".1").c_str()) == 0);
  {
    NatLog log(o);
    REQUIRE(log.reopen());
  }
  CHECK(access(stale.c_str(), R_OK) != 0);
}

TEST_CASE("trace: times in ISO-8601 with a zone, or seconds since 1970", "[trace]") {
  int64_t ms = 0;
  REQUIRE(parse_time("2025-01-15T10:00:00Z", &ms));
  CHECK(ms == kT0);
  REQUIRE(parse_time("2025-01-15T11:00:00.250+01:00", &ms));
  CHECK(ms == kT0 + 250);
  REQUIRE(parse_time("2025-01-15 05:00:00-0500", &ms));
  CHECK(ms == kT0);
  REQUIRE(parse_time("@1736935200", &ms));
  CHECK(ms == kT0);
  CHECK_FALSE(parse_time("2025-13-15T10:00:00Z", &ms));
  CHECK_FALSE(parse_time("yesterday", &ms));
  CHECK_FALSE(parse_time("2025-01-15T10:00:00+1", &ms));
}

}  // namespace sluice::test
