// What the packet fuzz targets share: an EAL brought up once per process (no
// hugepages, no PCI, no shared files, no telemetry), one mbuf pool, the
// reference interfaces (inside 10.16.1.1/24, outside 192.0.2.1/24), a reader
// that cuts a fuzzer's input into frames, and a checksum fixer so that
// mutated frames get past parse's checksum test often enough to reach the
// code behind it.
//
// Input format of the frame-driven targets: records of
//   [control byte][length byte][length bytes of frame]
// the last record taking what is left when the input ends early.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <cstddef>
#include <cstdint>
#include <span>

#include "interface.h"

namespace sluice::fuzz {

inline constexpr uint16_t kInsidePort = 0;  // DPDK port ids in the interfaces' member sets
inline constexpr uint16_t kOutsidePort = 1;

rte_mempool* pool();  // brings up EAL on the first call; aborts when it cannot
rte_ring* punt_ring();
Interfaces reference_interfaces();

// An mbuf holding bytes (at most a data room's worth); aborts when the pool is empty.
rte_mbuf* mbuf_of(std::span<const uint8_t> bytes);

// Fixes the IPv4 header checksum of the packet at ip (len bytes from the IP
// header) and, for an unfragmented TCP, UDP or ICMP packet, its transport
// checksum; for an ICMP error, first the quoted IP header's checksum.
void fix_checksums(uint8_t* ip, size_t len);

// The one's complement sum of len bytes as big-endian 16-bit words, unfolded.
uint32_t sum16(const uint8_t* p, size_t len);

// Frees every mbuf left on the punt ring.
void drain_punts();

// Aborts (a crash the fuzzer reports) when cond is false.
#define FUZZ_CHECK(cond) \
  ((cond) ? (void)0 : ::sluice::fuzz::check_failed(#cond, __FILE__, __LINE__))
[[noreturn]] void check_failed(const char* what, const char* file, int line);

class Records {
 public:
  explicit Records(std::span<const uint8_t> data) : data_(data) {}
  // The next record; false at the end of the input.
  bool next(uint8_t* control, std::span<const uint8_t>* frame);

 private:
  std::span<const uint8_t> data_;
};

}  // namespace sluice::fuzz
