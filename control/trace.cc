#include "trace.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <limits>
#include <map>
#include <stdexcept>

#include "nat_log_index.h"

namespace sluice {

namespace {

constexpr size_t kChunk = 1 << 20;
// Lines are in time order to within the exporter's batches (milliseconds);
// searches start this much early.
constexpr int64_t kSlackMs = 2000;
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
constexpr size_t kFirstLine = 256;  // longer than any line (nat_log.h)

// One log line, parsed (nat_log.h has the format).
struct Line {
  int64_t ms = 0;
  bool block = false;
  bool start = false;  // S+ or B+
  uint8_t proto = 0;   // 0 for a block
  uint32_t inside_ip = 0;
  uint16_t inside_port = 0;
  uint32_t public_ip = 0;
  uint16_t port_lo = 0;
  uint16_t port_hi = 0;
};

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool digits(const char* p, int n, int* out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
    v = v * 10 + (p[i] - '0');
  }
  *out = v;
  return true;
}

// "YYYY-MM-DDTHH:MM:SS" at p (19 characters): seconds since 1970, as UTC.
bool parse_civil(const char* p, int64_t* seconds) {
  int y, mo, d, h, mi, s;
  if (!digits(p, 4, &y) || p[4] != '-' || !digits(p + 5, 2, &mo) || p[7] != '-' ||
      !digits(p + 8, 2, &d) || (p[10] != 'T' && p[10] != ' ') || !digits(p + 11, 2, &h) ||
      p[13] != ':' || !digits(p + 14, 2, &mi) || p[16] != ':' || !digits(p + 17, 2, &s)) {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return false;
  *seconds = days_from_civil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 +
             h * 3600 + mi * 60 + s;
  return true;
}

bool parse_uint(const char*& p, const char* e, uint32_t max, uint32_t* out) {
  uint32_t v = 0;
  const char* start = p;
  while (p < e && *p >= '0' && *p <= '9' && p - start < 10)
    v = v * 10 + static_cast<uint32_t>(*p++ - '0');
  *out = v;
  return p != start && v <= max;
}

bool parse_ip(const char*& p, const char* e, uint32_t* ip) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) {
    uint32_t octet = 0;
    if (!parse_uint(p, e, 255, &octet)) return false;
    v = v << 8 | octet;
    if (i < 3 && (p == e || *p++ != '.')) return false;
  }
  *ip = v;
  return true;
}

bool expect(const char*& p, const char* e, char c) {
  if (p == e || *p != c) return false;
  p++;
  return true;
}

bool parse_line(const char* b, const char* e, Line* l) {
  if (e - b < 30 || b[19] != '.' || b[23] != 'Z' || b[24] != ';') return false;
  int64_t s = 0;
  int milli = 0;
  if (!parse_civil(b, &s) || !digits(b + 20, 3, &milli)) return false;
  l->ms = s * 1000 + milli;
  const char* p = b + 25;
  if (e - p < 4) return false;
  l->block = p[0] == 'B';
  if (p[0] != 'B' && p[0] != 'S') return false;
  l->start = p[1] == '+';
  p += 3;
  uint32_t v = 0;
  if (l->block) {
    if (!expect(p, e, '-') || !expect(p, e, ';') || !parse_ip(p, e, &l->inside_ip) ||
        !expect(p, e, ';') || !expect(p, e, '-') || !expect(p, e, ';') ||
        !parse_ip(p, e, &l->public_ip) || !expect(p, e, ';') || !parse_uint(p, e, 65535, &v)) {
      return false;
    }
    l->port_lo = static_cast<uint16_t>(v);
    if (!expect(p, e, '-') || !parse_uint(p, e, 65535, &v)) return false;
    l->port_hi = static_cast<uint16_t>(v);
    return true;
  }
  const char* name = p;
  while (p < e && *p != ';')
    p++;
  const auto len = p - name;
  l->proto = len == 3 && std::memcmp(name, "tcp", 3) == 0    ? IPPROTO_TCP
             : len == 3 && std::memcmp(name, "udp", 3) == 0  ? IPPROTO_UDP
             : len == 4 && std::memcmp(name, "icmp", 4) == 0 ? IPPROTO_ICMP
                                                             : 0;
  if (l->proto == 0 || !expect(p, e, ';') || !parse_ip(p, e, &l->inside_ip) || !expect(p, e, ';') ||
      !parse_uint(p, e, 65535, &v)) {
    return false;
  }
  l->inside_port = static_cast<uint16_t>(v);
  if (!expect(p, e, ';') || !parse_ip(p, e, &l->public_ip) || !expect(p, e, ';') ||
      !parse_uint(p, e, 65535, &v)) {
    return false;
  }
  l->port_lo = l->port_hi = static_cast<uint16_t>(v);
  return true;
}

