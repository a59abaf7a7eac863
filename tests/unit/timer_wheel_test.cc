// TimerWheel (dataplane/timer_wheel.h) on an injected millisecond clock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <vector>

#include "timer_wheel.h"

namespace sluice::test {
namespace {

constexpr unsigned kAll = UINT_MAX;  // budget: no limit

// Ids fired by one advance(), in order.
std::vector<uint32_t> fire(TimerWheel& w, uint64_t now, unsigned budget = kAll) {
  std::vector<uint32_t> ids;
  const unsigned n = w.advance(now, budget, [&](uint32_t id) { ids.push_back(id); });
  CHECK(n == ids.size());
  return ids;
}

// The sessions of the lazy pattern: a real expiry per id; the callback
// re-schedules an entry that fired early and records the time of the rest.
struct Sessions {
  explicit Sessions(uint32_t n) : due(n, 0), fired_at(n, 0), fires(n, 0) {}
  std::vector<uint64_t> due;
  std::vector<uint64_t> fired_at;
  std::vector<unsigned> fires;  // times expired (not counting early visits)
  uint64_t early = 0;           // early visits, re-scheduled

  unsigned advance(TimerWheel& w, uint64_t now, unsigned budget = kAll) {
    return w.advance(now, budget, [&](uint32_t id) {
      if (due[id] > now) {
        early++;
        w.schedule(id, due[id]);
        return;
      }
      fires[id]++;
      fired_at[id] = now;
    });
  }
};

TEST_CASE("TimerWheel: fires once the due tick has ended, not before", "[timer]") {
  TimerWheel w(16, 8, 1000, 0);
  w.schedule(1, 2500);  // tick 2: fires from 3000
  w.schedule(2, 5000);  // tick 5, at its very start: fires from 6000
  w.schedule(3, 5999);  // tick 5 too
  CHECK(w.size() == 3);
  CHECK(w.scheduled(1));
  CHECK_FALSE(w.scheduled(0));
  CHECK(fire(w, 2500).empty());
  CHECK(fire(w, 2999).empty());
  CHECK(fire(w, 3000) == std::vector<uint32_t>{1});
  CHECK_FALSE(w.scheduled(1));
  CHECK(fire(w, 5999).empty());
  CHECK(fire(w, 6000) == std::vector<uint32_t>{2, 3});  // in the order scheduled
  CHECK(w.size() == 0);
  CHECK(fire(w, 100'000).empty());
}

TEST_CASE("TimerWheel: a due time already past fires at the next tick", "[timer]") {
  TimerWheel w(4, 8, 1000, 10'000);
  w.schedule(0, 3000);    // before the wheel's start
  w.schedule(1, 10'000);  // now
  CHECK(fire(w, 10'999).empty());
  CHECK(fire(w, 11'000) == std::vector<uint32_t>{0, 1});
  REQUIRE(fire(w, 20'000).empty());
  w.schedule(2, 15'000);  // the wheel has processed up to 20'000
  CHECK(fire(w, 20'500).empty());
  CHECK(fire(w, 21'000) == std::vector<uint32_t>{2});
}

TEST_CASE("TimerWheel: never early, at most one tick late, within the span", "[timer]") {
  constexpr uint32_t kTick = 100;
  TimerWheel w(1000, 64, kTick, 0);  // span 6400 ms
  Sessions s(1000);
  std::mt19937 rng(7);
  for (uint32_t id = 0; id < 1000; id++) {
    s.due[id] = rng() % 6000;
    w.schedule(id, s.due[id]);
  }
  for (uint64_t now = 0; now <= 7000; now += 7)
    s.advance(w, now);
  CHECK(s.early == 0);
  for (uint32_t id = 0; id < 1000; id++) {
    INFO("id " << id << " due " << s.due[id] << " fired at " << s.fired_at[id]);
    CHECK(s.fires[id] == 1);
    CHECK(s.fired_at[id] >= s.due[id]);
    CHECK(s.fired_at[id] < s.due[id] + kTick + 7);  // a tick, plus our 7 ms step
  }
}

TEST_CASE("TimerWheel: cancel", "[timer]") {
  TimerWheel w(8, 8, 1000, 0);
  w.schedule(1, 1000);
  w.schedule(2, 1000);
  w.schedule(3, 1000);
  w.schedule(4, 4000);
  w.cancel(2);  // from the middle of a slot's list
  w.cancel(4);  // the only entry of its slot
  w.cancel(4);  // no-op: not scheduled
  w.cancel(5);  // no-op: never scheduled
  CHECK_FALSE(w.scheduled(2));
  CHECK(w.size() == 2);
  CHECK(fire(w, 10'000) == std::vector<uint32_t>{1, 3});
  CHECK(w.size() == 0);

  w.schedule(2, 12'000);  // a cancelled id may be scheduled again
  CHECK(fire(w, 13'000) == std::vector<uint32_t>{2});
}

TEST_CASE("TimerWheel: cancel from the callback", "[timer]") {
  TimerWheel w(8, 8, 1000, 0);
  for (uint32_t id = 0; id < 4; id++)
    w.schedule(id, 1000);
  w.schedule(4, 2000);
  std::vector<uint32_t> ids;
  w.advance(5000, kAll, [&](uint32_t id) {
    ids.push_back(id);
    if (id == 0) {
      w.cancel(1);  // on the firing list
      w.cancel(4);  // in a slot still to come
    }
  });
  CHECK(ids == std::vector<uint32_t>{0, 2, 3});
  CHECK(w.size() == 0);
}

TEST_CASE("TimerWheel: the budget splits the work; nothing lost or fired twice", "[timer]") {
  constexpr uint32_t kN = 100;
  TimerWheel w(kN, 16, 1000, 0);
  for (uint32_t id = 0; id < kN; id++)
    w.schedule(id, 1000 * (id % 10));  // ten per tick, ticks 0..9
  std::vector<unsigned> fires(kN, 0);
  std::vector<uint32_t> order;
  unsigned calls = 0;
  for (;;) {
    const unsigned n = w.advance(15'000, 7, [&](uint32_t id) {
      fires[id]++;
      order.push_back(id);
    });
    CHECK(n <= 7);
    calls++;
    if (n == 0) break;
  }
  CHECK(calls == 100 / 7 + 1 + 1);  // 14 full, one of 2, one finding nothing
  for (uint32_t id = 0; id < kN; id++)
    CHECK(fires[id] == 1);
  for (size_t i = 1; i < order.size(); i++)  // oldest tick first
    CHECK(order[i - 1] % 10 <= order[i] % 10);
  CHECK(w.size() == 0);
}

TEST_CASE("TimerWheel: entries left by the budget stay scheduled and cancellable", "[timer]") {
  TimerWheel w(8, 8, 1000, 0);
  for (uint32_t id = 0; id < 4; id++)
    w.schedule(id, 500);
  w.schedule(4, 1500);
  CHECK(fire(w, 5000, 2) == std::vector<uint32_t>{0, 1});
  CHECK(w.scheduled(2));
  CHECK(w.size() == 3);
  w.cancel(3);
  // The next call continues with what was left, even at an earlier clock.
  CHECK(fire(w, 4000, 1) == std::vector<uint32_t>{2});
  CHECK(fire(w, 4000, 5) == std::vector<uint32_t>{4});
}

TEST_CASE("TimerWheel: budget 0 does nothing", "[timer]") {
  TimerWheel w(8, 8, 1000, 0);
  w.schedule(1, 0);
  CHECK(fire(w, 1'000'000'000, 0).empty());
  CHECK(w.scheduled(1));
  CHECK(fire(w, 1'000'000'000) == std::vector<uint32_t>{1});
}

TEST_CASE("TimerWheel: re-schedule from inside the callback", "[timer]") {
  TimerWheel w(8, 16, 1000, 0);
  std::vector<std::pair<uint32_t, uint64_t>> log;  // (id, now)

  SECTION("to a later tick: fires again then") {
    w.schedule(1, 1500);
    uint64_t now = 0;
    auto cb = [&](uint32_t id) {
      log.emplace_back(id, now);
      if (log.size() < 3) w.schedule(id, now + 2500);  // 4500: tick 4, ends at 5000
    };
    for (now = 0; now <= 20'000; now += 250)
      w.advance(now, kAll, cb);
    CHECK(log == std::vector<std::pair<uint32_t, uint64_t>>{{1, 2000}, {1, 5000}, {1, 8000}});
  }

  SECTION("into a tick this call still has to process: due in the future, not fired twice") {
    // Ticks 1..9 are all processed by one call at 10'000; each entry comes
    // back for 10'500 (tick 10, not yet ended), then beyond the span.
    for (uint32_t id = 0; id < 5; id++)
      w.schedule(id, 1000 + 1000 * id);
    unsigned n = w.advance(10'000, kAll, [&](uint32_t id) {
      log.emplace_back(id, 10'000);
      w.schedule(id, id % 2 ? 10'500 : 10'000 + 1'000'000);
    });
    CHECK(n == 5);
    CHECK(w.size() == 5);
    CHECK(fire(w, 10'999).empty());
    CHECK(fire(w, 11'000) == std::vector<uint32_t>{1, 3});
  }

  SECTION("at a time already past: may fire again in the same call") {
    w.schedule(1, 1000);
    unsigned visits = 0;
    unsigned n = w.advance(5000, kAll, [&](uint32_t id) {
      if (++visits < 3) w.schedule(id, 0);
    });
    CHECK(n == 3);
    CHECK(w.size() == 0);
  }
}

TEST_CASE("TimerWheel: sent beyond the span from the callback, fired once a call at any lag",
          "[timer]") {
  // The wheel a whole span behind the clock (or nearly, or more), with or
  // without entries left on the firing list by a budget: an entry the
  // callback sends beyond the span goes to the farthest slot, which must not
  // be one this call still has to process.
  constexpr uint32_t kSlots = 8;
  for (uint32_t lag : {kSlots - 1, kSlots, kSlots + 1, 3 * kSlots}) {
    for (bool leftovers : {false, true}) {
      TimerWheel w(8, kSlots, 1000, 0);
      for (uint32_t id = 0; id < 8; id++)
        w.schedule(id, 500 + 1000 * (id % 2));  // ticks 0 and 1
      uint64_t cursor = 0;
      if (leftovers) {
        REQUIRE(fire(w, 1000, 2) == std::vector<uint32_t>{0, 2});  // 4, 6 left
        cursor = 1;
      }
      std::vector<unsigned> fires(8, 0);
      w.advance((cursor + lag) * 1000, kAll, [&](uint32_t id) {
        if (fires[id]++ == 0) w.schedule(id, 1'000'000'000);
      });
      INFO("lag " << lag << (leftovers ? ", with leftovers" : ""));
      for (uint32_t id = 0; id < 8; id++)
        CHECK(fires[id] == (leftovers && (id == 0 || id == 2) ? 0u : 1u));
      CHECK(w.size() == (leftovers ? 6 : 8));
    }
  }
}

TEST_CASE("TimerWheel: beyond the span fires early, is re-scheduled, fires on time", "[timer]") {
  TimerWheel w(4, 8, 1000, 0);  // span 8 s
  CHECK(w.span_ms() == 8000);
  Sessions s(4);
  s.due[1] = 20'000;
  w.schedule(1, s.due[1]);  // to the farthest slot, tick 7
  std::vector<uint64_t> visits;
  for (uint64_t now = 0; now <= 30'000; now += 1000) {
    const uint64_t early = s.early;
    if (s.advance(w, now) > 0) visits.push_back(now);
    if (s.early > early) CHECK(w.scheduled(1));
  }
  CHECK(visits == std::vector<uint64_t>{8000, 16'000, 21'000});  // ticks 7, 15, then 20
  CHECK(s.early == 2);
  CHECK(s.fires[1] == 1);
  CHECK(s.fired_at[1] == 21'000);
}

TEST_CASE("TimerWheel: a jump of hours fires everything due, each slot once", "[timer]") {
  constexpr uint32_t kN = 10'000;
  TimerWheel w(kN, 8192, 1000, 0);  // span 8192 s
  Sessions s(kN);
  std::mt19937_64 rng(11);
  for (uint32_t id = 0; id < kN; id++) {
    s.due[id] = rng() % 30'000'000;  // 0 .. 8 h 20 min, some beyond the span
    w.schedule(id, s.due[id]);
  }
  const unsigned first = s.advance(w, 1000);  // tick 0
  const uint64_t now = 5 * 3600 * 1000;       // 5 h: 18000 ticks later, over two laps
  std::vector<unsigned> visits(kN, 0);
  w.advance(now, kAll, [&](uint32_t id) {
    visits[id]++;
    if (s.due[id] > now) {
      w.schedule(id, s.due[id]);
      s.early++;
    } else {
      s.fires[id]++;
    }
  });
  uint32_t due_now = 0;
  for (uint32_t id = 0; id < kN; id++) {
    if (s.due[id] < now) {
      due_now++;
      CHECK(s.fires[id] == 1);
    } else {
      CHECK(w.scheduled(id));
    }
  }
  uint32_t visited = 0;
  for (uint32_t id = 0; id < kN; id++) {
    CHECK(visits[id] <= 1);
    visited += visits[id];
  }
  CHECK(visited == kN - first);  // every entry once: all were overdue or beyond the span
  CHECK(w.size() == kN - due_now);
  for (uint64_t t = now; t <= 30'000'000 + 1000; t += 1000)
    s.advance(w, t);
  for (uint32_t id = 0; id < kN; id++) {
    CHECK(s.fires[id] == 1);
    if (s.due[id] >= now) CHECK(s.fired_at[id] <= s.due[id] + 1000);
  }
}

TEST_CASE("TimerWheel: a jump of ages costs one lap, not a walk", "[timer]") {
  TimerWheel w(64, 1024, 1, 0);  // 1 ms ticks: walking the jump would take days
  Sessions s(64);
  for (uint32_t id = 0; id < 64; id++) {
    s.due[id] = id * 100;  // within the span and beyond it
    w.schedule(id, s.due[id]);
  }
  const uint64_t now = uint64_t{1} << 50;
  CHECK(s.advance(w, now) == 64);
  CHECK(s.early == 0);
  // Again, with entries left on the firing list by the budget, coming back
  // after the jump for a time beyond the span: each fires once per call.
  for (uint32_t id = 0; id < 64; id++) {
    s.due[id] = now + 2000 + id;
    w.schedule(id, s.due[id]);
  }
  CHECK(s.advance(w, now + 3000, 10) == 10);
  for (uint32_t id = 0; id < 64; id++)
    s.due[id] = now * 2;
  CHECK(s.advance(w, now + (uint64_t{1} << 40)) == 54);
  CHECK(s.early == 54);
  CHECK(w.size() == 54);
  CHECK(s.advance(w, now * 2) == 54);  // one more lap: due (now == due) and fired
  CHECK(w.size() == 0);
  for (uint32_t id = 0; id < 64; id++)
    CHECK(s.fires[id] == 2);  // 0..9 in the budgeted call, the rest in the last lap
}

TEST_CASE("TimerWheel: 100,000 entries all fire exactly once", "[timer]") {
  constexpr uint32_t kN = 100'000;
  constexpr uint32_t kTick = 1000;
  constexpr uint64_t kStart = 1'000'000;
  TimerWheel w(kN, 8192, kTick, kStart);
  Sessions s(kN);
  std::mt19937_64 rng(3);
  for (uint32_t id = 0; id < kN; id++) {
    s.due[id] = kStart + rng() % (3 * 3600 * 1000);  // up to 3 h: a quarter beyond the span
    w.schedule(id, s.due[id]);
  }
  REQUIRE(w.size() == kN);
  // A second a tick, a budget of 2000 a tick: ~9 due a tick on average, but
  // the 24,000 beyond the span all come back at once from the farthest slot.
  uint64_t now = kStart;
  for (; now <= kStart + 4 * 3600 * 1000; now += kTick) {
    s.advance(w, now, 2000);
    if (now % (600 * kTick) == 0) {  // every 10 minutes, touch some sessions
      for (uint32_t id = 0; id < kN; id += 997)
        if (s.fires[id] == 0 && s.due[id] > now) s.due[id] += 60'000;
    }
  }
  CHECK(w.size() == 0);
  uint32_t once = 0, early = 0;
  for (uint32_t id = 0; id < kN; id++) {
    once += s.fires[id] == 1;
    early += s.fired_at[id] < s.due[id];
  }
  CHECK(once == kN);
  CHECK(early == 0);
  CHECK(s.early >= 24'000);  // visits before due, re-scheduled by the callback
}

TEST_CASE("TimerWheel: against a model, with random operations", "[timer]") {
  constexpr uint32_t kN = 256;
  constexpr uint64_t kTick = 10;
  constexpr uint64_t kSlots = 32;  // span 320 ms
  TimerWheel w(kN, kSlots, kTick, 0);
  // The model: per id, armed or not, its due time, the latest tick its slot
  // can stand for (its due tick, or the tick it was scheduled in when the due
  // time was already past), and whether it may fire before due (scheduled
  // beyond the span, or while the wheel's cursor may lag the clock).
  std::vector<uint64_t> due(kN, 0);
  std::vector<uint64_t> tick(kN, 0);
  std::vector<bool> armed(kN, false);
  std::vector<bool> may_be_early(kN, false);
  uint32_t armed_count = 0;
  bool lagging = false;  // the last advance() ran out of budget
  uint64_t now = 0;
  unsigned bad = 0;  // failures inside callbacks (no REQUIRE in a noexcept call)
  auto arm = [&](uint32_t id, uint64_t at, bool in_callback) {
    due[id] = at;
    tick[id] = std::max(at / kTick, now / kTick);
    may_be_early[id] = lagging || in_callback || at / kTick >= now / kTick + kSlots;
    w.schedule(id, at);
  };
  std::mt19937 rng(5);
  for (int step = 0; step < 200'000; step++) {
    const uint32_t id = rng() % kN;
    switch (rng() % 8) {
      case 0:
      case 1:
      case 2:
        if (!armed[id]) {
          const uint32_t r = rng() % 100;
          const uint64_t at = r < 5 ? now - std::min<uint64_t>(now, rng() % 50)
                                    : now + rng() % (r < 90 ? 200 : 2000);
          arm(id, at, false);
          armed[id] = true;
          armed_count++;
        }
        break;
      case 3:
        if (armed[id]) armed_count--;
        armed[id] = false;
        w.cancel(id);
        break;
      default: {
        const uint32_t r = rng() % 1000;
        now += r < 990 ? rng() % 20 : rng() % 5000;  // sometimes a jump beyond the span
        const unsigned budget = rng() % 4 ? kAll : 1 + rng() % 8;
        const unsigned n = w.advance(now, budget, [&](uint32_t fired) {
          bad += !armed[fired] || w.scheduled(fired);
          if (due[fired] > now) {
            bad += !may_be_early[fired];
            arm(fired, due[fired], true);
            return;
          }
          armed[fired] = false;
          armed_count--;
        });
        REQUIRE(bad == 0);
        lagging = n == budget;
        if (budget == kAll) {  // every tick that has ended is done
          for (uint32_t i = 0; i < kN; i++)
            if (armed[i]) REQUIRE(tick[i] >= now / kTick);
        }
      }
    }
    REQUIRE(w.size() == armed_count);
    REQUIRE(w.scheduled(id) == armed[id]);
  }
}

TEST_CASE("TimerWheel: refuses a bad geometry", "[timer]") {
  CHECK_THROWS_AS(TimerWheel(8, 100, 1000, 0), std::invalid_argument);
  CHECK_THROWS_AS(TimerWheel(8, 0, 1000, 0), std::invalid_argument);
  CHECK_THROWS_AS(TimerWheel(8, 8, 0, 0), std::invalid_argument);
  CHECK_THROWS_AS(TimerWheel(~uint32_t{0} - 4, 8, 1000, 0), std::invalid_argument);
  CHECK_NOTHROW(TimerWheel(8, 1, 1000, 0));
}

}  // namespace
}  // namespace sluice::test
