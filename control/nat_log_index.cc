#include "nat_log_index.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <set>

namespace sluice {

namespace {

constexpr char kMagic[8] = {'S', 'L', 'C', 'I', 'D', 'X', '0', '1'};

struct Header {
  char magic[8];
  uint32_t bloom_bits;
  uint32_t hashes;
  uint32_t prefix_len;
  uint32_t reserved[3];
  char prefix[LogIndex::kPrefix];
};
static_assert(sizeof(Header) == 96);

constexpr size_t kRecordHead = sizeof(LogIndexRecord);
constexpr size_t kRecord = kRecordHead + LogIndex::kBloomBits / 8;

// The k bit positions of a (public address, port) pair (double hashing on
// a splitmix64 of the pair).
template <class F>
void each_bit(uint32_t ip, uint16_t port, F&& fn) {
  uint64_t h = (uint64_t{ip} << 16 | port) + 0x9e3779b97f4a7c15ull;
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
  h ^= h >> 31;
  const auto h1 = static_cast<uint32_t>(h);
  const auto h2 = static_cast<uint32_t>(h >> 32) | 1;
  for (unsigned i = 0; i < LogIndex::kHashes; i++)
    fn((h1 + i * h2) & (LogIndex::kBloomBits - 1));
}

bool read_exact(int fd, void* to, size_t n, uint64_t offset) {
  auto* p = static_cast<char*>(to);
  size_t done = 0;
  while (done < n) {
    const ssize_t k = pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    done += static_cast<size_t>(k);
  }
  return true;
}

bool write_all(int fd, const void* from, size_t n) {
  const auto* p = static_cast<const char*>(from);
  size_t done = 0;
  while (done < n) {
    const ssize_t k = write(fd, p + done, n - done);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return false;
    done += static_cast<size_t>(k);
  }
  return true;
}

// The header an index of the log open as log_fd has.
Header header_for(int log_fd) {
  Header h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.bloom_bits = LogIndex::kBloomBits;
  h.hashes = LogIndex::kHashes;
  const ssize_t n = pread(log_fd, h.prefix, sizeof(h.prefix), 0);
  h.prefix_len = n > 0 ? static_cast<uint32_t>(n) : 0;
  return h;
}

// The stored header is of this log: same layout, and the log starts with
// the bytes it kept.
bool same_log(const Header& stored, const Header& now) {
  return std::memcmp(stored.magic, kMagic, sizeof(kMagic)) == 0 &&
         stored.bloom_bits == now.bloom_bits && stored.hashes == now.hashes &&
         stored.prefix_len != 0 && stored.prefix_len <= now.prefix_len &&
         std::memcmp(stored.prefix, now.prefix, stored.prefix_len) == 0;
}

}  // namespace

std::string LogIndex::path_of(const std::string& log_path, ino_t inode) {
  return fmt::format("{}.idx/{}", log_path, static_cast<uint64_t>(inode));
}

void LogIndex::add(uint32_t public_ip, uint16_t port_lo, uint16_t port_hi, int64_t ms) noexcept {
  for (uint32_t port = port_lo; port <= port_hi; port++) {
    each_bit(public_ip, static_cast<uint16_t>(port),
             [&](uint32_t bit) { bloom_[bit / 8] |= static_cast<uint8_t>(1u << (bit % 8)); });
  }
  if (!any_ || ms < first_ms_) first_ms_ = ms;
  any_ = true;
}

std::string LogIndex::write(const std::string& log_path, int log_fd, uint64_t begin, uint64_t end) {
  std::string error;
  struct stat st {};
  if (any_ && end > begin && fstat(log_fd, &st) == 0) {
    const std::string dir = log_path + ".idx";
    const std::string path = path_of(log_path, st.st_ino);
    if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
      error =
          fmt::format("{}: cannot make the trace index directory: {}", dir, std::strerror(errno));
    } else {
      error = append(path, log_fd, begin, end);
    }
  }
  clear();
  return error;
}

void LogIndex::clear() noexcept {
  std::fill(bloom_.begin(), bloom_.end(), 0);
  any_ = false;
}

std::string LogIndex::append(const std::string& path, int log_fd, uint64_t begin, uint64_t end) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return fmt::format("{}: cannot open the trace index: {}", path, std::strerror(errno));
  const Header now = header_for(log_fd);
  Header stored{};
  struct stat st {};
  uint64_t size = fstat(fd, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  if (size < sizeof(Header) || !read_exact(fd, &stored, sizeof(stored), 0) ||
      !same_log(stored, now)) {
    // New, or left by another file on this inode: start again.
    size = sizeof(Header);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, &now, sizeof(now), 0) != sizeof(now)) size = 0;
  }
  // A record cut short (a crash while writing it) is dropped.
  size = size - (size - sizeof(Header)) % kRecord;
  std::string error;
  const LogIndexRecord record{begin, end, first_ms_};
  if (size == 0 || ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      lseek(fd, static_cast<off_t>(size), SEEK_SET) < 0 || !write_all(fd, &record, kRecordHead) ||
      !write_all(fd, bloom_.data(), bloom_.size())) {
    error = fmt::format("{}: cannot write the trace index: {}", path, std::strerror(errno));
  }
  close(fd);
  return error;
}

LogIndex::Reader::Reader(const std::string& log_path, int log_fd, ino_t inode) {
  fd_ = open(path_of(log_path, inode).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return;
  struct stat st {};
  struct stat log_st {};
  Header stored{};
  if (fstat(fd_, &st) != 0 || fstat(log_fd, &log_st) != 0 ||
      static_cast<uint64_t>(st.st_size) < sizeof(Header) ||
      !read_exact(fd_, &stored, sizeof(stored), 0) || !same_log(stored, header_for(log_fd))) {
    return;
  }
  log_size_ = static_cast<uint64_t>(log_st.st_size);
  count_ = (static_cast<uint64_t>(st.st_size) - sizeof(Header)) / kRecord;
}

LogIndex::Reader::~Reader() {
  if (fd_ >= 0) close(fd_);
}

bool LogIndex::Reader::record(uint64_t i, LogIndexRecord* r) const {
  return i < count_ && read_exact(fd_, r, kRecordHead, sizeof(Header) + i * kRecord) &&
         r->begin < r->end && r->end <= log_size_;
}

bool LogIndex::Reader::may_hold(uint64_t i, uint32_t public_ip, uint16_t port) const {
  const uint64_t bloom = sizeof(Header) + i * kRecord + kRecordHead;
  bool hit = true;
  each_bit(public_ip, port, [&](uint32_t bit) {
    uint8_t byte = 0;
    hit = hit && read_exact(fd_, &byte, 1, bloom + bit / 8) && (byte >> (bit % 8) & 1) != 0;
  });
  return hit;
}

void LogIndex::remove_stale_indexes(const std::string& log_path) {
  const auto slash = log_path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : log_path.substr(0, slash);
  const std::string base = slash == std::string::npos ? log_path : log_path.substr(slash + 1);
  std::set<uint64_t> inodes;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.compare(0, base.size(), base) != 0) continue;
      struct stat st {};
      if (stat((dir + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode))
        inodes.insert(static_cast<uint64_t>(st.st_ino));
    }
    closedir(d);
  }
  const std::string index_dir = log_path + ".idx";
  DIR* d = opendir(index_dir.c_str());
  if (d == nullptr) return;
  while (const dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (inodes.count(std::strtoull(name.c_str(), nullptr, 10)) == 0)
      unlink((index_dir + "/" + name).c_str());
  }
  closedir(d);
}

}  // namespace sluice