// The line's time alone, for the binary search; false if it has none.
bool line_time(const char* b, const char* e, int64_t* ms) {
  int milli = 0;
  int64_t s = 0;
  if (e - b < 24 || b[19] != '.' || !parse_civil(b, &s) || !digits(b + 20, 3, &milli)) {
    return false;
  }
  *ms = s * 1000 + milli;
  return true;
}

struct LogFile {
  std::string path;
  bool gz = false;
  int64_t first_ms = kNever;
  uint64_t size = 0;
  ino_t inode = 0;
};

class Search {
 public:
  Search(const TraceQuery& q, TraceResult* result) : q_(q), result_(result) {
    const uint32_t ip = q.public_ip;
    char text[24];
    const int n = std::snprintf(text, sizeof(text), ";%u.%u.%u.%u;", ip >> 24, (ip >> 16) & 0xff,
                                (ip >> 8) & 0xff, ip & 0xff);
    needle_.assign(text, static_cast<size_t>(n));
  }

  // Every matching line of [b, e) (whole lines), in order, to fn(line, text);
  // fn returns false to stop. Lines that do not parse are skipped.
  template <class F>
  bool each_match(const char* b, const char* e, F&& fn) {
    const char* p = b;
    while (p < e) {
      const char* hit = static_cast<const char*>(memmem(p, e - p, needle_.data(), needle_.size()));
      if (hit == nullptr) return true;
      const char* ls = hit;
      while (ls > b && ls[-1] != '\n')
        ls--;
      const char* le = static_cast<const char*>(std::memchr(hit, '\n', e - hit));
      if (le == nullptr) le = e;
      Line l;
      if (parse_line(ls, le, &l) && matches(l)) {
        if (!fn(l, std::string(ls, le))) return false;
      }
      p = le + 1;
    }
    return true;
  }

  bool matches(const Line& l) const {
    if (l.public_ip != q_.public_ip || q_.port < l.port_lo || q_.port > l.port_hi) return false;
    return l.block || q_.proto == 0 || l.proto == q_.proto;
  }

  // In the window: noted for its client.
  void window_line(const Line& l, const std::string& text) {
    holder(l.inside_ip).lines.push_back(text);
  }

  // Before the window, newest first. False once the start is known.
  bool before_line(const Line& l, const std::string& text) {
    if (l.block) {
      if (!block_decided_) {
        block_decided_ = true;
        if (l.start) held(l, text);
      }
    } else {
      // A port's blocks hold it for every protocol, one client at a time: a
      // line of another client than the latest one means the port changed
      // hands, so the lines after it tell everything (every protocol).
      if (!any_seen_) {
        any_seen_ = true;
        latest_client_ = l.inside_ip;
      } else if (l.inside_ip != latest_client_) {
        for (auto& [proto, st] : protos_)
          st.decided = true;
        return !decided();
      }
      Proto& s = protos_[l.proto];
      if (!s.decided) {
        if (!s.seen) {
          s.seen = true;
          s.inside_ip = l.inside_ip;
          s.inside_port = l.inside_port;
        }
        if (l.inside_ip != s.inside_ip || l.inside_port != s.inside_port) {
          s.decided = true;  // the port was another client's: free by the window
        } else if (l.start && ++s.creates > s.deletes) {
          s.decided = true;
          held(l, text);
        } else if (!l.start) {
          s.deletes++;
        }
      }
    }
    return !decided();
  }

  bool decided() const {
    if (block_decided_) return true;
    for (uint8_t p : {IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP}) {
      if ((q_.proto == 0 || q_.proto == p) && !protos_.at(p).decided) return false;
    }
    return true;
  }

  // horizon: the lookback ran out before the oldest line was read.
  void finish(bool horizon) {
    result_->undecided = horizon && !decided();
    // Holders from before the window first, then in order of their lines.
    std::stable_sort(result_->holders.begin(), result_->holders.end(),
                     [](const TraceHolder& a, const TraceHolder& b) {
                       return a.held_at_start && !b.held_at_start;
                     });
  }

 private:
  struct Proto {
    bool seen = false;
    bool decided = false;
    uint32_t inside_ip = 0;
    uint16_t inside_port = 0;
    unsigned creates = 0;
    unsigned deletes = 0;
  };

