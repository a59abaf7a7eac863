#include "nat_log.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace sluice {

namespace {

constexpr size_t kBuffer = 1 << 16;

char* put_uint(char* p, uint32_t v) {
  char tmp[10];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0)
    *p++ = tmp[--n];
  return p;
}

char* put_ip(char* p, uint32_t ip) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    p = put_uint(p, (ip >> shift) & 0xff);
    *p++ = shift != 0 ? '.' : ';';
  }
  return p;
}

char* put_str(char* p, const char* s) {
  while (*s != '\0')
    *p++ = *s++;
  return p;
}

const char* proto_name(uint8_t proto) {
  switch (proto) {
    case IPPROTO_TCP:
      return "tcp;";
    case IPPROTO_UDP:
      return "udp;";
    default:
      return "icmp;";
  }
}

}  // namespace

NatLog::NatLog(const NatLogOptions& options) : options_(options), buffer_(kBuffer) {
  fd_ = open_file();
  if (fd_ < 0) {
    throw std::runtime_error(
        fmt::format("export.log = '{}': cannot open: {}", options_.path, std::strerror(errno)));
  }
}

NatLog::~NatLog() {
  flush();
  end_segment();
  if (fd_ >= 0) close(fd_);
}

// Read and write: the index keeps the log's first bytes (nat_log_index.h).
int NatLog::open_file() {
  const int fd = open(options_.path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd >= 0) {
    struct stat st {};
    regular_ = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    segment_begin_ = written_end_ = regular_ ? static_cast<uint64_t>(st.st_size) : 0;
  }
  return fd;
}

void NatLog::end_segment() {
  if (!regular_) {
    index_.clear();
    return;
  }
  const std::string error = index_.write(options_.path, fd_, segment_begin_, written_end_);
  segment_begin_ = written_end_;
  if (!error.empty() && !index_failed_) {
    index_failed_ = true;
    error_ = error + " (trace reads the whole log instead)";
  }
}

size_t NatLog::format(const NatEvent& e, int64_t wall_offset_ms, char* out) {
  const char* event = nullptr;
  const bool session =
      e.type == NatEventType::session_create || e.type == NatEventType::session_delete;
  const bool block =
      e.type == NatEventType::block_allocate || e.type == NatEventType::block_release;
  if (session && options_.sessions) {
    event = e.type == NatEventType::session_create ? ";S+;" : ";S-;";
  } else if (block && options_.blocks) {
    event = e.type == NatEventType::block_allocate ? ";B+;-;" : ";B-;-;";
  } else {
    return 0;
  }
  const int64_t ms = static_cast<int64_t>(e.time_ms) + wall_offset_ms;
  const int64_t second = ms / 1000;
  if (second != second_) {
    const time_t t = second;
    tm parts{};
    gmtime_r(&t, &parts);
    std::strftime(stamp_, sizeof(stamp_), "%Y-%m-%dT%H:%M:%S", &parts);
    second_ = second;
  }
  char* p = out;
  std::memcpy(p, stamp_, 19);
  p += 19;
  const auto milli = static_cast<uint32_t>(ms % 1000);
  *p++ = '.';
  *p++ = static_cast<char>('0' + milli / 100);
  *p++ = static_cast<char>('0' + milli / 10 % 10);
  *p++ = static_cast<char>('0' + milli % 10);
  *p++ = 'Z';
  p = put_str(p, event);
  if (session) {
    p = put_str(p, proto_name(e.proto));
    p = put_ip(p, e.inside_ip);
    p = put_uint(p, e.inside_port);
    *p++ = ';';
    p = put_ip(p, e.public_ip);
    p = put_uint(p, e.public_port);
    if (options_.destinations) {
      *p++ = ';';
      p = put_ip(p, e.remote_ip);
      p = put_uint(p, e.remote_port);
    }
  } else {
    p = put_ip(p, e.inside_ip);
    p = put_str(p, "-;");
    p = put_ip(p, e.public_ip);
    p = put_uint(p, e.public_port);
    *p++ = '-';
    p = put_uint(p, e.remote_port);
  }
  *p++ = '\n';
  return static_cast<size_t>(p - out);
}

