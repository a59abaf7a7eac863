#include "policing_stats.h"

#include <algorithm>
#include <tuple>

namespace sluice {

namespace {

uint64_t rate(uint64_t now, uint64_t before, uint64_t ticks, uint64_t hz) {
  if (ticks == 0 || now < before) return 0;
  return static_cast<uint64_t>(static_cast<unsigned __int128>(now - before) * 8 * hz / ticks);
}

}  // namespace

PolicingStats::PolicingStats(const PolicerProfiles& profiles, std::vector<const Policer*> policers,
                             std::vector<const NatTable*> tables)
    : profiles_(profiles), policers_(std::move(policers)), tables_(std::move(tables)) {
  for (const NatTable* t : tables_)
    seen_.emplace_back(t->client_slots());
  last_profiles_.resize(profiles_.size());
  for (size_t i = 0; i < profiles_.size(); i++) {
    last_profiles_[i].name = profiles_.profile(static_cast<uint16_t>(i)).spec.name;
    last_profiles_[i].spec = &profiles_.profile(static_cast<uint16_t>(i)).spec;
  }
  profiles_out_ = last_profiles_;
}

void PolicingStats::sample(uint64_t now_tsc, uint64_t hz) {
  const uint64_t ticks = last_tsc_ == 0 ? 0 : now_tsc - last_tsc_;
  last_tsc_ = now_tsc;

  std::vector<ProfileFigures> prof(profiles_.size());
  for (size_t i = 0; i < prof.size(); i++) {
    ProfileFigures& f = prof[i];
    f.name = last_profiles_[i].name;
    f.spec = last_profiles_[i].spec;
    for (const Policer* p : policers_) {
      const PolicerCounters& c = p->counters(static_cast<uint16_t>(i));
      for (unsigned d = 0; d < kDirections; d++) {
        for (unsigned k = 0; k < kColours; k++) {
          f.packets[d][k] += c.packets[d][k].read();
          f.bytes[d][k] += c.bytes[d][k].read();
        }
      }
    }
    for (unsigned d = 0; d < kDirections; d++) {
      for (unsigned k = 0; k < kColours; k++)
        f.bps[d][k] = rate(f.bytes[d][k], last_profiles_[i].bytes[d][k], ticks, hz);
    }
  }
  last_profiles_ = prof;

  std::vector<ClientFigures> clients;
  for (size_t t = 0; t < tables_.size(); t++) {
    const NatTable& table = *tables_[t];
    for (uint32_t slot = 0; slot < table.client_slots(); slot++) {
      Seen& before = seen_[t][slot];
      const uint32_t ip = table.client_ip(slot);
      if (ip == 0) {
        before = Seen{};
        continue;
      }
      if (ip != before.ip) before = Seen{ip, {}};
      ClientFigures f;
      f.ip = ip;
      const ClientMeters& m = table.meters(slot);
      bool any = false;
      for (unsigned d = 0; d < kDirections; d++) {
        const ClientMeter& cm = m.dir[d];
        f.packets[d][kConformed] = cm.conformed_packets.read();
        f.bytes[d][kConformed] = cm.conformed_bytes.read();
        f.packets[d][kExceeded] = cm.exceeded_packets.read();
        f.bytes[d][kExceeded] = cm.exceeded_bytes.read();
        for (unsigned k : {kConformed, kExceeded}) {
          f.bps[d][k] = rate(f.bytes[d][k], before.bytes[d][k], ticks, hz);
          before.bytes[d][k] = f.bytes[d][k];
          any = any || f.bytes[d][k] != 0;
        }
      }
      if (!any) continue;
      f.profile = profiles_.profile_of(ip);
      clients.push_back(f);
    }
  }
  const auto key = [](const ClientFigures& f) {
    return std::make_tuple(f.bps[0][kExceeded] + f.bps[1][kExceeded],
                           f.bps[0][kConformed] + f.bps[1][kConformed],
                           f.bytes[0][kExceeded] + f.bytes[1][kExceeded]);
  };
  const size_t kept = std::min(clients.size(), kTopKept);
  std::partial_sort(clients.begin(), clients.begin() + static_cast<std::ptrdiff_t>(kept),
                    clients.end(), [&](const auto& a, const auto& b) { return key(a) > key(b); });
  clients.resize(kept);

  std::lock_guard lock(mutex_);
  profiles_out_ = std::move(prof);
  top_ = std::move(clients);
}

std::vector<ProfileFigures> PolicingStats::profiles() const {
  std::lock_guard lock(mutex_);
  return profiles_out_;
}

std::vector<ClientFigures> PolicingStats::top_clients(size_t n) const {
  std::lock_guard lock(mutex_);
  return {top_.begin(), top_.begin() + static_cast<std::ptrdiff_t>(std::min(n, top_.size()))};
}

}  // namespace sluice
