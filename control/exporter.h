// The exporter thread: takes the workers' NAT events off their rings
// (dataplane/nat_events.h), sends them as IPFIX to every collector
// (ipfix.h) and writes the local NAT log (nat_log.h). It is the only
// thread that formats events or does their I/O, so a slow disk or an absent
// collector delays neither a worker nor the control thread: the rings fill,
// and what does not fit is counted.
//
// Each round drains every ring (up to 1024 events each), orders the batch
// by time, and appends each event to the IPFIX message being built and to
// the log buffer. A full message is sent at once; a partial one, and the log
// buffer, every 100 ms. Idle, the thread sleeps 1 ms.
//
// Collectors: one connected UDP socket each, sent to from the host's own
// network stack (a management interface, not the dataplane ports). The
// messages a round completes are copied aside (up to send_batch) and go to
// each collector with one sendmmsg() at the end of the round, when the
// batch is full, or on a flush: one system call per collector for tens of
// messages instead of one per message. The
// templates go to every collector at start, every template_refresh_s, and
// again before the next message to a collector whose send failed (a
// restarted collector has forgotten them; ECONNREFUSED says it was away).
// Messages whose send fails are counted with their records: the loss is
// exactly what was sent while the collector was away, and the sequence
// numbers show the collector the same gap.
//
// SIGHUP: request_reopen() (async-signal-safe) makes the thread flush the
// log to the old file and reopen the path.
//
// stop(): after the producers are done (workers stopped, NatTable::end_all
// run), drains every ring to empty, sends and writes everything, joins.
#pragma once

#include <rte_ring.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config.h"
#include "counters.h"
#include "ipfix.h"
#include "nat_events.h"
#include "nat_log.h"

namespace sluice {

struct ExporterOptions {
  std::vector<ExportConfig::Collector> collectors;
  ipfix::EncoderOptions ipfix;
  unsigned template_refresh_s = 60;
  unsigned send_batch = 32;  // messages per sendmmsg() (1: one a call; the bench compares)
  NatLogOptions log;         // path empty: no local log
  int64_t wall_offset_ms;    // worker clock + this = milliseconds since 1970
};

struct alignas(64) ExporterCounters {
  Counter events;          // taken off the rings
  Counter messages;        // IPFIX data messages sent (to each collector)
  Counter records;         // data records in them
  Counter send_errors;     // messages a collector's socket refused
  Counter records_lost;    // data records in those
  Counter templates_sent;  // template messages
};

// Every export counter, summed at one moment (telemetry, exit summary).
struct ExportTotals {
  uint64_t queued = 0;               // by the workers
  uint64_t ring_full = 0;            // events lost: a worker's ring was full
  uint64_t refusals_suppressed = 0;  // refusal events over the workers' rate limit
  uint64_t events = 0;
  uint64_t messages = 0;
  uint64_t records = 0;
  uint64_t send_errors = 0;
  uint64_t records_lost = 0;
  uint64_t templates_sent = 0;
  uint64_t log_lines = 0;
  uint64_t log_lines_lost = 0;
  uint64_t log_write_errors = 0;
  uint64_t log_reopens = 0;
};

class Exporter {
 public:
  // rings[k]: worker k's event ring; producers[k] its producer (for its
  // counters). Opens the sockets and the log; throws std::runtime_error
  // naming the key and value at fault.
  Exporter(const ExporterOptions& options, std::vector<rte_ring*> rings,
           std::vector<const NatEvents*> producers);
  ~Exporter();
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  void start();
  void stop();

  // From a SIGHUP handler.
  static void request_reopen() noexcept;

  ExportTotals totals() const noexcept;

 private:
  struct Destination {
    int fd = -1;
    bool needs_templates = true;
    std::string name;
  };

  void run();
  unsigned drain();
  // The encoder's sink: the message joins the batch.
  void queue(const uint8_t* message, size_t length, uint32_t records);
  // The batch to every collector.
  void send_batch();
  bool send_templates(Destination& d);
  void report_log_error();

  ExporterOptions options_;
  std::vector<rte_ring*> rings_;
  std::vector<const NatEvents*> producers_;
  std::vector<Destination> destinations_;
  std::unique_ptr<ipfix::Encoder> encoder_;
  std::unique_ptr<NatLog> log_;
  std::vector<NatEvent> batch_;
  std::vector<uint8_t> messages_;  // send_batch slots of max_message bytes
  std::vector<iovec> iovecs_;      // one a queued message
  std::vector<mmsghdr> headers_;
  std::vector<uint32_t> message_records_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  uint32_t export_s_ = 0;
  ExporterCounters counters_;
};

// /sluice/export on DPDK telemetry (every counter of ExportTotals); a
// disabled export (null) answers zeros.
void register_export_telemetry(const Exporter* exporter);

}  // namespace sluice
