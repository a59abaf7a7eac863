// sluicectl top: the live view. Every -d seconds (1) it reads every section
// and shows rates between the last two readings: ports and queues, workers'
// busy and handoff shares, NAT sessions by protocol and state, pool use,
// drops. -n COUNT stops after COUNT screens.
//
// On a terminal it redraws in place and fits the window: when the window is
// too short, sections lose their detail lines from the last one up (each
// keeps its first line), then whole sections go, and the last line says how
// much is hidden; lines are cut at the window's width. Not on a terminal
// (a pipe, a log), it prints each screen in full, plain, 80 columns wide
// (or $COLUMNS), separated by a blank line.
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <ctime>

#include "sluicectl.h"

using namespace sluice::ctl;

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

struct Screen {
  bool tty = false;
  unsigned cols = 80;
  unsigned rows = 0;  // 0: no limit
};

Screen screen() {
  Screen s;
  s.tty = isatty(STDOUT_FILENO) != 0;
  winsize ws{};
  if (s.tty && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    s.cols = ws.ws_col;
    s.rows = ws.ws_row;
  } else if (const char* c = std::getenv("COLUMNS"); c != nullptr && std::atoi(c) > 0) {
    s.cols = static_cast<unsigned>(std::atoi(c));
  }
  return s;
}

std::string uptime(uint64_t ms) {
  const uint64_t s = ms / 1000;
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, s % 3600 / 60);
  return fmt::format("{}d{:02}h", s / 86400, s % 86400 / 3600);
}

// The frame's lines, fitted to `rows` (0: all of them).
std::vector<std::string> fit(std::vector<std::vector<std::string>> parts, unsigned rows) {
  size_t total = 0;
  for (const auto& p : parts)
    total += p.size();
  size_t hidden = 0;
  if (rows != 0 && total > rows) {
    const size_t room = rows - 1;  // one line says what is hidden
    for (size_t i = parts.size(); i-- > 1 && total > room;) {
      while (parts[i].size() > 1 && total > room) {
        parts[i].pop_back();
        total--;
        hidden++;
      }
    }
    for (size_t i = parts.size(); i-- > 1 && total > room;) {
      total -= parts[i].size();
      hidden += parts[i].size();
      parts[i].clear();
    }
  }
  std::vector<std::string> lines;
  for (const auto& p : parts)
    lines.insert(lines.end(), p.begin(), p.end());
  if (rows != 0 && lines.size() > rows) lines.resize(rows);
  if (hidden != 0) lines.push_back(fmt::format("({} lines hidden: enlarge the window)", hidden));
  return lines;
}

void draw(const Snapshot& now, const Snapshot& before, double seconds, const Screen& scr) {
  std::vector<std::vector<std::string>> parts;
  const std::string left = fmt::format("sluice {}  {}  {} workers  up {}  every {:.1f} s", g_prefix,
                                       now.info.value("pipeline", "?"), now.workers(),
                                       uptime(now.info.value("uptime_ms", uint64_t{0})), seconds);
  const std::time_t t = std::time(nullptr);
  const std::string clock = fmt::format("{:%H:%M:%S}", fmt::localtime(t));
  const size_t pad =
      scr.cols > left.size() + clock.size() ? scr.cols - left.size() - clock.size() : 1;
  parts.push_back({left + std::string(pad, ' ') + clock});
  for (const Section& s : sections()) {
    if (s.top == nullptr || s.commands(now).empty()) continue;
    std::vector<std::string> lines;
    s.top(now, before, seconds, lines);
    parts.push_back(std::move(lines));
  }
  // On a terminal no newline after the last line: it would scroll a full
  // window by one.
  std::string out = scr.tty ? "\x1b[H" : "";
  const std::vector<std::string> lines = fit(std::move(parts), scr.rows);
  for (size_t i = 0; i < lines.size(); i++) {
    out += lines[i].substr(0, scr.cols);
    if (scr.tty) out += "\x1b[K";
    if (!scr.tty || i + 1 < lines.size()) out += "\n";
  }
  out += scr.tty ? "\x1b[J" : "\n";
  fmt::print("{}", out);
  std::fflush(stdout);
}

// Sleeps `seconds` unless a signal comes first.
void pause_for(double seconds) {
  timespec ts{static_cast<time_t>(seconds),
              static_cast<long>((seconds - static_cast<time_t>(seconds)) * 1e9)};
  while (!g_stop && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// After a failed reading: true once sluice is gone (its socket refuses or
// is removed), within 3 s of shutting down.
bool stopped() {
  for (int i = 0; i < 30; i++) {
    try {
      Telemetry probe;
    } catch (const Failure& f) {
      if (f.code == kNotRunning) return true;
    }
    pause_for(0.1);
  }
  return false;
}

}  // namespace

int sluicectl_top(int argc, char** argv) {
  const Args args(argc, argv, {}, {"-d", "-n"});
  const uint64_t tenths =
      args.has("-d") ? static_cast<uint64_t>(std::atof(args.get("-d").c_str()) * 10) : 10;
  if (tenths < 1 || tenths > 36000) throw Failure(kUsage, "top: -d takes 0.1 to 3600 seconds");
  const uint64_t count = args.number("-n", 0, 1, UINT32_MAX);
  Telemetry tel;
  std::vector<std::string> commands;
  const Snapshot info = read_snapshot(tel, {}, false);
  for (const Section& s : sections()) {
    for (const std::string& c : s.commands(info))
      commands.push_back(c);
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: a signal ends the pause
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  const Screen first = screen();
  if (first.tty) fmt::print("\x1b[?25l\x1b[H\x1b[2J");  // cursor hidden, screen cleared
  try {
    Snapshot before = read_snapshot(tel, commands, false);
    for (uint64_t n = 0; !g_stop && (count == 0 || n < count); n++) {
      pause_for(tenths / 10.0);
      if (g_stop) break;
      Snapshot now = read_snapshot(tel, commands, false);
      const double seconds = (now.ms - before.ms) / 1000.0;
      draw(now, before, seconds > 0 ? seconds : tenths / 10.0, screen());
      before = std::move(now);
    }
  } catch (const Failure& f) {
    if (first.tty) fmt::print("\x1b[?25h\n");
    if (stopped()) throw Failure(kNotRunning, "sluice stopped");
    throw;
  }
  if (first.tty) fmt::print("\x1b[?25h");
  return kOk;
}
