// IPFIX (RFC 7011) messages for NAT events (RFC 8158) and NAT flow records,
// built from the workers' event records (dataplane/nat_events.h) on the
// exporter thread.
//
// Templates (data set ids), fixed-length fields only:
//   256 NAT session event (natEvent 4 create, 5 delete): observation time,
//       natEvent, protocol, pre- and post-NAT source address and port, and
//       with `destinations` the destination address and port, pre and post
//       (the same: NAT44 does not change them)
//   257 port block event (16 allocate, 17 release): observation time,
//       natEvent, source address, post-NAT source address, port range start
//       and end
//   258 refused session (3 addresses exhausted, 12 ports exhausted, 13 quota
//       exceeded): observation time, natEvent, protocol, source address,
//       post-NAT source address (0 when the client had none),
//       natQuotaExceededEvent (1 sessions, 3 per user, 4 hosts; 0 otherwise)
//   259 flow record (with `flows`): flow start and end, protocol, pre- and
//       post-NAT source, destination (with `destinations`), octets and
//       packets inside to outside (octetDeltaCount, packetDeltaCount) and
//       outside to inside (the same elements reversed, RFC 5103), TCP flags,
//       flowEndReason, droppedPacketDeltaCount (the client's policer)
// A session's "source" is its client's side, however it was opened; an
// ICMP query's identifier is its port.
//
// Messages: records are appended to the message being built, sets of the
// same template merged, and a message is handed to the sink when the next
// record would pass max_message bytes (the path MTU less IP and UDP
// headers) or on flush(). The sequence number is the count of data records
// in earlier messages (RFC 7011 3.1), modulo 2^32; template messages carry
// it unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "nat_events.h"

namespace sluice::ipfix {

inline constexpr uint16_t kVersion = 10;
inline constexpr size_t kHeaderLength = 16;
inline constexpr uint16_t kTemplateSetId = 2;
inline constexpr uint32_t kReversePen = 29305;  // RFC 5103 reverse elements
inline constexpr uint16_t kSessionTemplate = 256;
inline constexpr uint16_t kBlockTemplate = 257;
inline constexpr uint16_t kRefusalTemplate = 258;
inline constexpr uint16_t kFlowTemplate = 259;

// What an element's value is taken from.
enum class Value : uint8_t {
  event_time,
  nat_event,
  proto,
  src_ip,
  src_port,
  post_src_ip,
  post_src_port,
  dst_ip,
  dst_port,
  range_start,
  range_end,
  quota,
  flow_start,
  flow_end,
  octets_out,
  packets_out,
  octets_in,
  packets_in,
  tcp_flags,
  end_reason,
  policed,
};

struct Element {
  uint16_t id;
  uint16_t length;
  uint32_t enterprise;  // 0: IANA
  Value value;
};

struct Template {
  uint16_t id;
  std::vector<Element> elements;
  uint16_t record_length;
};

struct EncoderOptions {
  uint32_t domain = 1;        // observation domain id
  size_t max_message = 1472;  // 1500 less IP and UDP headers
  bool destinations = false;  // RFC 6888: only when required
  bool flows = true;
};

class Encoder {
 public:
  // sink(message, length, data records in it)
  using Sink = std::function<void(const uint8_t*, size_t, uint32_t)>;

  Encoder(const EncoderOptions& options, Sink sink);

  // The records of one event: its times are the worker clock plus
  // wall_offset_ms (milliseconds since 1970); export_s is the wall clock in
  // seconds, for the header of a message this completes.
  void add(const NatEvent& e, int64_t wall_offset_ms, uint32_t export_s);
  // Hands over the message being built, if it has a record.
  void flush(uint32_t export_s);
  // A message holding every template in one template set.
  std::vector<uint8_t> templates_message(uint32_t export_s) const;

  uint32_t sequence() const noexcept { return sequence_; }
  const std::vector<Template>& templates() const noexcept { return templates_; }

 private:
  void put(const Template& t, const NatEvent& e, int64_t wall_offset_ms, uint32_t export_s);
  void close_set() noexcept;

  EncoderOptions options_;
  Sink sink_;
  std::vector<Template> templates_;
  std::vector<uint8_t> message_;
  size_t length_ = kHeaderLength;
  size_t set_start_ = 0;  // 0: no set open
  uint16_t set_template_ = 0;
  uint32_t records_ = 0;  // in the message being built
  uint32_t sequence_ = 0;
};

}  // namespace sluice::ipfix
