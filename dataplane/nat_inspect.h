// One step of a listing of a worker's NAT state (inspect.h), run by the
// worker that owns the table, between rounds:
//
//   sessions  walks the session records from the cursor up to the table's
//             high-water mark, at most kInspectScan of them, and returns
//             those in use (proto != 0) that pass the filter, at most
//             max_rows; the cursor stops after the last row returned;
//   clients   walks the client records the same way (in use: holds a
//             block; the filter's inside address only);
//   pool      one row per public address from the cursor: this worker's
//             share of its blocks, how many are allocated and the ports in
//             use, until kInspectScan blocks have been counted.
//
// The cursor is a record (or address) index; the reply says where the next
// step starts and whether the walk is done.
#pragma once

#include <cstdint>

#include "inspect.h"
#include "nat_table.h"

namespace sluice {

void inspect_nat(const NatTable& table, const InspectRequest& request, InspectReply& reply,
                 uint64_t now_ms) noexcept;

}  // namespace sluice
