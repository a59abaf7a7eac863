// The search behind `sluicectl trace PUBLIC_IP PORT TIME`: who was behind a
// public address and port at a time, from the NAT log (nat_log.h) and its
// rotated files (PATH.1, PATH.2.gz, PATH-20250115, ... plain or gzip).
//
// The files are put in time order by their first line. Within the window
// [TIME - window, TIME + window] every session line of the public address,
// port (and protocol, if given) and every block line whose range holds the
// port is collected. What held the port already when the window opened is
// found by reading backwards from its start: the latest block line for the
// port decides at once (B+: held, B-: free); for session lines, creates and
// deletes are counted backwards, per protocol, until a create outnumbers the
// deletes after it (held), a line of another inside endpoint shows the
// port had changed hands (free; another client: free for every protocol,
// since a port block holds all three), or `lookback` is exhausted. Without
// a protocol the search settles TCP, UDP and ICMP, which may mean reading
// back the whole lookback (of the port's own lines, with the index).
//
// Plain files are searched, not scanned: a binary search on the line times
// finds the window, the backward reading skips the segments that the log's
// index (nat_log_index.h) shows never name the address and port, and stops
// as soon as the answer is known. So a port nobody used, or a protocol that
// never used it, costs reading the index, not the lookback. A gzip file
// cannot be seeked, so it is read through when it may hold the window or
// the lookback (logrotate's delaycompress keeps the latest rotated file
// plain).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct TraceQuery {
  uint32_t public_ip = 0;  // host order
  uint16_t port = 0;
  uint8_t proto = 0;  // 0: any
  int64_t time_ms = 0;
  int64_t window_ms = 5000;
  int64_t lookback_ms = 86'400'000;
};

struct TraceHolder {
  uint32_t inside_ip = 0;
  bool held_at_start = false;      // held the port when the window opened
  std::vector<std::string> lines;  // in time order; the one before the window first
};

struct TraceResult {
  std::vector<TraceHolder> holders;  // in order of their first line
  std::vector<std::string> files;    // read, oldest first
  uint64_t bytes_read = 0;
  bool undecided = false;  // the lookback ran out before the start was known
};

// Throws std::runtime_error when no log file can be read.
TraceResult trace(const std::string& log_path, const TraceQuery& q);

// ISO-8601 ("2025-01-15T10:23:45", with optional ".mmm" and a zone "Z",
// "+01:00", "+0100"; without a zone: local time) or "@SECONDS" since 1970.
bool parse_time(const std::string& text, int64_t* ms);

}  // namespace sluice
