// A hashed timing wheel for session expiry, so that no one ever scans the
// session table to find what has timed out.
//
// Entries are ids 0..capacity-1 (session indexes), at most one timer each.
// Time is the caller's clock in milliseconds, passed to every call. The wheel
// cuts time into ticks of tick_ms (tick k covers [k * tick_ms, (k+1) * tick_ms))
// and keeps `slots` lists (a power of 2); tick k lives in slot k % slots. The
// wheel spans slots * tick_ms (8192 s, 2 h 16 min, with 8192 slots of 1 s).
//
// Lists are intrusive and doubly linked: a prev and a next index per id, plus
// one sentinel node per slot and one for the firing list, all in two arrays the
// constructor allocates. schedule() and cancel() are O(1); nothing allocates,
// locks or throws afterwards. Memory: 8 bytes per id plus 8 per slot.
//
// The cursor is the oldest tick not yet processed. schedule(id, due_ms) puts id
// at the tail of the slot of due_ms's tick, clamped to the window the slots can
// represent, [cursor, cursor + slots - 1]: a due time already past goes to the
// cursor's slot (it fires at the next opportunity), a due time beyond the span
// goes to the farthest slot and fires early, once per lap, until the callback
// re-schedules it within the span.
//
// advance(now_ms) processes every tick that has ended by now_ms, oldest first:
// the slot's list moves whole to the firing list, the cursor steps past the
// tick, then each entry is unlinked and handed to the callback. Precision: an
// entry fires in the first advance() whose now_ms has passed the end of its
// due tick, so never before due_ms and at most tick_ms after it (given budget
// and an advance() at least once per tick); only entries due beyond the span
// fire early, which the callback sees by checking the session's real expiry.
//
// Callbacks may schedule again, the fired id or any other. Because the
// cursor is already past the tick being fired, an entry re-scheduled with a due
// time in the future lands in a tick after now_ms's (or, beyond the span, in
// the slot just emptied, which stands for the tick one lap ahead), never in a
// tick this call still has to process; so it is not fired twice in one call.
// (An entry re-scheduled at a time already past may fire again in the same
// call: that is what was asked for.)
//
// Budget: advance() fires at most `budget` entries. Entries left on the firing
// list stay scheduled (cancel() works on them) and the next call fires them
// first, then continues with the following tick, so expiry keeps up under
// load in bounded steps. Empty slots cost a visit each and no budget.
//
// Time jumps. When now_ms is more than a span ahead of the cursor, every entry
// is overdue; rather than walk the empty laps in between, the cursor jumps to
// one span before now's tick, so each slot is processed once for the lap and
// everything in it fires (entries still on the firing list join the first slot
// of that lap). After such a jump, overdue entries fire in slot order starting
// from now's slot rather than strictly by due time. A clock going backwards
// does nothing.
//
// Use for sessions, lazily: schedule a session at its expiry when it is
// created; touching it does not move its timer; when the timer fires, the
// callback compares the real expiry with now and either deletes the session
// (no cancel needed: a fired entry is already unlinked) or schedules it again
// at its real expiry.
//
// One owner (the worker); not thread-safe.
#pragma once

#include <cassert>
#include <cstdint>
#include <memory>
#include <stdexcept>

namespace sluice {

class TimerWheel {
 public:
  static constexpr uint32_t kNone = ~uint32_t{0};

  // capacity: ids 0..capacity-1; slots: a power of 2; tick_ms >= 1; start_ms:
  // the clock now (ticks before start_ms's are considered processed). Throws
  // std::invalid_argument on a bad geometry (capacity + slots must stay below
  // 2^32 - 1). Allocates here only.
  TimerWheel(uint32_t capacity, uint32_t slots, uint32_t tick_ms, uint64_t start_ms)
      : capacity_(capacity),
        slots_(slots),
        mask_(slots - 1),
        tick_ms_(tick_ms),
        firing_(capacity + slots) {
    if (slots == 0 || (slots & (slots - 1)) != 0)
      throw std::invalid_argument("TimerWheel: slots must be a power of 2");
    if (tick_ms == 0) throw std::invalid_argument("TimerWheel: tick_ms must be at least 1");
    if (uint64_t{capacity} + slots + 1 >= kNone)
      throw std::invalid_argument("TimerWheel: capacity + slots too large");
    cursor_ = start_ms / tick_ms_;
    const uint32_t nodes = capacity + slots + 1;
    prev_ = std::make_unique<uint32_t[]>(nodes);
    next_ = std::make_unique<uint32_t[]>(nodes);
    for (uint32_t i = 0; i < capacity; i++)
      prev_[i] = next_[i] = kNone;
    for (uint32_t i = capacity; i < nodes; i++)
      prev_[i] = next_[i] = i;  // empty list: the sentinel alone
  }
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Arms id's timer at due_ms; id must not be scheduled.
  void schedule(uint32_t id, uint64_t due_ms) noexcept {
    assert(id < capacity_ && !scheduled(id));
    uint64_t tick = due_ms / tick_ms_;
    if (tick < cursor_)
      tick = cursor_;
    else if (tick - cursor_ >= slots_)
      tick = cursor_ + slots_ - 1;
    link_tail(sentinel(tick), id);
    size_++;
  }

