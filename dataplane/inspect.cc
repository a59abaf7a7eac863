#include "inspect.h"

#include <thread>

#include "pipeline.h"

namespace sluice {

void Mailbox::serve_pending(Pipeline& pipeline, uint64_t now) noexcept {
  uint32_t expected = kRequested;
  // The reader may withdraw the request at the same moment: then it is its.
  if (!state_.compare_exchange_strong(expected, kServing, std::memory_order_acquire,
                                      std::memory_order_relaxed)) {
    return;
  }
  reply_.supported = false;
  reply_.done = true;
  reply_.cursor = request_.cursor;
  reply_.scanned = 0;
  reply_.rows = 0;
  pipeline.inspect(request_, reply_, now);
  state_.store(kDone, std::memory_order_release);
}

bool Mailbox::ask(const InspectRequest& request, InspectReply* reply,
                  std::chrono::milliseconds timeout) noexcept {
  // Only the reader leaves idle and done; a previous reader that gave up
  // left idle (or done, when the worker answered after all).
  request_ = request;
  state_.store(kRequested, std::memory_order_release);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (auto wait = std::chrono::microseconds(20);; wait = std::min(wait * 2, kInspectPace)) {
    const uint32_t s = state_.load(std::memory_order_acquire);
    if (s == kDone) break;
    if (s == kRequested && std::chrono::steady_clock::now() > deadline) {
      uint32_t expected = kRequested;
      if (state_.compare_exchange_strong(expected, kIdle, std::memory_order_relaxed)) return false;
      continue;  // claimed just now: the worker finishes the step it began
    }
    std::this_thread::sleep_for(wait);
  }
  *reply = reply_;
  state_.store(kIdle, std::memory_order_relaxed);
  return true;
}

}  // namespace sluice
