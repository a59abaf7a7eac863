// What the subcommands share: the telemetry client, snapshots, the
// Prometheus writer, number formatting and option parsing.
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "sluicectl.h"

namespace sluice::ctl {

std::string g_prefix = "sluice";

namespace {

// Where DPDK puts the runtime directory (the same rule as its EAL). A user
// other than root also looks where a sluice started by root has it, which
// members of its control.telemetry-group may use.
std::string socket_path() {
  const auto path = [](const std::string& dir) {
    return dir + "/dpdk/" + g_prefix + "/dpdk_telemetry.v2";
  };
  if (const char* rd = std::getenv("RUNTIME_DIRECTORY"); rd != nullptr) return path(rd);
  if (getuid() == 0) return path("/var/run");
  const char* xdg = std::getenv("XDG_RUNTIME_DIR");
  const std::string own = path(xdg != nullptr ? xdg : "/tmp");
  return access(own.c_str(), F_OK) == 0 ? own : path("/var/run");
}

Json receive(int fd, size_t max_len, const std::string& path) {
  std::string buf(max_len + 1, '\0');
  const ssize_t n = recv(fd, buf.data(), buf.size(), 0);
  if (n <= 0) {
    throw Failure(kUnreachable, fmt::format("{}: no answer ({})", path,
                                            n == 0 ? "connection closed" : std::strerror(errno)));
  }
  buf.resize(static_cast<size_t>(n));
  try {
    return Json::parse(buf);
  } catch (const Json::exception& e) {
    throw Failure(kUnreachable, fmt::format("{}: answer is not JSON: {}", path, e.what()));
  }
}

}  // namespace

Telemetry::Telemetry() {
  const std::string path = socket_path();
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    throw Failure(kUsage, fmt::format("prefix '{}' is too long", g_prefix));
  path.copy(addr.sun_path, path.size());
  fd_ = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  if (fd_ < 0) throw Failure(kUnreachable, fmt::format("socket: {}", std::strerror(errno)));
  // Listings can take the daemon a few seconds; anything longer is a hang.
  const timeval timeout{30, 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const int e = errno;
    close(fd_);
    fd_ = -1;
    if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR) {
      throw Failure(kNotRunning,
                    fmt::format("sluice is not running with eal.prefix '{}' ({}: {}); start "
                                "it, or name its prefix with -p PREFIX",
                                g_prefix, path, std::strerror(e)));
    }
    throw Failure(
        kUnreachable,
        fmt::format("cannot reach {}: {}{}", path, std::strerror(e),
                    e == EACCES
                        ? " (run as root, or as a member of sluice's control.telemetry-group)"
                        : ""));
  }
  const Json hello = receive(fd_, 1024, path);
  max_len_ = hello.value("max_output_len", size_t{16384});
  // Another DPDK program on this prefix is not a sluice.
  const Json commands = query("/");
  if (std::find(commands.begin(), commands.end(), "/sluice/info") == commands.end()) {
    throw Failure(kUnreachable,
                  fmt::format("{} answers, but not as sluice (no /sluice/info)", path));
  }
}

Telemetry::~Telemetry() {
  if (fd_ >= 0) close(fd_);
}

Json Telemetry::query(const std::string& command) {
  const std::string path = socket_path();
  if (send(fd_, command.data(), command.size(), MSG_NOSIGNAL) < 0)
    throw Failure(kUnreachable, fmt::format("{}: {}", path, std::strerror(errno)));
  Json reply = receive(fd_, max_len_, path);
  const std::string key = command.substr(0, command.find(','));
  if (!reply.is_object() || !reply.contains(key) || reply[key].is_null()) {
    throw Failure(kRefused, fmt::format("sluice refused '{}' (unknown command or bad "
                                        "parameters)",
                                        command));
  }
  return reply[key];
}

const Json& Snapshot::at(const std::string& cmd, bool cleared) const {
  static const Json empty = Json::object();
  const auto& m = cleared ? since : answers;
  const auto it = m.find(cmd);
  return it == m.end() ? empty : it->second;
}

bool Snapshot::is_gauge(const std::string& key) const {
  const Json& g = info.contains("gauges") ? info["gauges"] : Json::array();
  return std::find(g.begin(), g.end(), key) != g.end();
}