  // Disarms id's timer; a no-op when it is not scheduled.
  void cancel(uint32_t id) noexcept {
    assert(id < capacity_);
    if (!scheduled(id)) return;
    unlink(id);
    size_--;
  }

  bool scheduled(uint32_t id) const noexcept { return next_[id] != kNone; }

  // Fires entries whose tick has ended by now_ms, oldest tick first, at most
  // budget of them; each is unlinked before fn(id) runs. Returns how many fired.
  template <class F>
  unsigned advance(uint64_t now_ms, unsigned budget, F&& fn) noexcept {
    if (budget == 0) return 0;
    const uint64_t now_tick = now_ms / tick_ms_;
    // Firing at tick k needs now_tick - k <= slots_, so that a future due time
    // never lands in a tick this call has still to process (see the header).
    // The firing list counts as tick cursor_ - 1.
    const bool firing = !empty(firing_);
    if (now_tick > cursor_ && now_tick - cursor_ + (firing ? 1 : 0) > slots_) {
      cursor_ = now_tick - slots_;
      if (firing) splice_front(firing_, sentinel(cursor_));
    }
    unsigned fired = 0;
    for (;;) {
      while (fired < budget && !empty(firing_)) {
        const uint32_t id = next_[firing_];
        unlink(id);
        size_--;
        fired++;
        fn(id);
      }
      if (fired == budget || cursor_ >= now_tick) return fired;
      splice_front(sentinel(cursor_), firing_);
      cursor_++;
    }
  }

  uint32_t size() const noexcept { return size_; }  // entries scheduled
  uint32_t capacity() const noexcept { return capacity_; }
  uint64_t span_ms() const noexcept { return uint64_t{slots_} * tick_ms_; }

 private:
  uint32_t sentinel(uint64_t tick) const noexcept {
    return capacity_ + static_cast<uint32_t>(tick & mask_);
  }
  bool empty(uint32_t list) const noexcept { return next_[list] == list; }

  void link_tail(uint32_t list, uint32_t id) noexcept {
    const uint32_t last = prev_[list];
    prev_[id] = last;
    next_[id] = list;
    next_[last] = id;
    prev_[list] = id;
  }

  void unlink(uint32_t id) noexcept {
    next_[prev_[id]] = next_[id];
    prev_[next_[id]] = prev_[id];
    prev_[id] = next_[id] = kNone;
  }

  // Moves all of list `from` to the front of list `to`, keeping its order.
  void splice_front(uint32_t from, uint32_t to) noexcept {
    if (empty(from)) return;
    const uint32_t first = next_[from];
    const uint32_t last = prev_[from];
    const uint32_t old_first = next_[to];
    next_[to] = first;
    prev_[first] = to;
    next_[last] = old_first;
    prev_[old_first] = last;
    next_[from] = prev_[from] = from;
  }

  uint32_t capacity_;
  uint32_t slots_;
  uint32_t mask_;
  uint32_t tick_ms_;
  uint32_t firing_;      // sentinel of the firing list
  uint64_t cursor_ = 0;  // oldest tick not yet processed
  uint32_t size_ = 0;
  // Nodes 0..capacity-1: ids (kNone when not scheduled); then one sentinel
  // per slot; then the firing list's sentinel.
  std::unique_ptr<uint32_t[]> prev_;
  std::unique_ptr<uint32_t[]> next_;
};

}  // namespace sluice
