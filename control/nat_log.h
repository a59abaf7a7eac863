// The local NAT log: one short line per session or port block event, in
// time order, written by the exporter thread (exporter.h) in batches.
//
//   2025-01-15T10:23:45.123Z;S+;udp;10.16.1.2;51234;198.51.100.7;40123
//   2025-01-15T10:23:45.123Z;S+;tcp;10.16.1.2;51235;198.51.100.7;40301;192.0.2.2;80
//   2025-01-15T10:20:01.007Z;B+;-;10.16.1.2;-;198.51.100.7;40192-40319
//
// time (UTC, milliseconds); event: S+ session created, S- session deleted,
// B+ port block allocated, B- released; protocol (tcp, udp, icmp; '-' for a
// block); inside address and port (an ICMP query's identifier); public
// address and port, adjacent, or a block's port range; the remote address
// and port with `destinations`. sluicectl trace (trace.h) reads it.
//
// Lines are formatted into a buffer written with one write() when it is
// nearly full or on flush() (the exporter flushes every 100 ms and when it
// stops). reopen() flushes, then opens the path anew: logrotate renames the
// file and sends SIGHUP, and no line is lost or split between the two. A
// failed write (a full disk) loses the buffered lines, counts them and the
// error, and is retried with the next batch; it never stops anything else.
//
// Beside the log, a sparse index for trace (nat_log_index.h): after a
// successful write that completes about 1 MiB of log, the segment's record
// is appended to PATH.idx/INODE; also on reopen() and when the log closes.
// An index that cannot be written is reported once, never stops the log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "counters.h"
#include "nat_events.h"
#include "nat_log_index.h"

namespace sluice {

struct NatLogOptions {
  std::string path;
  bool sessions = true;  // S+ / S- lines
  bool blocks = true;    // B+ / B- lines
  bool destinations = false;
};

struct alignas(64) NatLogCounters {
  Counter lines;  // written
  Counter lines_lost;
  Counter write_errors;
  Counter reopens;
};

class NatLog {
 public:
  // Opens (creates, appends to) the path; throws std::runtime_error naming it.
  explicit NatLog(const NatLogOptions& options);
  ~NatLog();
  NatLog(const NatLog&) = delete;
  NatLog& operator=(const NatLog&) = delete;

  // The event's line, if it has one of the kinds logged; wall_offset_ms
  // turns the worker clock into milliseconds since 1970.
  void add(const NatEvent& e, int64_t wall_offset_ms);
  void flush();
  // Flushes to the old file, then opens the path again. false (counted as
  // a write error, the old file kept) when it cannot be opened.
  bool reopen();

  const NatLogCounters& counters() const noexcept { return counters_; }
  // The last error, for the operator ("" when none since the last call).
  std::string take_error();

  // The line of e (with its newline) into out, which has room for
  // kMaxLine bytes; its length, 0 when the event has no line.
  static constexpr size_t kMaxLine = 128;
  size_t format(const NatEvent& e, int64_t wall_offset_ms, char* out);

 private:
  int open_file();
  // The segment written since the last one ends here: its index record.
  void end_segment();

  NatLogOptions options_;
  int fd_ = -1;
  std::vector<char> buffer_;
  size_t used_ = 0;
  uint64_t buffered_lines_ = 0;
  int64_t second_ = -1;  // the second whose text is in stamp_
  char stamp_[20] = {};  // YYYY-MM-DDTHH:MM:SS
  std::string error_;
  LogIndex index_;
  uint64_t segment_begin_ = 0;  // log offsets
  uint64_t written_end_ = 0;
  bool index_failed_ = false;  // reported; quiet until the next file
  bool regular_ = false;       // a file (not /dev/...): indexed
  NatLogCounters counters_;
};

}  // namespace sluice