  TraceHolder& holder(uint32_t inside_ip) {
    for (TraceHolder& h : result_->holders) {
      if (h.inside_ip == inside_ip) return h;
    }
    result_->holders.push_back(TraceHolder{inside_ip, false, {}});
    return result_->holders.back();
  }

  void held(const Line& l, const std::string& text) {
    TraceHolder& h = holder(l.inside_ip);
    if (!h.held_at_start) h.lines.insert(h.lines.begin(), text);
    h.held_at_start = true;
  }

  TraceQuery q_;
  TraceResult* result_;
  std::string needle_;
  bool block_decided_ = false;
  bool any_seen_ = false;
  uint32_t latest_client_ = 0;
  std::map<uint8_t, Proto> protos_ = {{IPPROTO_TCP, {}}, {IPPROTO_UDP, {}}, {IPPROTO_ICMP, {}}};
};

class PlainReader {
 public:
  explicit PlainReader(const LogFile& f, TraceResult* r) : result_(r), size_(f.size) {
    fd_ = open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  ~PlainReader() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  // [offset, offset + n) into buf (shorter at the end of the file).
  size_t read_at(uint64_t offset, size_t n, std::vector<char>* buf) {
    buf->resize(n);
    size_t done = 0;
    while (done < n) {
      const ssize_t k = pread(fd_, buf->data() + done, n - done, static_cast<off_t>(offset + done));
      if (k <= 0) break;
      done += static_cast<size_t>(k);
    }
    buf->resize(done);
    result_->bytes_read += done;
    return done;
  }

  // The offset of the first line whose time is >= ms (the end when none):
  // a binary search on line starts, then a short forward step.
  uint64_t seek(int64_t ms) {
    uint64_t lo = 0;
    uint64_t hi = size_;
    std::vector<char> buf;
    while (hi - lo > 4096) {
      const uint64_t mid = lo + (hi - lo) / 2;
      const size_t n = read_at(mid, 512, &buf);
      const char* b = buf.data();
      const char* nl = static_cast<const char*>(std::memchr(b, '\n', n));
      int64_t t = 0;
      if (nl == nullptr || !line_time(nl + 1, b + n, &t)) {
        hi = mid;
        continue;
      }
      if (t < ms) {
        lo = mid + static_cast<uint64_t>(nl + 1 - b);
      } else {
        hi = mid;
      }
    }
    uint64_t at = lo;
    forward(lo, [&](const char* b, const char* e) {
      for (const char* p = b; p < e;) {
        const char* nl = static_cast<const char*>(std::memchr(p, '\n', e - p));
        const char* le = nl != nullptr ? nl : e;
        int64_t t = 0;
        if (line_time(p, le, &t) && t >= ms) return false;
        at += static_cast<uint64_t>(le - p) + 1;
        p = le + 1;
      }
      return true;
    });
    return std::min(at, size_);
  }

  // Whole lines from offset on, chunk by chunk, until fn returns false.
  template <class F>
  void forward(uint64_t offset, F&& fn) {
    std::vector<char> buf;
    while (offset < size_) {
      const size_t n = read_at(offset, kChunk, &buf);
      if (n == 0) return;
      size_t usable = n;
      if (offset + n < size_) {
        const char* last = static_cast<const char*>(memrchr(buf.data(), '\n', n));
        if (last == nullptr) return;
        usable = static_cast<size_t>(last - buf.data()) + 1;
      }
      if (!fn(buf.data(), buf.data() + usable)) return;
      offset += usable;
    }
  }

  // Whole lines of [floor, end) (floor a line start), a chunk at a time
  // going back (the lines of a chunk in order), until fn returns false;
  // false then.
  template <class F>
  bool backward(uint64_t floor, uint64_t end, F&& fn) {
    std::vector<char> buf;
    while (end > floor) {
      const uint64_t start = end - floor > kChunk ? end - kChunk : floor;
      const size_t n = read_at(start, static_cast<size_t>(end - start), &buf);
      if (n == 0) return true;
      size_t skip = 0;
      if (start > floor) {
        const char* nl = static_cast<const char*>(std::memchr(buf.data(), '\n', n));
        if (nl == nullptr) return true;
        skip = static_cast<size_t>(nl - buf.data()) + 1;
      }
      if (!fn(buf.data() + skip, buf.data() + n)) return false;
      end = start + skip;
    }
    return true;
  }

 private:
  TraceResult* result_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Every whole line of a gzip file, chunk by chunk, to fn(b, e).
template <class F>
bool gz_lines(const LogFile& f, TraceResult* r, F&& fn) {
  gzFile g = gzopen(f.path.c_str(), "rb");
  if (g == nullptr) return false;
  gzbuffer(g, 1 << 17);
  std::vector<char> buf(kChunk);
  size_t carry = 0;
  for (;;) {
    const int n = gzread(g, buf.data() + carry, static_cast<unsigned>(buf.size() - carry));
    if (n <= 0) {
      if (carry != 0) fn(buf.data(), buf.data() + carry);
      break;
    }
    r->bytes_read += static_cast<uint64_t>(n);
    const size_t have = carry + static_cast<size_t>(n);
    const char* last = static_cast<const char*>(memrchr(buf.data(), '\n', have));
    if (last == nullptr) {
      buf.resize(buf.size() * 2);  // one very long line
      carry = have;
      continue;
    }
    const size_t usable = static_cast<size_t>(last - buf.data()) + 1;
    if (!fn(buf.data(), buf.data() + usable)) break;
    carry = have - usable;
    std::memmove(buf.data(), buf.data() + usable, carry);
  }
  gzclose(g);
  return true;
}

// The first line's time of a file (kNever when it has none).
int64_t first_time(LogFile& f, TraceResult* r) {
  int64_t t = kNever;
  const auto first = [&](const char* b, const char* e) {
    const char* nl = static_cast<const char*>(std::memchr(b, '\n', e - b));
    int64_t v = 0;
    if (line_time(b, nl != nullptr ? nl : e, &v)) t = v;
    return false;
  };
  if (f.gz) {
    gz_lines(f, r, first);
  } else {
    PlainReader p(f, r);
    std::vector<char> buf;
    if (p.ok()) {
      const size_t n = p.read_at(0, kFirstLine, &buf);
      first(buf.data(), buf.data() + n);
    }
  }
  return t;
}

std::vector<LogFile> log_files(const std::string& path, TraceResult* r) {
  const auto slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::vector<LogFile> files;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return files;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != base && (name.size() <= base.size() || name.compare(0, base.size(), base) != 0 ||
                         (name[base.size()] != '.' && name[base.size()] != '-'))) {
      continue;
    }
    LogFile f;
    f.path = (slash == std::string::npos ? "" : dir) + name;
    struct stat st {};
    if (stat(f.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    f.size = static_cast<uint64_t>(st.st_size);
    f.inode = st.st_ino;
    f.gz = name.size() > 3 && name.compare(name.size() - 3, 3, ".gz") == 0;
    files.push_back(f);
  }
  closedir(d);
  for (LogFile& f : files)
    f.first_ms = first_time(f, r);
  files.erase(std::remove_if(files.begin(), files.end(),
                             [](const LogFile& f) { return f.first_ms == kNever; }),
              files.end());
  std::sort(files.begin(), files.end(),
            [](const LogFile& a, const LogFile& b) { return a.first_ms < b.first_ms; });
  return files;
}

}  // namespace

TraceResult trace(const std::string& log_path, const TraceQuery& q) {
  TraceResult result;
  const std::vector<LogFile> files = log_files(log_path, &result);
  if (files.empty()) {
    throw std::runtime_error(log_path + ": no NAT log (or rotated log) with lines found");
  }
  const int64_t lo = q.time_ms - q.window_ms;
  const int64_t hi = q.time_ms + q.window_ms;
  const int64_t horizon = lo - q.lookback_ms;
  Search search(q, &result);
  const auto ends = [&](size_t i) {
    return i + 1 < files.size() ? files[i + 1].first_ms + kSlackMs : kNever;
  };
  std::vector<bool> read(files.size(), false);

  // The window, file by file.
  for (size_t i = 0; i < files.size(); i++) {
    const LogFile& f = files[i];
    if (f.first_ms > hi + kSlackMs || ends(i) < lo) continue;
    read[i] = true;
    const auto window = [&](const char* b, const char* e) {
      int64_t first = 0;
      if (line_time(b, e, &first) && first > hi + kSlackMs) return false;
      return search.each_match(b, e, [&](const Line& l, const std::string& text) {
        if (l.ms >= lo && l.ms <= hi) search.window_line(l, text);
        return true;
      });
    };
    if (f.gz) {
      gz_lines(f, &result, window);
    } else {
      PlainReader p(f, &result);
      if (p.ok()) p.forward(p.seek(lo - kSlackMs), window);
    }
  }

  // Before the window, newest first, until the start is known.
  bool horizon_hit = false;
  for (size_t i = files.size(); i-- > 0 && !search.decided();) {
    const LogFile& f = files[i];
    if (f.first_ms >= lo) continue;
    if (ends(i) < horizon) {
      horizon_hit = true;
      break;
    }
    read[i] = true;
    std::vector<std::pair<Line, std::string>> chunk;
    bool more = true;
    const auto collect = [&](const char* b, const char* e) {
      chunk.clear();
      search.each_match(b, e, [&](const Line& l, const std::string& text) {
        if (l.ms < lo) chunk.emplace_back(l, text);
        return true;
      });
      return true;
    };
    const auto feed = [&]() {
      for (size_t k = chunk.size(); k-- > 0 && more;) {
        if (chunk[k].first.ms < horizon) {
          horizon_hit = true;
          more = false;
          break;
        }
        more = search.before_line(chunk[k].first, chunk[k].second);
      }
      return more;
    };
    if (f.gz) {
      std::vector<std::pair<Line, std::string>> all;
      gz_lines(f, &result, [&](const char* b, const char* e) {
        collect(b, e);
        all.insert(all.end(), chunk.begin(), chunk.end());
        return true;
      });
      chunk.swap(all);
      feed();
    } else {
      PlainReader p(f, &result);
      if (!p.ok()) continue;
      const auto chunk_fn = [&](const char* b, const char* e) {
        collect(b, e);
        int64_t first = 0;
        const bool past = line_time(b, e, &first) && first < horizon;
        horizon_hit = horizon_hit || past;
        return feed() && !past;
      };
      // Lines a little after lo may come before one just before it.
      uint64_t end = p.seek(lo + kSlackMs);
      // The index's segments that cannot hold a line of the port are
      // skipped; what it does not cover is read (all that is left, from a
      // record that does not fit: segments only go down, within the log).
      const LogIndex::Reader index(log_path, p.fd(), f.inode);
      uint64_t k = index.count();
      uint64_t above = std::numeric_limits<uint64_t>::max();  // the last record's begin
      LogIndexRecord r;
      while (end > 0) {
        // The newest record that begins below end (those above are passed).
        bool valid = false;
        while (k > 0) {
          valid = index.record(k - 1, &r) && r.end <= above;
          if (!valid || r.begin < end) break;
          above = r.begin;
          k--;
          valid = false;
        }
        if (!valid) {
          p.backward(0, end, chunk_fn);
          break;
        }
        if (r.end < end) {
          if (!p.backward(r.end, end, chunk_fn)) break;
          end = r.end;
          continue;
        }
        if (index.may_hold(k - 1, q.public_ip, q.port)) {
          if (!p.backward(r.begin, end, chunk_fn)) break;
        } else if (r.first_ms < horizon) {
          horizon_hit = true;
          break;
        }
        end = above = r.begin;
        k--;
      }
    }
    if (!more) break;
  }
  for (size_t i = 0; i < files.size(); i++) {
    if (read[i]) result.files.push_back(files[i].path);
  }
  search.finish(horizon_hit);
  return result;
}

bool parse_time(const std::string& text, int64_t* ms) {
  if (!text.empty() && text[0] == '@') {
    const char* p = text.c_str() + 1;
    const char* e = text.c_str() + text.size();
    uint32_t s = 0;
    if (!parse_uint(p, e, std::numeric_limits<uint32_t>::max(), &s) || p != e) return false;
    *ms = int64_t{s} * 1000;
    return true;
  }
  if (text.size() < 19) return false;
  int64_t seconds = 0;
  if (!parse_civil(text.c_str(), &seconds)) return false;
  size_t at = 19;
  int milli = 0;
  if (at < text.size() && text[at] == '.') {
    at++;
    int scale = 100;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      milli += (text[at] - '0') * scale;
      scale /= 10;
      at++;
    }
  }
  const std::string zone = text.substr(at);
  if (zone.empty()) {
    // Local time: the zone's offset at that moment.
    tm parts{};
    const time_t guess = seconds;
    gmtime_r(&guess, &parts);
    parts.tm_isdst = -1;
    const time_t local = mktime(&parts);
    if (local == -1) return false;
    *ms = int64_t{local} * 1000 + milli;
    return true;
  }
  if (zone == "Z") {
    *ms = seconds * 1000 + milli;
    return true;
  }
  int h = 0;
  int m = 0;
  const bool colon = zone.size() == 6 && zone[3] == ':';
  if ((zone[0] != '+' && zone[0] != '-') || (zone.size() != 5 && !colon) ||
      !digits(zone.c_str() + 1, 2, &h) || !digits(zone.c_str() + (colon ? 4 : 3), 2, &m)) {
    return false;
  }
  const int64_t offset = (h * 3600 + m * 60) * (zone[0] == '+' ? 1 : -1);
  *ms = (seconds - offset) * 1000 + milli;
  return true;
}

}  // namespace sluice
