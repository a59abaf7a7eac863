// Fuzz target: the LACPDU and marker parser (control/lacp.h decode()) and the
// LACP state machines behind it (Aggregate, two members).
//
// Records (env.h) are slow protocols frames; the control byte picks the member
// (bit 0), may flip its link (bit 1), and moves the clock (bits 2-7) by that
// many hundred ms, ticking the timers. Checked: a PDU that decodes encodes
// back to the same PDU; every frame the aggregate sends is whole and decodes
// as a LACPDU or a marker; collecting() holds every distributing() member.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "env.h"
#include "lacp.h"

using namespace sluice;
using namespace sluice::lacp;

namespace {

void round_trip(std::span<const uint8_t> frame) {
  Lacpdu pdu;
  Marker marker;
  std::array<uint8_t, kFrameLen> out{};
  const Mac src{0x02, 0, 0, 0, 0x0a, 0x01};
  switch (decode(frame, &pdu, &marker)) {
    case Pdu::lacpdu: {
      encode(pdu, src, out);
      Lacpdu again;
      FUZZ_CHECK(decode(out, &again, &marker) == Pdu::lacpdu);
      FUZZ_CHECK(again.actor == pdu.actor && again.partner == pdu.partner &&
                 again.collector_max_delay == pdu.collector_max_delay);
      break;
    }
    case Pdu::marker: {
      encode(marker, src, out);
      Marker again;
      FUZZ_CHECK(decode(out, &pdu, &again) == Pdu::marker);
      FUZZ_CHECK(again.response == marker.response &&
                 again.requester_port == marker.requester_port &&
                 again.requester_system == marker.requester_system &&
                 again.transaction == marker.transaction);
      break;
    }
    case Pdu::truncated:
    case Pdu::malformed:
    case Pdu::unknown_subtype:
      break;
  }
}

void check_sent(unsigned member, std::span<const uint8_t> frame) {
  FUZZ_CHECK(member < 2);
  FUZZ_CHECK(frame.size() == kFrameLen);
  Lacpdu pdu;
  Marker marker;
  const Pdu kind = decode(frame, &pdu, &marker);
  FUZZ_CHECK(kind == Pdu::lacpdu || kind == Pdu::marker);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Settings settings;
  settings.system = Mac{0x02, 0, 0, 0, 0x0a, 0x01};
  Aggregate agg(settings, 2, check_sent);
  uint64_t now = 1'000'000;
  bool up[2] = {true, true};
  agg.set_link(0, true, now);
  agg.set_link(1, true, now);

  fuzz::Records records({data, size});
  uint8_t control = 0;
  std::span<const uint8_t> frame;
  while (records.next(&control, &frame)) {
    // An exact-size copy, so reading past the frame is an ASan report.
    const std::vector<uint8_t> bytes(frame.begin(), frame.end());
    round_trip(bytes);
    const unsigned m = control & 1;
    if (control & 2) {
      up[m] = !up[m];
      agg.set_link(m, up[m], now);
    }
    agg.on_frame(m, bytes, now);
    now += 100 * (control >> 2);
    agg.tick(now);
    const std::vector<unsigned> dist = agg.distributing();
    const std::vector<unsigned> coll = agg.collecting();
    for (unsigned d : dist)
      FUZZ_CHECK(std::find(coll.begin(), coll.end(), d) != coll.end());
  }
  return 0;
}
