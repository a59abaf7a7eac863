// Fuzz target: the IPFIX encoder (control/ipfix.h), round trip through the
// independent decoder of the unit tests (tests/unit/ipfix_decoder.h, whose
// REQUIREs abort here: catch_shim/).
//
// Input: two option bytes (message size limit 64 + 8 * b0 bytes; b1 bit 0
// destinations, bit 1 flow records), then 64-byte NAT event records (the
// type byte mapped onto the event types). Checked: every message decodes
// against the templates message, is no longer than the limit, carries the
// sequence number of the data records before it and as many records as the
// encoder says, and every record's source address is some event's inside
// address.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

#include "env.h"
#include "ipfix.h"
#include "ipfix_decoder.h"
#include "nat_events.h"

using namespace sluice;

namespace {

constexpr NatEventType kTypes[] = {NatEventType::addresses_exhausted, NatEventType::session_create,
                                   NatEventType::session_delete,      NatEventType::ports_exhausted,
                                   NatEventType::quota_exceeded,      NatEventType::block_allocate,
                                   NatEventType::block_release,       NatEventType::flow_update};
constexpr size_t kSourceAddress = 8;  // sourceIPv4Address

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  ipfix::EncoderOptions o;
  o.max_message = 64 + 8u * data[0];
  o.destinations = (data[1] & 1) != 0;
  o.flows = (data[1] & 2) != 0;
  std::vector<std::vector<uint8_t>> messages;
  std::vector<uint32_t> counts;
  auto sink = [&](const uint8_t* m, size_t n, uint32_t records) {
    messages.emplace_back(m, m + n);
    counts.push_back(records);
  };
  std::optional<ipfix::Encoder> made;
  try {
    made.emplace(o, sink);
  } catch (const std::invalid_argument&) {
    return 0;  // a limit below the longest record is refused, as it should be
  }
  ipfix::Encoder& enc = *made;

  std::set<uint32_t> sources;
  for (size_t at = 2; at + sizeof(NatEvent) <= size; at += sizeof(NatEvent)) {
    NatEvent e;
    std::memcpy(&e, data + at, sizeof(e));
    e.type = kTypes[static_cast<uint8_t>(e.type) % std::size(kTypes)];
    e.end = static_cast<FlowEnd>(static_cast<uint8_t>(e.end) % 5);
    sources.insert(e.inside_ip);
    enc.add(e, 1'700'000'000'000, 1'700'000'000);
  }
  enc.flush(1'700'000'000);

  test::IpfixDecoder dec;
  const std::vector<uint8_t> t = enc.templates_message(1'700'000'000);
  dec.decode(t.data(), t.size());
  uint32_t sequence = 0;
  for (size_t i = 0; i < messages.size(); i++) {
    FUZZ_CHECK(messages[i].size() <= o.max_message);
    const test::DecodedMessage m = dec.decode(messages[i].data(), messages[i].size());
    FUZZ_CHECK(m.sequence == sequence);
    FUZZ_CHECK(m.records.size() == counts[i]);
    for (const test::DecodedRecord& r : m.records) {
      if (r.has(kSourceAddress))
        FUZZ_CHECK(sources.count(static_cast<uint32_t>(r.get(kSourceAddress))) == 1);
    }
    sequence += counts[i];
  }
  FUZZ_CHECK(enc.sequence() == sequence);
  return 0;
}
