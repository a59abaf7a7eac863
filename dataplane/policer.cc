#include "policer.h"

#include <rte_errno.h>

#include <atomic>
#include <string>

#include "packet.h"

namespace sluice {

namespace {

// A rate in bit/s as tokens (bytes << 32) per tick of a clock of hz, rounded.
uint64_t tokens_per_tick(uint64_t bits_per_second, uint64_t hz) noexcept {
  const auto bytes = static_cast<unsigned __int128>(bits_per_second) << kTokenShift;
  return static_cast<uint64_t>((bytes + 4 * hz) / (8 * hz));
}

}  // namespace

PolicerProfiles::PolicerProfiles(const std::vector<PolicerSpec>& specs, uint64_t hz) {
  PolicerProfile none;
  none.spec.name = "not-policed";
  none.spec.policed = false;
  profiles_.push_back(none);
  size_t rules = 0;
  for (const PolicerSpec& s : specs) {
    PolicerProfile p;
    p.spec = s;
    p.two_rate = s.pir != 0;
    if (s.policed) {
      p.cir = tokens_per_tick(s.cir, hz);
      p.cbs = s.cbs << kTokenShift;
      p.pir = p.two_rate ? tokens_per_tick(s.pir, hz) : 0;
      p.pbs = p.two_rate ? s.pbs << kTokenShift : 0;
      if (p.cir == 0 || (p.two_rate && p.pir == 0) || s.cbs >= (uint64_t{1} << 31) ||
          s.pbs >= (uint64_t{1} << 31)) {
        error_ = "policing profile " + s.name + ": rate below one byte per 2^32 ticks, or a " +
                 "burst of 2 GiB or more";
        return;
      }
      // Ticks for the slower bucket to fill from empty; beyond them both are full.
      p.fill = std::max(p.cbs / p.cir, p.two_rate ? p.pbs / p.pir : 0) + 1;
    }
    profiles_.push_back(p);
    rules += s.prefixes.size();
  }
  static std::atomic<unsigned> serial{0};
  const std::string name = "policing" + std::to_string(serial.fetch_add(1));
  rte_lpm_config lc{};
  lc.max_rules = static_cast<uint32_t>(rules + 1);
  lc.number_tbl8s = 256;
  lpm_ = rte_lpm_create(name.c_str(), SOCKET_ID_ANY, &lc);
  if (lpm_ == nullptr) {
    error_ = "policing: cannot create the prefix table: " + std::string(rte_strerror(rte_errno));
    return;
  }
  for (size_t i = 0; i < specs.size(); i++) {
    for (const PolicerSpec::Prefix& pr : specs[i].prefixes) {
      if (rte_lpm_add(lpm_, pr.network, pr.len, static_cast<uint32_t>(i + 1)) != 0) {
        error_ = "policing profile " + specs[i].name + ": cannot add a prefix to the table";
        return;
      }
    }
  }
}

PolicerProfiles::~PolicerProfiles() {
  rte_lpm_free(lpm_);
}

uint16_t PolicerProfiles::profile_of(uint32_t ip) const noexcept {
  uint32_t hop = 0;
  if (lpm_ == nullptr || rte_lpm_lookup(lpm_, ip, &hop) != 0) return 0;
  return static_cast<uint16_t>(hop);
}

void PolicerProfiles::reset(ClientMeters& m, uint16_t index) const noexcept {
  const PolicerProfile& p = profiles_[index];
  for (ClientMeter& cm : m.dir) {
    // Full buckets at time 0: the first packet finds them full whatever
    // the clock reads.
    cm.time = 0;
    cm.tc = p.cbs;
    cm.tp = p.pbs;
    cm.clear_counters();
  }
}

void set_dscp(rte_ipv4_hdr* ip, uint8_t dscp) noexcept {
  const uint16_t before = *reinterpret_cast<const uint16_t*>(ip);  // version/IHL and TOS
  ip->type_of_service = static_cast<uint8_t>((dscp << 2) | (ip->type_of_service & 0x3));
  const uint16_t after = *reinterpret_cast<const uint16_t*>(ip);
  ip->hdr_checksum = csum_update16(ip->hdr_checksum, before, after);
}

}  // namespace sluice
