#include "env.h"

#include <netinet/in.h>
#include <rte_eal.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "packet.h"

namespace sluice::fuzz {

namespace {

struct Env {
  rte_mempool* pool = nullptr;
  rte_ring* punts = nullptr;

  Env() {
    std::string prefix = "sluice-fuzz-" + std::to_string(getpid());
    std::vector<std::string> args = {"fuzz",
                                     "--no-huge",
                                     "--no-shconf",
                                     "-m",
                                     "256",
                                     "--no-pci",
                                     "-l",
                                     "0",
                                     "--file-prefix",
                                     prefix,
                                     "--log-level=error",
                                     "--no-telemetry"};
    std::vector<char*> argv;
    for (std::string& a : args)
      argv.push_back(a.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
      std::fprintf(stderr, "fuzz: rte_eal_init failed\n");
      std::abort();
    }
    pool = rte_pktmbuf_pool_create("fuzz_mbufs", 1023, 0, kMbufPrivSize, RTE_MBUF_DEFAULT_BUF_SIZE,
                                   SOCKET_ID_ANY);
    punts = rte_ring_create("fuzz_punts", 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
    if (pool == nullptr || punts == nullptr) {
      std::fprintf(stderr, "fuzz: cannot create the mbuf pool or punt ring\n");
      std::abort();
    }
  }
};

Env& env() {
  static Env e;
  return e;
}

uint16_t fold(uint32_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// The header's checksum, when its IHL fits in len; returns the IHL (0: none).
size_t fix_ip_header(uint8_t* ip, size_t len) {
  if (len < sizeof(rte_ipv4_hdr)) return 0;
  const size_t ihl = (ip[0] & 0xfu) * 4;
  if (ihl < sizeof(rte_ipv4_hdr) || ihl > len) return 0;
  put16(ip + 10, 0);
  put16(ip + 10, fold(sum16(ip, ihl)));
  return ihl;
}

}  // namespace

uint32_t sum16(const uint8_t* p, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2)
    sum += static_cast<uint32_t>(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += static_cast<uint32_t>(p[len - 1] << 8);
  return sum;
}

rte_mempool* pool() {
  return env().pool;
}

rte_ring* punt_ring() {
  return env().punts;
}

Interfaces reference_interfaces() {
  Interfaces ifs;
  auto setup = [](Interface& i, Side side, uint32_t address, uint8_t mac_last, uint16_t member) {
    i.assign(side, address, 24);
    i.mac = rte_ether_addr{{0x02, 0, 0, 0, mac_last, 0x01}};
    i.members = {member};
    i.lag.publish({member});
  };
  setup(ifs[0], Side::inside, RTE_IPV4(10, 16, 1, 1), 0x01, kInsidePort);
  setup(ifs[1], Side::outside, RTE_IPV4(192, 0, 2, 1), 0x02, kOutsidePort);
  return ifs;
}

rte_mbuf* mbuf_of(std::span<const uint8_t> bytes) {
  rte_mbuf* m = rte_pktmbuf_alloc(pool());
  FUZZ_CHECK(m != nullptr);
  const size_t len = std::min<size_t>(bytes.size(), rte_pktmbuf_tailroom(m));
  char* d = rte_pktmbuf_append(m, static_cast<uint16_t>(len));
  if (len != 0) std::memcpy(d, bytes.data(), len);
  return m;
}

void fix_checksums(uint8_t* ip, size_t len) {
  const size_t ihl = fix_ip_header(ip, len);
  if (ihl == 0) return;
  const size_t total = std::min<size_t>(len, static_cast<size_t>(ip[2] << 8 | ip[3]));
  const bool fragment = ((ip[6] & 0x3f) | ip[7]) != 0;
  if (fragment || total <= ihl) return;
  uint8_t* l4 = ip + ihl;
  const size_t l4_len = total - ihl;
  const uint8_t proto = ip[9];
  if (proto == IPPROTO_ICMP && l4_len >= sizeof(rte_icmp_hdr)) {
    const uint8_t type = l4[0];
    if (type == 3 || type == 11 || type == 12) fix_ip_header(l4 + 8, l4_len - 8);
    put16(l4 + 2, 0);
    put16(l4 + 2, fold(sum16(l4, l4_len)));
    return;
  }
  const size_t field = proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP ? 6 : 0;
  if (field == 0 || l4_len < field + 2) return;
  put16(l4 + field, 0);
  uint32_t sum = sum16(ip + 12, 8) + proto + static_cast<uint32_t>(l4_len) + sum16(l4, l4_len);
  uint16_t c = fold(sum);
  if (proto == IPPROTO_UDP && c == 0) c = 0xffff;
  put16(l4 + field, c);
}

void drain_punts() {
  void* obj = nullptr;
  while (rte_ring_sc_dequeue(punt_ring(), &obj) == 0)
    rte_pktmbuf_free(static_cast<rte_mbuf*>(obj));
}

void check_failed(const char* what, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
  std::abort();
}

bool Records::next(uint8_t* control, std::span<const uint8_t>* frame) {
  if (data_.empty()) return false;
  *control = data_[0];
  data_ = data_.subspan(1);
  size_t len = data_.size();
  if (!data_.empty()) {
    len = std::min<size_t>(data_[0], data_.size() - 1);
    data_ = data_.subspan(1);
  }
  *frame = data_.first(len);
  data_ = data_.subspan(len);
  return true;
}

}  // namespace sluice::fuzz