void NatLog::add(const NatEvent& e, int64_t wall_offset_ms) {
  if (used_ + kMaxLine > buffer_.size()) flush();
  const size_t n = format(e, wall_offset_ms, &buffer_[used_]);
  if (n == 0) return;
  const bool block =
      e.type == NatEventType::block_allocate || e.type == NatEventType::block_release;
  index_.add(e.public_ip, e.public_port, block ? e.remote_port : e.public_port,
             static_cast<int64_t>(e.time_ms) + wall_offset_ms);
  used_ += n;
  buffered_lines_++;
}

void NatLog::flush() {
  // Nothing to write: nothing to learn about the file either. (The offset
  // of a descriptor that has not written yet is 0, not the end of the file:
  // after a reopen it read as a file truncated under us, and the index of
  // the lines before it was dropped.)
  if (used_ == 0) return;
  size_t done = 0;
  while (done < used_) {
    const ssize_t n = write(fd_, &buffer_[done], used_ - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    // A line cut by a partial write is completed by a newline when the next
    // batch goes through, so the file never holds half a line joined to the
    // next; the whole batch counts as lost.
    error_ = fmt::format("export.log '{}': write failed: {}", options_.path,
                         n < 0 ? std::strerror(errno) : "wrote nothing");
    counters_.write_errors.add();
    counters_.lines_lost.add(buffered_lines_);
    if (done != 0) {
      buffer_[0] = '\n';
      used_ = 1;
      buffered_lines_ = 0;
      return;
    }
    used_ = 0;
    buffered_lines_ = 0;
    return;
  }
  counters_.lines.add(buffered_lines_);
  used_ = 0;
  buffered_lines_ = 0;
  // O_APPEND: the offset after the write is the end of the file.
  const off_t end = lseek(fd_, 0, SEEK_CUR);
  if (end < 0) return;
  written_end_ = static_cast<uint64_t>(end);
  if (written_end_ < segment_begin_) {
    segment_begin_ = written_end_;  // truncated under us: the segment is unknown
    index_.clear();
  } else if (written_end_ - segment_begin_ >= LogIndex::kSegmentBytes) {
    end_segment();
  }
}

bool NatLog::reopen() {
  flush();
  // open_file() starts the new file's segment; the old one's is kept to be
  // ended on the old file.
  const uint64_t old_begin = segment_begin_;
  const uint64_t old_end = written_end_;
  const bool old_regular = regular_;
  struct stat old_st {};
  const bool old_known = fstat(fd_, &old_st) == 0;
  const int fd = open_file();
  if (fd < 0) {
    error_ = fmt::format("export.log '{}': cannot reopen: {} (still writing to the old file)",
                         options_.path, std::strerror(errno));
    counters_.write_errors.add();
    return false;
  }
  struct stat st {};
  if (old_known && fstat(fd, &st) == 0 && st.st_dev == old_st.st_dev &&
      st.st_ino == old_st.st_ino) {
    // Not rotated (a SIGHUP with no rename before it): the same file and its
    // segment go on. Ending the segment would append a record with a whole
    // Bloom filter (32 KiB) to the index per SIGHUP, however few its lines.
    segment_begin_ = old_begin;
  } else {
    const uint64_t new_begin = segment_begin_;
    const uint64_t new_end = written_end_;
    const bool new_regular = regular_;
    segment_begin_ = old_begin;
    written_end_ = old_end;
    regular_ = old_regular;
    end_segment();
    segment_begin_ = new_begin;
    written_end_ = new_end;
    regular_ = new_regular;
  }
  close(fd_);
  fd_ = fd;
  counters_.reopens.add();
  index_failed_ = false;
  LogIndex::remove_stale_indexes(options_.path);
  return true;
}

std::string NatLog::take_error() {
  std::string e;
  e.swap(error_);
  return e;
}

}  // namespace sluice
