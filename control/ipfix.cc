#include "ipfix.h"

#include <algorithm>
#include <stdexcept>

#include "wire.h"

namespace sluice::ipfix {

namespace {

// IANA IPFIX information elements (RFC 7012, RFC 8158).
enum : uint16_t {
  kOctetDeltaCount = 1,
  kPacketDeltaCount = 2,
  kProtocolIdentifier = 4,
  kTcpControlBits = 6,
  kSourceTransportPort = 7,
  kSourceIPv4Address = 8,
  kDestinationTransportPort = 11,
  kDestinationIPv4Address = 12,
  kDroppedPacketDeltaCount = 133,
  kFlowEndReason = 136,
  kFlowStartMilliseconds = 152,
  kFlowEndMilliseconds = 153,
  kPostNATSourceIPv4Address = 225,
  kPostNATDestinationIPv4Address = 226,
  kPostNAPTSourceTransportPort = 227,
  kPostNAPTDestinationTransportPort = 228,
  kNatEvent = 230,
  kObservationTimeMilliseconds = 323,
  kPortRangeStart = 361,
  kPortRangeEnd = 362,
  kNatQuotaExceededEvent = 466,
};

Template make(uint16_t id, std::vector<Element> elements) {
  uint16_t length = 0;
  for (const Element& e : elements)
    length = static_cast<uint16_t>(length + e.length);
  return Template{id, std::move(elements), length};
}

// Writes v in `length` bytes, big-endian (lengths 1, 2, 4, 8).
void put_n(uint8_t* p, uint16_t length, uint64_t v) {
  switch (length) {
    case 1:
      *p = static_cast<uint8_t>(v);
      break;
    case 2:
      put16(p, static_cast<uint16_t>(v));
      break;
    case 4:
      put32(p, static_cast<uint32_t>(v));
      break;
    default:
      put64(p, v);
      break;
  }
}

uint64_t value_of(Value v, const NatEvent& e, int64_t offset) {
  // Modulo 2^64, for any clock and offset: a signed sum could overflow (UB).
  const uint64_t wall = e.time_ms + static_cast<uint64_t>(offset);
  switch (v) {
    case Value::event_time:
      return wall;
    case Value::nat_event:
      return static_cast<uint8_t>(e.type);
    case Value::proto:
      return e.proto;
    case Value::src_ip:
      return e.inside_ip;
    case Value::src_port:
      return e.inside_port;
    case Value::post_src_ip:
      return e.public_ip;
    case Value::post_src_port:
    case Value::range_start:
      return e.public_port;
    case Value::dst_ip:
      return e.remote_ip;
    case Value::dst_port:
    case Value::range_end:
      return e.remote_port;
    case Value::quota:
      return static_cast<uint8_t>(e.quota);
    case Value::flow_start:
      return wall - e.start_age_ms;
    case Value::flow_end:
      return wall - e.last_age_ms;
    case Value::octets_out:
      return e.bytes_out;
    case Value::packets_out:
      return e.packets_out;
    case Value::octets_in:
      return e.bytes_in;
    case Value::packets_in:
      return e.packets_in;
    case Value::tcp_flags:
      return e.tcp_flags;
    case Value::end_reason:
      return static_cast<uint8_t>(e.end);
    case Value::policed:
      return e.policed;
  }
  return 0;
}

}  // namespace

Encoder::Encoder(const EncoderOptions& options, Sink sink)
    : options_(options), sink_(std::move(sink)) {
  const std::vector<Element> source = {
      {kSourceIPv4Address, 4, 0, Value::src_ip},
      {kSourceTransportPort, 2, 0, Value::src_port},
      {kPostNATSourceIPv4Address, 4, 0, Value::post_src_ip},
      {kPostNAPTSourceTransportPort, 2, 0, Value::post_src_port},
  };
  std::vector<Element> destination;
  if (options.destinations) {
    destination = {
        {kDestinationIPv4Address, 4, 0, Value::dst_ip},
        {kDestinationTransportPort, 2, 0, Value::dst_port},
        {kPostNATDestinationIPv4Address, 4, 0, Value::dst_ip},
        {kPostNAPTDestinationTransportPort, 2, 0, Value::dst_port},
    };
  }
  std::vector<Element> session = {
      {kObservationTimeMilliseconds, 8, 0, Value::event_time},
      {kNatEvent, 1, 0, Value::nat_event},
      {kProtocolIdentifier, 1, 0, Value::proto},
  };
  session.insert(session.end(), source.begin(), source.end());
  session.insert(session.end(), destination.begin(), destination.end());
  templates_.push_back(make(kSessionTemplate, session));
  templates_.push_back(
      make(kBlockTemplate, {
                               {kObservationTimeMilliseconds, 8, 0, Value::event_time},
                               {kNatEvent, 1, 0, Value::nat_event},
                               {kSourceIPv4Address, 4, 0, Value::src_ip},
                               {kPostNATSourceIPv4Address, 4, 0, Value::post_src_ip},
                               {kPortRangeStart, 2, 0, Value::range_start},
                               {kPortRangeEnd, 2, 0, Value::range_end},
                           }));
  templates_.push_back(
      make(kRefusalTemplate, {
                                 {kObservationTimeMilliseconds, 8, 0, Value::event_time},
                                 {kNatEvent, 1, 0, Value::nat_event},
                                 {kProtocolIdentifier, 1, 0, Value::proto},
                                 {kSourceIPv4Address, 4, 0, Value::src_ip},
                                 {kPostNATSourceIPv4Address, 4, 0, Value::post_src_ip},
                                 {kNatQuotaExceededEvent, 4, 0, Value::quota},
                             }));
  if (options.flows) {
    std::vector<Element> flow = {
        {kFlowStartMilliseconds, 8, 0, Value::flow_start},
        {kFlowEndMilliseconds, 8, 0, Value::flow_end},
        {kProtocolIdentifier, 1, 0, Value::proto},
    };
    flow.insert(flow.end(), source.begin(), source.end());
    flow.insert(flow.end(), destination.begin(), destination.end());
    const std::vector<Element> counts = {
        {kOctetDeltaCount, 8, 0, Value::octets_out},
        {kPacketDeltaCount, 8, 0, Value::packets_out},
        {kOctetDeltaCount, 8, kReversePen, Value::octets_in},
        {kPacketDeltaCount, 8, kReversePen, Value::packets_in},
        {kTcpControlBits, 2, 0, Value::tcp_flags},
        {kFlowEndReason, 1, 0, Value::end_reason},
        {kDroppedPacketDeltaCount, 8, 0, Value::policed},
    };
    flow.insert(flow.end(), counts.begin(), counts.end());
    templates_.push_back(make(kFlowTemplate, flow));
  }
  size_t longest = 0;
  for (const Template& t : templates_)
    longest = std::max<size_t>(longest, t.record_length);
  if (options.max_message < kHeaderLength + 4 + longest) {
    throw std::invalid_argument("IPFIX message size too small for one record");
  }
  message_.resize(options.max_message);
}

void Encoder::add(const NatEvent& e, int64_t wall_offset_ms, uint32_t export_s) {
  switch (e.type) {
    case NatEventType::session_create:
      put(templates_[0], e, wall_offset_ms, export_s);
      return;
    case NatEventType::session_delete:
      put(templates_[0], e, wall_offset_ms, export_s);
      if (options_.flows) put(templates_[3], e, wall_offset_ms, export_s);
      return;
    case NatEventType::flow_update:
      if (options_.flows) put(templates_[3], e, wall_offset_ms, export_s);
      return;
    case NatEventType::block_allocate:
    case NatEventType::block_release:
      put(templates_[1], e, wall_offset_ms, export_s);
      return;
    case NatEventType::addresses_exhausted:
    case NatEventType::ports_exhausted:
    case NatEventType::quota_exceeded:
      put(templates_[2], e, wall_offset_ms, export_s);
      return;
  }
}

void Encoder::put(const Template& t, const NatEvent& e, int64_t wall_offset_ms, uint32_t export_s) {
  const size_t set_header = set_start_ != 0 && set_template_ == t.id ? 0 : 4;
  if (length_ + set_header + t.record_length > options_.max_message) {
    flush(export_s);
    return put(t, e, wall_offset_ms, export_s);
  }
  if (set_header != 0) {
    close_set();
    set_start_ = length_;
    set_template_ = t.id;
    put16(&message_[length_], t.id);
    length_ += 4;
  }
  uint8_t* p = &message_[length_];
  for (const Element& el : t.elements) {
    put_n(p, el.length, value_of(el.value, e, wall_offset_ms));
    p += el.length;
  }
  length_ += t.record_length;
  records_++;
}

void Encoder::close_set() noexcept {
  if (set_start_ == 0) return;
  put16(&message_[set_start_ + 2], static_cast<uint16_t>(length_ - set_start_));
  set_start_ = 0;
}

void Encoder::flush(uint32_t export_s) {
  if (records_ == 0) return;
  close_set();
  uint8_t* h = message_.data();
  put16(h, kVersion);
  put16(h + 2, static_cast<uint16_t>(length_));
  put32(h + 4, export_s);
  put32(h + 8, sequence_);
  put32(h + 12, options_.domain);
  const uint32_t records = records_;
  sequence_ += records;
  const size_t length = length_;
  length_ = kHeaderLength;
  records_ = 0;
  sink_(message_.data(), length, records);
}

std::vector<uint8_t> Encoder::templates_message(uint32_t export_s) const {
  std::vector<uint8_t> m(kHeaderLength + 4);
  for (const Template& t : templates_) {
    size_t at = m.size();
    m.resize(at + 4);
    put16(&m[at], t.id);
    put16(&m[at + 2], static_cast<uint16_t>(t.elements.size()));
    for (const Element& el : t.elements) {
      at = m.size();
      m.resize(at + (el.enterprise != 0 ? 8 : 4));
      put16(&m[at], static_cast<uint16_t>(el.id | (el.enterprise != 0 ? 0x8000 : 0)));
      put16(&m[at + 2], el.length);
      if (el.enterprise != 0) put32(&m[at + 4], el.enterprise);
    }
  }
  put16(&m[0], kVersion);
  put16(&m[2], static_cast<uint16_t>(m.size()));
  put32(&m[4], export_s);
  put32(&m[8], sequence_);
  put32(&m[12], options_.domain);
  put16(&m[kHeaderLength], kTemplateSetId);
  put16(&m[kHeaderLength + 2], static_cast<uint16_t>(m.size() - kHeaderLength));
  return m;
}

}  // namespace sluice::ipfix
