// What operators see of the per-client policing (dataplane/policer.h), like
// a switch's `show policy-map interface`: per profile and direction, the
// packets and bytes of each colour summed over the workers and their bit/s
// over the last second; per client, conformed and exceeded packets, bytes
// and bit/s, and the clients policed hardest right now.
//
// The control thread calls sample() once a second; it reads the workers'
// relaxed counters (never waits for a worker) and keeps the results for the
// telemetry thread behind a mutex that only those two threads take.
// A client slot reused between two samples starts from zero (its counters
// are cleared with the slot), so its rate is never negative.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "nat_table.h"
#include "policer.h"

namespace sluice {

struct ProfileFigures {
  std::string name;
  const PolicerSpec* spec = nullptr;
  uint64_t packets[kDirections][kColours] = {};
  uint64_t bytes[kDirections][kColours] = {};
  uint64_t bps[kDirections][kColours] = {};
};

enum : unsigned { kConformed = 0, kExceeded = 1 };

struct ClientFigures {
  uint32_t ip = 0;
  uint16_t profile = 0;
  uint64_t packets[kDirections][2] = {};  // [direction][kConformed / kExceeded]
  uint64_t bytes[kDirections][2] = {};
  uint64_t bps[kDirections][2] = {};
};

class PolicingStats {
 public:
  PolicingStats(const PolicerProfiles& profiles, std::vector<const Policer*> policers,
                std::vector<const NatTable*> tables);

  // Reads every counter; rates are over the time since the last sample.
  void sample(uint64_t now_tsc, uint64_t hz);

  std::vector<ProfileFigures> profiles() const;
  // At most n clients, those with the highest exceeded bit/s first (then
  // conformed bit/s, then exceeded bytes); only clients with traffic.
  std::vector<ClientFigures> top_clients(size_t n) const;

  static constexpr size_t kTopKept = 64;

 private:
  const PolicerProfiles& profiles_;
  std::vector<const Policer*> policers_;
  std::vector<const NatTable*> tables_;
  // Last sample's byte counters: per table, per client slot, [dir][conf/exc].
  struct Seen {
    uint32_t ip = 0;
    uint64_t bytes[kDirections][2] = {};
  };
  std::vector<std::vector<Seen>> seen_;
  std::vector<ProfileFigures> last_profiles_;
  uint64_t last_tsc_ = 0;

  mutable std::mutex mutex_;  // guards the two below
  std::vector<ProfileFigures> profiles_out_;
  std::vector<ClientFigures> top_;
};

}  // namespace sluice
