// The NAT table's indexes (dataplane/record_index.h), on sessions: both
// views of a session found in bulk and one by one, keys kept outside a full
// home bucket, a table with no room left, and removal, checked against a
// reference map through random churn.
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <tuple>
#include <vector>

#include "nat_table.h"

namespace sluice::test {
namespace {

Session session_of(uint32_t i) {
  Session s{};
  s.inside_ip = 0x0a100000 + i / 7;
  s.inside_port = static_cast<uint16_t>(1024 + i % 7);
  s.public_ip = 0xc6336400 + (i & 3);
  s.public_port = static_cast<uint16_t>(2000 + i);
  s.remote_ip = 0x08080808;
  s.remote_port = 443;
  s.proto = (i & 1) != 0 ? IPPROTO_TCP : IPPROTO_UDP;
  return s;
}

SessionKey view(const Session& s, bool outside) {
  return outside
             ? SessionKey{s.public_ip, s.remote_ip, s.public_port, s.remote_port, s.proto, 1, 0}
             : SessionKey{s.inside_ip, s.remote_ip, s.inside_port, s.remote_port, s.proto, 0, 0};
}

using KeyTuple = std::tuple<uint32_t, uint32_t, uint16_t, uint16_t, uint8_t, uint8_t>;
KeyTuple tuple_of(const SessionKey& k) {
  return {k.local_ip, k.remote_ip, k.local_port, k.remote_port, k.proto, k.outside};
}

}  // namespace

TEST_CASE("record index: random churn agrees with a reference map", "[record_index]") {
  // 120 sessions, 240 keys, 49 buckets of 8: up to 61 % full, so homes fill
  // up and keys move on to the next bucket.
  constexpr uint32_t kSessions = 120;
  SessionIndex index(2 * kSessions, 7);
  REQUIRE(index.ok());
  std::vector<Session> records(kSessions);
  std::vector<bool> present(kSessions, false);
  std::map<KeyTuple, uint32_t> reference;
  std::mt19937 rng(42);
  uint32_t most_displaced = 0;
  uint32_t generation = 0;

  const auto check_all = [&] {
    // Every present key by bulk and single lookup, and absent ones missing.
    std::vector<SessionKey> keys;
    for (uint32_t i = 0; i < kSessions; i++) {
      const Session s = session_of(i + kSessions * (generation + 1));
      keys.push_back(present[i] ? view(records[i], false) : view(s, false));
      keys.push_back(present[i] ? view(records[i], true) : view(s, true));
    }
    for (size_t done = 0; done < keys.size(); done += 32) {
      const auto n = static_cast<uint32_t>(std::min<size_t>(32, keys.size() - done));
      uint32_t out[32];
      index.lookup(&keys[done], n, records.data(), out);
      for (uint32_t j = 0; j < n; j++) {
        const SessionKey& k = keys[done + j];
        const auto it = reference.find(tuple_of(k));
        const uint32_t want = it == reference.end() ? kNoIndex : it->second;
        REQUIRE(out[j] == want);
        REQUIRE(index.lookup(k, records.data()) == want);
      }
    }
  };

  for (int step = 0; step < 4000; step++) {
    const uint32_t i = rng() % kSessions;
    if (present[i]) {
      index.remove(view(records[i], false), i);
      index.remove(view(records[i], true), i);
      reference.erase(tuple_of(view(records[i], false)));
      reference.erase(tuple_of(view(records[i], true)));
      records[i].proto = 0;
      present[i] = false;
    } else {
      // A new tuple each time the slot is reused, as a NAT table does.
      records[i] = session_of(i + kSessions * (++generation % 50));
      REQUIRE(index.add(view(records[i], false), i));
      REQUIRE(index.add(view(records[i], true), i));
      reference[tuple_of(view(records[i], false))] = i;
      reference[tuple_of(view(records[i], true))] = i;
      present[i] = true;
    }
    most_displaced = std::max(most_displaced, index.displaced());
    if (step % 97 == 0) check_all();
  }
  check_all();
  CHECK(most_displaced > 0);  // the overflow path was taken
  for (uint32_t i = 0; i < kSessions; i++) {
    if (!present[i]) continue;
    index.remove(view(records[i], false), i);
    index.remove(view(records[i], true), i);
  }
  CHECK(index.displaced() == 0);
  reference.clear();
  std::fill(present.begin(), present.end(), false);
  check_all();
}

TEST_CASE("record index: full buckets wrap around, then refuse", "[record_index]") {
  // Room for 5 keys asks for 2 buckets: 16 slots in all.
  SessionIndex index(5, 1);
  REQUIRE(index.ok());
  std::vector<Session> records;
  for (uint32_t i = 0; i < 17; i++)
    records.push_back(session_of(i));
  for (uint32_t i = 0; i < 16; i++)
    REQUIRE(index.add(view(records[i], false), i));
  CHECK(index.displaced() > 0);
  CHECK_FALSE(index.add(view(records[16], false), 16));
  for (uint32_t i = 0; i < 16; i++)
    CHECK(index.lookup(view(records[i], false), records.data()) == i);
  CHECK(index.lookup(view(records[16], false), records.data()) == kNoIndex);
  // The outside view of a session is not its inside view.
  CHECK(index.lookup(view(records[3], true), records.data()) == kNoIndex);
  // A slot freed anywhere takes the next key.
  index.remove(view(records[5], false), 5);
  CHECK(index.lookup(view(records[5], false), records.data()) == kNoIndex);
  CHECK(index.add(view(records[16], false), 16));
  CHECK(index.lookup(view(records[16], false), records.data()) == 16);
}

TEST_CASE("record index: a key is confirmed against its record", "[record_index]") {
  SessionIndex index(64, 3);
  REQUIRE(index.ok());
  std::vector<Session> records = {session_of(0), session_of(1)};
  REQUIRE(index.add(view(records[0], false), 0));
  const SessionKey k = view(records[0], false);
  CHECK(index.lookup(k, records.data()) == 0);
  // The record changed under the index (it was reused): the key no longer
  // finds it, whatever its tag says.
  records[0].remote_port = 80;
  CHECK(index.lookup(k, records.data()) == kNoIndex);
  uint32_t out = 0;
  index.lookup(&k, 1, records.data(), &out);
  CHECK(out == kNoIndex);
}

}  // namespace sluice::test
