// sluicectl: the operator's CLI. It talks to a running sluice over DPDK's
// telemetry socket (/var/run/dpdk/PREFIX/dpdk_telemetry.v2, PREFIX being
// eal.prefix) with sluice's /sluice/... commands, and never touches the
// dataplane itself: what it shows costs the workers relaxed loads of their
// counters, and listings are walked by the workers in small steps
// (dataplane/inspect.h).
//
// Subcommands, one file each (sluicectl_NAME.cc): stats, top, drops,
// sessions, clients, lacp, clear, trace. stats and top are built from the sections in
// sluicectl_sections.cc: a new group of counters is one more Section there.
//
// Exit status: 0 done; 1 the daemon refused the request (bad filter, no NAT
// in this pipeline); 2 usage error; 3 sluice is not running on this prefix;
// 4 its socket is there but cannot be reached (permissions, no answer, not
// sluice).
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

int sluicectl_stats(int argc, char** argv);
int sluicectl_top(int argc, char** argv);
int sluicectl_drops(int argc, char** argv);
int sluicectl_sessions(int argc, char** argv);
int sluicectl_clients(int argc, char** argv);
int sluicectl_clear(int argc, char** argv);
// sluicectl lacp [inside|outside] [--json]: the aggregates as
// /proc/net/bonding shows a bond (/sluice/lacp,SIDE).
int sluicectl_lacp(int argc, char** argv);
// sluicectl trace PUBLIC_IP PORT TIME [--window SECONDS] [--proto udp|tcp|icmp]
//                 [--log PATH] [--lookback SECONDS]
// Who held the public address and port around TIME, from the NAT log and
// its rotated files (control/trace.h). Exit 0: found; 1: nobody held it;
// 2: usage.
int sluicectl_trace(int argc, char** argv);

namespace sluice::ctl {

using Json = nlohmann::ordered_json;

enum Exit : int { kOk = 0, kRefused = 1, kUsage = 2, kNotRunning = 3, kUnreachable = 4 };

// Why a subcommand stops; main prints "sluicectl: what" and exits with code.
struct Failure : std::runtime_error {
  Failure(int code, const std::string& what) : std::runtime_error(what), code(code) {}
  int code;
};

// eal.prefix of the sluice to talk to (-p, or SLUICE_PREFIX, or "sluice").
extern std::string g_prefix;

// One connection to the daemon's telemetry socket.
class Telemetry {
 public:
  Telemetry();  // connects to g_prefix's socket; throws Failure (3 or 4)
  ~Telemetry();
  Telemetry(const Telemetry&) = delete;
  Telemetry& operator=(const Telemetry&) = delete;

  // The answer to one command; throws Failure(kRefused) when the daemon
  // answers null (unknown command or bad parameters).
  Json query(const std::string& command);

 private:
  int fd_ = -1;
  size_t max_len_ = 16384;
};

// What the daemon answered to several commands at one moment.
struct Snapshot {
  Json info;                            // /sluice/info
  std::map<std::string, Json> answers;  // by command
  std::map<std::string, Json> since;    // by command: /sluice/since_clear of it
  double ms = 0;                        // daemon uptime when read

  // The answer to cmd (since clear when `cleared`), or an empty object.
  const Json& at(const std::string& cmd, bool cleared = false) const;
  uint64_t workers() const { return info.value("workers", uint64_t{0}); }
  uint64_t ports() const { return info.value("ports", uint64_t{0}); }
  bool nat() const { return info.value("pipeline", "") == "cgnat"; }
  bool is_gauge(const std::string& key) const;
};

// The commands whose counters have a since-clear view.
bool clearable(const std::string& command);

// Reads info and then every command; with since_clear the clearable ones'
// since-clear view too.
Snapshot read_snapshot(Telemetry& tel, const std::vector<std::string>& commands, bool since_clear);

// Prometheus text exposition: samples grouped in families, each with its
// HELP and TYPE, in the order first added.
class Prometheus {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;
  void add(const std::string& name, bool counter, const std::string& help, const Labels& labels,
           uint64_t value);
  std::string text() const;

 private:
  struct Family {
    std::string name, help;
    bool counter = false;
    std::vector<std::string> samples;
  };
  std::vector<Family> families_;
};

// A group of counters as stats and top show it. Any function may be null.
struct Section {
  const char* name;
  // The telemetry commands it reads (given /sluice/info).
  std::vector<std::string> (*commands)(const Snapshot& info);
  // stats: tables; `cleared` adds a "since clear" column.
  void (*table)(const Snapshot& s, bool cleared, std::string& out);
  void (*prometheus)(const Snapshot& s, Prometheus& out);
  // top: lines for the live view, from two readings `seconds` apart; the
  // first line is the one kept when the screen is short.
  void (*top)(const Snapshot& now, const Snapshot& before, double seconds,
              std::vector<std::string>& out);
};

const std::vector<Section>& sections();

// Formatting: 1234567 -> "1,234,567"; rates -> "1.23M"; key -> "key name".
std::string thousands(uint64_t v);
std::string si(double v);
std::string label_of(const std::string& key);

// Options of a subcommand: "--name value", "--name=value" and flags.
class Args {
 public:
  Args(int argc, char** argv, const std::vector<std::string>& flags,
       const std::vector<std::string>& valued);
  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::string get(const std::string& name, const std::string& def = "") const;
  uint64_t number(const std::string& name, uint64_t def, uint64_t min, uint64_t max) const;

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace sluice::ctl
