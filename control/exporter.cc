#include "exporter.h"

#include <rte_ring_elem.h>
#include <rte_telemetry.h>

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "config.h"

namespace sluice {

namespace {

constexpr unsigned kBurst = 1024;  // events per ring per round
constexpr auto kFlushEvery = std::chrono::milliseconds(100);
constexpr auto kIdleSleep = std::chrono::milliseconds(1);
constexpr int kSendBuffer = 4 << 20;

std::atomic<bool> g_reopen{false};
static_assert(std::atomic<bool>::is_always_lock_free);

const Exporter* g_exporter = nullptr;

uint32_t wall_seconds() {
  return static_cast<uint32_t>(std::time(nullptr));
}

int export_cmd(const char*, const char*, rte_tel_data* d) {
  const ExportTotals t = g_exporter != nullptr ? g_exporter->totals() : ExportTotals{};
  rte_tel_data_start_dict(d);
  const std::pair<const char*, uint64_t> values[] = {
      {"events_queued", t.queued},
      {"events_ring_full", t.ring_full},
      {"refusals_suppressed", t.refusals_suppressed},
      {"events_exported", t.events},
      {"ipfix_messages", t.messages},
      {"ipfix_records", t.records},
      {"ipfix_send_errors", t.send_errors},
      {"ipfix_records_lost", t.records_lost},
      {"ipfix_templates_sent", t.templates_sent},
      {"log_lines", t.log_lines},
      {"log_lines_lost", t.log_lines_lost},
      {"log_write_errors", t.log_write_errors},
      {"log_reopens", t.log_reopens},
  };
  for (const auto& [key, value] : values) {
    const int rc = rte_tel_data_add_dict_u64(d, key, value);
    if (rc != 0) return rc;
  }
  return 0;
}

}  // namespace

Exporter::Exporter(const ExporterOptions& options, std::vector<rte_ring*> rings,
                   std::vector<const NatEvents*> producers)
    : options_(options), rings_(std::move(rings)), producers_(std::move(producers)) {
  for (const ExportConfig::Collector& c : options_.collectors) {
    Destination d;
    d.name = fmt::format("{}:{}", format_ip(c.ip), c.port);
    d.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = htonl(c.ip);
    to.sin_port = htons(c.port);
    if (d.fd < 0 || connect(d.fd, reinterpret_cast<sockaddr*>(&to), sizeof(to)) != 0) {
      const std::string why = std::strerror(errno);
      if (d.fd >= 0) close(d.fd);
      for (Destination& other : destinations_)
        close(other.fd);
      throw std::runtime_error(fmt::format("export.collector = '{}': {}", d.name, why));
    }
    setsockopt(d.fd, SOL_SOCKET, SO_SNDBUF, &kSendBuffer, sizeof(kSendBuffer));
    destinations_.push_back(d);
  }
  options_.send_batch = std::max(1u, options_.send_batch);
  messages_.resize(options_.send_batch * options_.ipfix.max_message);
  iovecs_.reserve(options_.send_batch);
  headers_.reserve(options_.send_batch);
  message_records_.reserve(options_.send_batch);
  encoder_ = std::make_unique<ipfix::Encoder>(
      options_.ipfix,
      [this](const uint8_t* m, size_t length, uint32_t records) { queue(m, length, records); });
  if (!options_.log.path.empty()) log_ = std::make_unique<NatLog>(options_.log);
  batch_.reserve(kBurst * rings_.size());
}

Exporter::~Exporter() {
  stop();
  for (Destination& d : destinations_)
    close(d.fd);
}

void Exporter::request_reopen() noexcept {
  g_reopen.store(true, std::memory_order_relaxed);
}

void Exporter::start() {
  if (thread_.joinable()) return;
  export_s_ = wall_seconds();
  for (Destination& d : destinations_)
    send_templates(d);
  thread_ = std::thread([this] { run(); });
}

void Exporter::stop() {
  if (!thread_.joinable()) return;
  stopping_.store(true, std::memory_order_release);
  thread_.join();
}

bool Exporter::send_templates(Destination& d) {
  const std::vector<uint8_t> m = encoder_->templates_message(export_s_);
  if (::send(d.fd, m.data(), m.size(), 0) < 0) return false;
  d.needs_templates = false;
  counters_.templates_sent.add();
  return true;
}

void Exporter::queue(const uint8_t* message, size_t length, uint32_t records) {
  uint8_t* slot = &messages_[iovecs_.size() * options_.ipfix.max_message];
  std::memcpy(slot, message, length);
  iovecs_.push_back(iovec{slot, length});
  message_records_.push_back(records);
  if (iovecs_.size() == options_.send_batch) send_batch();
}

void Exporter::send_batch() {
  const size_t n = iovecs_.size();
  headers_.assign(n, mmsghdr{});
  for (size_t i = 0; i < n; i++) {
    headers_[i].msg_hdr.msg_iov = &iovecs_[i];
    headers_[i].msg_hdr.msg_iovlen = 1;
  }
  for (Destination& d : destinations_) {
    size_t i = 0;
    while (i < n) {
      if (d.needs_templates) send_templates(d);
      const int sent = sendmmsg(d.fd, &headers_[i], static_cast<unsigned>(n - i), 0);
      if (sent < 0 && errno == EINTR) continue;
      if (sent <= 0) {
        // Message i failed, most often ECONNREFUSED: an earlier message met
        // a closed port. The rest are tried, after the templates.
        counters_.send_errors.add();
        counters_.records_lost.add(message_records_[i]);
        d.needs_templates = true;
        i++;
        continue;
      }
      for (size_t k = i; k < i + static_cast<size_t>(sent); k++)
        counters_.records.add(message_records_[k]);
      counters_.messages.add(static_cast<uint64_t>(sent));
      i += static_cast<size_t>(sent);
    }
  }
  iovecs_.clear();
  message_records_.clear();
}

unsigned Exporter::drain() {
  batch_.clear();
  for (rte_ring* r : rings_) {
    const size_t at = batch_.size();
    batch_.resize(at + kBurst);
    const unsigned n =
        rte_ring_sc_dequeue_burst_elem(r, &batch_[at], sizeof(NatEvent), kBurst, nullptr);
    batch_.resize(at + n);
  }
  // Each ring is in time order; the log is in time order across workers.
  const auto earlier = [](const NatEvent& a, const NatEvent& b) { return a.time_ms < b.time_ms; };
  if (!std::is_sorted(batch_.begin(), batch_.end(), earlier)) {
    std::stable_sort(batch_.begin(), batch_.end(), earlier);
  }
  const int64_t offset = options_.wall_offset_ms;
  for (const NatEvent& e : batch_) {
    encoder_->add(e, offset, export_s_);
    if (log_) log_->add(e, offset);
  }
  send_batch();
  counters_.events.add(batch_.size());
  return static_cast<unsigned>(batch_.size());
}

void Exporter::report_log_error() {
  if (!log_) return;
  const std::string e = log_->take_error();
  if (!e.empty()) {
    fmt::print(stderr, "sluice: {} ({} lines lost so far)\n", e,
               log_->counters().lines_lost.read());
  }
}

void Exporter::run() {
  using Clock = std::chrono::steady_clock;
  const auto refresh = std::chrono::seconds(options_.template_refresh_s);
  auto last_templates = Clock::now();
  auto last_flush = last_templates;
  auto last_report = last_templates - std::chrono::hours(1);
  for (;;) {
    const bool last_round = stopping_.load(std::memory_order_acquire);
    const unsigned n = drain();
    if (last_round) {
      while (drain() != 0) {
      }
    }
    const auto now = Clock::now();
    export_s_ = wall_seconds();
    if (log_ && g_reopen.exchange(false, std::memory_order_relaxed)) log_->reopen();
    if (now - last_templates >= refresh) {
      for (Destination& d : destinations_)
        send_templates(d);
      last_templates = now;
    }
    if (last_round || now - last_flush >= kFlushEvery) {
      encoder_->flush(export_s_);
      send_batch();
      if (log_) log_->flush();
      last_flush = now;
      // At most one report of a log error every 10 s, to stderr.
      if (last_round || now - last_report >= std::chrono::seconds(10)) {
        report_log_error();
        last_report = now;
      }
    }
    if (last_round) return;
    if (n == 0) std::this_thread::sleep_for(kIdleSleep);
  }
}

ExportTotals Exporter::totals() const noexcept {
  ExportTotals t;
  for (const NatEvents* p : producers_) {
    t.queued += p->counters().queued.read();
    t.ring_full += p->counters().ring_full.read();
    t.refusals_suppressed += p->counters().refusals_suppressed.read();
  }
  t.events = counters_.events.read();
  t.messages = counters_.messages.read();
  t.records = counters_.records.read();
  t.send_errors = counters_.send_errors.read();
  t.records_lost = counters_.records_lost.read();
  t.templates_sent = counters_.templates_sent.read();
  if (log_) {
    const NatLogCounters& l = log_->counters();
    t.log_lines = l.lines.read();
    t.log_lines_lost = l.lines_lost.read();
    t.log_write_errors = l.write_errors.read();
    t.log_reopens = l.reopens.read();
  }
  return t;
}

void register_export_telemetry(const Exporter* exporter) {
  g_exporter = exporter;
  rte_telemetry_register_cmd("/sluice/export", export_cmd,
                             "NAT events queued and lost, IPFIX and NAT log counters. Takes no "
                             "parameters");
}

}  // namespace sluice
