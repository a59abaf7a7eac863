// A NAT session record and its lookup key (nat_table.h keeps them; its
// index, record_index.h, finds them).
#pragma once

#include <cstdint>

#include "nat_tcp.h"

namespace sluice {

// The hash key of a session: one endpoint of ours (inside or public) and the
// remote one. 16 bytes, no padding left undefined.
struct SessionKey {
  uint32_t local_ip;
  uint32_t remote_ip;
  uint16_t local_port;
  uint16_t remote_port;
  uint8_t proto;
  uint8_t outside;  // 0: inside view, 1: outside (public) view
  uint16_t zero;
};
static_assert(sizeof(SessionKey) == 16);

// 64 bytes, aligned: one cache line, which is all the established path
// touches (translation, timeout, TCP state and flow accounting).
struct alignas(64) Session {
  uint32_t inside_ip;
  uint32_t public_ip;
  uint32_t remote_ip;
  uint16_t inside_port;
  uint16_t public_port;
  uint16_t remote_port;
  uint8_t proto;  // 0: the record is free
  TcpState tcp;
  uint32_t mapping;
  uint32_t client;  // its client's record: policers and counters without a lookup
  // Low 32 bits of the millisecond clock at the last packet: ages are taken
  // modulo 2^32 (49 days), far beyond the longest timeout (7 days).
  uint32_t last_ms;
  // Flow accounting (nat_events.h): the first packet, the last flow record,
  // and the counts since that record. 32-bit counts: a record is due before
  // a byte count passes 2^31 (flow_due()).
  uint32_t start_ms;
  uint32_t exported_ms;
  uint32_t packets_out;  // inside to outside
  uint32_t packets_in;
  uint32_t bytes_out;
  uint32_t bytes_in;
  uint32_t policed;   // packets of this session the client's policer dropped
  uint8_t tcp_flags;  // every TCP flag seen, both ways
  uint16_t profile;   // its client's policing profile (policer.h)
};
static_assert(sizeof(Session) == 64);

// Does `s` have the view `key`? (record_index.h)
inline bool has_key(const Session& s, const SessionKey& key) noexcept {
  const uint32_t local_ip = key.outside ? s.public_ip : s.inside_ip;
  const uint16_t local_port = key.outside ? s.public_port : s.inside_port;
  return local_ip == key.local_ip && local_port == key.local_port && s.remote_ip == key.remote_ip &&
         s.remote_port == key.remote_port && s.proto == key.proto;
}

}  // namespace sluice