bool clearable(const std::string& command) {
  const std::string c = command.substr(0, command.find(','));
  return c == "/sluice/stats" || c == "/sluice/drops" || c == "/sluice/nat" ||
         c == "/sluice/worker" || c == "/sluice/port";
}

Snapshot read_snapshot(Telemetry& tel, const std::vector<std::string>& commands, bool since_clear) {
  Snapshot s;
  s.info = tel.query("/sluice/info");
  s.ms = s.info.value("uptime_ms", 0.0);
  for (const std::string& c : commands) {
    if (s.answers.count(c) != 0) continue;
    s.answers[c] = tel.query(c);
    if (since_clear && clearable(c)) s.since[c] = tel.query("/sluice/since_clear," + c);
  }
  return s;
}

namespace {

std::string escape_label(const std::string& v) {
  std::string out;
  for (const char ch : v) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out;
}

}  // namespace

void Prometheus::add(const std::string& name, bool counter, const std::string& help,
                     const Labels& labels, uint64_t value) {
  const std::string full = "sluice_" + name + (counter ? "_total" : "");
  auto it = std::find_if(families_.begin(), families_.end(),
                         [&](const Family& f) { return f.name == full; });
  if (it == families_.end()) {
    families_.push_back(Family{full, help, counter, {}});
    it = families_.end() - 1;
  }
  std::string sample = full;
  if (!labels.empty()) {
    sample += '{';
    for (size_t i = 0; i < labels.size(); i++) {
      sample += fmt::format("{}{}=\"{}\"", i == 0 ? "" : ",", labels[i].first,
                            escape_label(labels[i].second));
    }
    sample += '}';
  }
  it->samples.push_back(fmt::format("{} {}", sample, value));
}

std::string Prometheus::text() const {
  std::string out;
  for (const Family& f : families_) {
    std::string help = f.help;
    std::replace(help.begin(), help.end(), '\n', ' ');
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, help, f.name,
                       f.counter ? "counter" : "gauge");
    for (const std::string& s : f.samples)
      out += s + "\n";
  }
  return out;
}

std::string thousands(uint64_t v) {
  std::string digits = std::to_string(v);
  std::string out;
  for (size_t i = 0; i < digits.size(); i++) {
    if (i != 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string si(double v) {
  if (!std::isfinite(v) || v < 0) return "-";
  const char* units[] = {"", "k", "M", "G", "T"};
  unsigned u = 0;
  while (v >= 999.5 && u < 4) {
    v /= 1000;
    u++;
  }
  if (u == 0) return fmt::format("{:.0f}", v);
  const int decimals = v < 9.995 ? 2 : v < 99.95 ? 1 : 0;
  return fmt::format("{:.{}f}{}", v, decimals, units[u]);
}

std::string label_of(const std::string& key) {
  std::string s = key;
  std::replace(s.begin(), s.end(), '_', ' ');
  return s;
}

Args::Args(int argc, char** argv, const std::vector<std::string>& flags,
           const std::vector<std::string>& valued) {
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    std::string value;
    const size_t eq = a.find('=');
    const bool inline_value = a.starts_with("--") && eq != std::string::npos;
    if (inline_value) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    }
    if (std::find(flags.begin(), flags.end(), a) != flags.end() && !inline_value) {
      values_[a] = "";
    } else if (std::find(valued.begin(), valued.end(), a) != valued.end()) {
      if (!inline_value) {
        if (i + 1 == argc) throw Failure(kUsage, fmt::format("{} {}: needs a value", argv[0], a));
        value = argv[++i];
      }
      values_[a] = value;
    } else {
      throw Failure(kUsage,
                    fmt::format("{}: unknown option '{}' (sluicectl --help)", argv[0], argv[i]));
    }
  }
}

std::string Args::get(const std::string& name, const std::string& def) const {
  const auto it = values_.find(name);
  return it == values_.end() ? def : it->second;
}

uint64_t Args::number(const std::string& name, uint64_t def, uint64_t min, uint64_t max) const {
  if (!has(name)) return def;
  const std::string v = get(name);
  uint64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size() || n < min || n > max) {
    throw Failure(kUsage,
                  fmt::format("{} = '{}': a number from {} to {} is needed", name, v, min, max));
  }
  return n;
}

}  // namespace sluice::ctl
