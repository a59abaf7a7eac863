// A sparse index beside the NAT log, so that `sluicectl trace` can skip the
// parts of a day's log that never name a public address and port.
//
// NatLog (nat_log.h) cuts its file into segments of about kSegmentBytes at
// the end of a batch write (always a line boundary) and appends one record
// per segment to PATH.idx/INODE: the segment's byte range, its earliest
// line time, and a Bloom filter of the (public address, port) pairs
// its lines name (every port of a block line's range). The file is named by
// the log's inode, so it follows the log when logrotate renames it; its
// header keeps the log's first bytes, so an index of a reused inode or of
// another file is recognised and ignored. A compressed file is a new inode:
// its index is removed at the next rotation (remove_stale_indexes) and the
// gzip file is read through as before.
//
// The reader (trace.cc) asks, per record, "may this segment hold a line of
// (address, port)?": a "no" is certain, so a segment is skipped only when it
// holds no such line; what no record covers (the segment being written, a
// gap after a restart or a crash) is read. About 3% of the log's size; a
// false "maybe" (about 0.1% of segments) only costs reading 1 MiB.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace sluice {

struct LogIndexRecord {
  uint64_t begin = 0;  // byte range of the segment in the log
  uint64_t end = 0;
  int64_t first_ms = 0;  // its earliest line's time: where the lookback ends
};

class LogIndex {
 public:
  static constexpr uint64_t kSegmentBytes = 1 << 20;
  static constexpr uint32_t kBloomBits = 1 << 18;
  static constexpr unsigned kHashes = 5;
  static constexpr size_t kPrefix = 64;  // bytes of the log kept in the header

  // The index file of the log file at `log_path` whose inode is `inode`.
  static std::string path_of(const std::string& log_path, ino_t inode);

  // Writer side: the lines of the segment being written.
  void add(uint32_t public_ip, uint16_t port_lo, uint16_t port_hi, int64_t ms) noexcept;
  // Forgets the segment (the log was truncated under the writer).
  void clear() noexcept;
  // Appends the segment [begin, end) of the log open as log_fd (whose first
  // bytes the header keeps) to the index of the log at log_path, then starts
  // a new segment. Returns "" or what went wrong (the log is not affected).
  std::string write(const std::string& log_path, int log_fd, uint64_t begin, uint64_t end);

  // Reader side: the index of a file of the log at log_path (the current
  // file or a rotated one, open as log_fd, of that inode). Records are read
  // when asked for, newest first, so a search that ends early reads little.
  class Reader {
   public:
    Reader(const std::string& log_path, int log_fd, ino_t inode);
    ~Reader();
    Reader(const Reader&) = delete;
    Reader& operator=(const Reader&) = delete;

    // Records in the file (0: no valid index).
    uint64_t count() const noexcept { return count_; }
    // Record i, or false when it cannot be read or does not fit the log
    // (the index is then not to be trusted from there down).
    bool record(uint64_t i, LogIndexRecord* r) const;
    // Whether segment i may hold a line of (public_ip, port).
    bool may_hold(uint64_t i, uint32_t public_ip, uint16_t port) const;

   private:
    int fd_ = -1;
    uint64_t count_ = 0;
    uint64_t log_size_ = 0;
  };

  // Removes the index files under PATH.idx whose log file (one of PATH,
  // PATH.N, PATH-DATE...) no longer exists under that inode.
  static void remove_stale_indexes(const std::string& log_path);

 private:
  std::string append(const std::string& path, int log_fd, uint64_t begin, uint64_t end);

  std::vector<uint8_t> bloom_ = std::vector<uint8_t>(kBloomBits / 8);
  bool any_ = false;
  int64_t first_ms_ = 0;
};

}  // namespace sluice
