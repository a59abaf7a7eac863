#include "nat_inspect.h"

#include <algorithm>

namespace sluice {

namespace {

bool passes(const InspectFilter& f, const Session& s) noexcept {
  using F = InspectFilter;
  return (!(f.match & F::inside_ip) || s.inside_ip == f.inside_ip_value) &&
         (!(f.match & F::inside_port) || s.inside_port == f.inside_port_value) &&
         (!(f.match & F::public_ip) || s.public_ip == f.public_ip_value) &&
         (!(f.match & F::public_port) || s.public_port == f.public_port_value) &&
         (!(f.match & F::remote_ip) || s.remote_ip == f.remote_ip_value) &&
         (!(f.match & F::remote_port) || s.remote_port == f.remote_port_value) &&
         (!(f.match & F::proto) || s.proto == f.proto_value);
}

void sessions(const NatTable& t, const InspectRequest& q, InspectReply& r,
              uint64_t now_ms) noexcept {
  const uint32_t end = t.sessions_high_water();
  const uint32_t max = std::min(q.max_rows, kInspectRows);
  uint32_t i = q.cursor;
  for (; i < end && r.scanned < kInspectScan && r.rows < max; i++, r.scanned++) {
    const Session& s = t.session(i);
    if (s.proto == 0 || !passes(q.filter, s)) continue;
    r.sessions[r.rows++] = SessionRow{s.inside_ip,
                                      s.public_ip,
                                      s.remote_ip,
                                      s.inside_port,
                                      s.public_port,
                                      s.remote_port,
                                      s.proto,
                                      static_cast<uint8_t>(s.tcp),
                                      static_cast<uint32_t>(now_ms) - s.last_ms};
  }
  r.cursor = i;
  r.done = i >= end;
}

void clients(const NatTable& t, const InspectRequest& q, InspectReply& r) noexcept {
  const uint32_t end = t.clients_high_water();
  const PortBlocks& blocks = t.blocks();
  const bool by_ip = q.filter.match & InspectFilter::inside_ip;
  const uint32_t max = std::min(q.max_rows, kInspectRows);
  uint32_t i = q.cursor;
  for (; i < end && r.scanned < kInspectScan && r.rows < max; i++, r.scanned++) {
    const Client& c = t.client(i);
    if (c.blocks == 0 || (by_ip && c.ip != q.filter.inside_ip_value)) continue;
    r.clients[r.rows++] = ClientRow{c.ip, blocks.address(c.block[0]), c.sessions, c.blocks};
  }
  r.cursor = i;
  r.done = i >= end;
}

void pool(const NatTable& t, const InspectRequest& q, InspectReply& r) noexcept {
  const PortBlocks& b = t.blocks();
  const uint32_t addresses = b.addresses();
  const uint32_t per_address = addresses == 0 ? 0 : b.blocks() / addresses;
  uint32_t a = per_address == 0 ? addresses : q.cursor;
  const uint32_t max = std::min(q.max_rows, kInspectRows);
  for (; a < addresses && r.rows < max && r.scanned < kInspectScan; a++) {
    AddressRow row{b.address(a * per_address), per_address, per_address - b.free_blocks(a), 0};
    for (uint32_t k = a * per_address; k < (a + 1) * per_address; k++)
      row.ports_used += b.ports_in_use(k);
    r.scanned += per_address;
    r.addresses[r.rows++] = row;
  }
  r.cursor = a;
  r.done = a >= addresses;
}

}  // namespace

void inspect_nat(const NatTable& table, const InspectRequest& request, InspectReply& reply,
                 uint64_t now_ms) noexcept {
  reply.supported = true;
  switch (request.what) {
    case InspectWhat::sessions:
      sessions(table, request, reply, now_ms);
      return;
    case InspectWhat::clients:
      clients(table, request, reply);
      return;
    case InspectWhat::pool:
      pool(table, request, reply);
      return;
  }
}

}  // namespace sluice
