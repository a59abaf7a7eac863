#include "policer.h"

#include <rte_cycles.h>
#include <rte_errno.h>

#include <atomic>
#include <string>

#include "packet.h"

namespace sluice {

namespace {

// Bytes per second of the workers' clock as rte_meter wants them: it counts
// time in TSC cycles, so a rate on a clock of hz ticks per second is scaled
// by tsc_hz / hz (1 when the clock is the TSC, as in the daemon).
uint64_t meter_rate(uint64_t bits_per_second, uint64_t hz) noexcept {
  const auto scaled = static_cast<unsigned __int128>(bits_per_second / 8) * rte_get_tsc_hz() / hz;
  return static_cast<uint64_t>(scaled);
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
      int rc = 0;
      if (p.two_rate) {
        rte_meter_trtcm_params params{meter_rate(s.cir, hz), meter_rate(s.pir, hz), s.cbs, s.pbs};
        rc = rte_meter_trtcm_profile_config(&p.tr, &params);
      } else {
        rte_meter_srtcm_params params{meter_rate(s.cir, hz), s.cbs, 0};
        rc = rte_meter_srtcm_profile_config(&p.sr, &params);
      }
      if (rc != 0) {
        error_ = "policing profile " + s.name + ": rte_meter refused the rates (" +
                 std::to_string(rc) + ")";
        return;
      }
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
    // Full buckets; time 0, so the first packet's refill fills them to
    // the brim whatever the clock reads (rte_meter's config reads the TSC).
    if (p.two_rate) {
      cm.tr = rte_meter_trtcm{0, 0, p.tr.cbs, p.tr.pbs};
    } else {
      cm.sr = rte_meter_srtcm{0, p.sr.cbs, 0};
    }
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
