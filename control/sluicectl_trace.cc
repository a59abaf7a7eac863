// sluicectl trace: answers an abuse report ("who was behind PUBLIC_IP:PORT
// at TIME") from the NAT log (trace.h does the search).
#include <arpa/inet.h>
#include <netinet/in.h>

#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <ctime>
#include <exception>
#include <string>

#include "sluicectl.h"
#include "trace.h"

namespace sluice {

namespace {

constexpr const char* kDefaultLog = "/var/log/sluice/nat.log";

int usage(const std::string& why) {
  fmt::print(
      stderr,
      "sluicectl trace: {}\n"
      "Usage: sluicectl trace PUBLIC_IP PORT TIME [--window SECONDS] [--proto udp|tcp|icmp]\n"
      "                       [--log PATH] [--lookback SECONDS]\n"
      "  TIME: 2025-01-15T10:23:45 (local time), ...Z or ...+01:00, or @SECONDS since 1970\n"
      "  --window  seconds either side of TIME (default 5)\n"
      "  --log     the NAT log (default {}); its rotated files are read too\n"
      "  --lookback  how far before the window to look for who held it (default 86400)\n",
      why, kDefaultLog);
  return 2;
}

bool number(const char* text, unsigned max, unsigned* out) {
  const char* end = text + std::strlen(text);
  const auto [p, ec] = std::from_chars(text, end, *out);
  return ec == std::errc() && p == end && *out <= max;
}

std::string utc(int64_t ms) {
  const time_t s = ms / 1000;
  tm parts{};
  gmtime_r(&s, &parts);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &parts);
  return fmt::format("{}.{:03}Z", text, ms % 1000);
}

}  // namespace
}  // namespace sluice

int sluicectl_trace(int argc, char** argv) {
  using namespace sluice;
  TraceQuery q;
  std::string log = kDefaultLog;
  std::string positional[3];
  int n = 0;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    unsigned v = 0;
    if (a == "--window" && has_value) {
      if (!number(argv[++i], 86400, &v)) return usage("--window: seconds, at most 86400");
      q.window_ms = int64_t{v} * 1000;
    } else if (a == "--lookback" && has_value) {
      if (!number(argv[++i], 86400 * 31, &v)) return usage("--lookback: seconds, at most 31 days");
      q.lookback_ms = int64_t{v} * 1000;
    } else if (a == "--proto" && has_value) {
      const std::string p = argv[++i];
      q.proto = p == "udp"    ? IPPROTO_UDP
                : p == "tcp"  ? IPPROTO_TCP
                : p == "icmp" ? IPPROTO_ICMP
                              : 0;
      if (q.proto == 0) return usage("--proto: udp, tcp or icmp");
    } else if (a == "--log" && has_value) {
      log = argv[++i];
    } else if (a.rfind("--", 0) == 0 || n == 3) {
      return usage("unexpected argument '" + a + "'");
    } else {
      positional[n++] = a;
    }
  }
  if (n != 3) return usage("PUBLIC_IP, PORT and TIME are required");
  in_addr addr{};
  if (inet_pton(AF_INET, positional[0].c_str(), &addr) != 1) {
    return usage("'" + positional[0] + "' is not an IPv4 address");
  }
  q.public_ip = ntohl(addr.s_addr);
  unsigned port = 0;
  if (!number(positional[1].c_str(), 65535, &port))
    return usage("'" + positional[1] + "' is not a port");
  q.port = static_cast<uint16_t>(port);
  if (!parse_time(positional[2], &q.time_ms)) return usage("'" + positional[2] + "' is not a time");

  TraceResult r;
  try {
    r = trace(log, q);
  } catch (const std::exception& e) {
    fmt::print(stderr, "sluicectl trace: {}\n", e.what());
    return 2;
  }
  const char* proto = q.proto == IPPROTO_UDP    ? " udp"
                      : q.proto == IPPROTO_TCP  ? " tcp"
                      : q.proto == IPPROTO_ICMP ? " icmp"
                                                : "";
  fmt::print("{}:{}{} from {} to {}: {} client{}\n", positional[0], port, proto,
             utc(q.time_ms - q.window_ms), utc(q.time_ms + q.window_ms), r.holders.size(),
             r.holders.size() == 1 ? "" : "s");
  for (const TraceHolder& h : r.holders) {
    in_addr a{htonl(h.inside_ip)};
    char text[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &a, text, sizeof(text));
    fmt::print("client {}{}\n", text, h.held_at_start ? " (held it when the window opened)" : "");
    for (const std::string& line : h.lines)
      fmt::print("  {}\n", line);
  }
  if (r.undecided && r.holders.empty()) {
    fmt::print("note: nothing in the {} s before the window says whether a client held it then\n",
               q.lookback_ms / 1000);
  }
  fmt::print("read {} file{} ({} bytes): ", r.files.size(), r.files.size() == 1 ? "" : "s",
             r.bytes_read);
  for (size_t i = 0; i < r.files.size(); i++)
    fmt::print("{}{}", i == 0 ? "" : " ", r.files[i]);
  fmt::print("\n");
  return r.holders.empty() ? 1 : 0;
}
