#include "privileges.h"

#include <cap-ng.h>
#include <dirent.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fmt/format.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace sluice {

namespace {

// What the other threads do when signalled: 1, before the uid changes
// (they still hold CAP_SETPCAP and, for glibc's setxid, CAP_SETUID and
// CAP_SETGID); 2, after it, or at once without one.
enum Step : int { kBoundingAndAmbient = 1, kCapabilities = 2, kBoth = 3 };

std::atomic<int> g_step{0};
std::atomic<int> g_done{0};
std::atomic<int> g_failed{0};

// Async-signal-safe: system calls only.
int drop_bounding_and_ambient() noexcept {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
  for (int c = 0; c < 64; c++) {
    const int in_set = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
    if (in_set < 0) break;  // past the kernel's last capability
    // Only what is there: a service manager may have left a bounding set
    // without CAP_SETPCAP, which then need not drop anything.
    if (in_set == 1 && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) return -1;
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) return -1;
  return 0;
}

int clear_capabilities() noexcept {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  return static_cast<int>(syscall(SYS_capset, &header, data));
}

void on_signal(int) {
  const int saved = errno;
  const int step = g_step.load(std::memory_order_acquire);
  int rc = 0;
  if (step & kBoundingAndAmbient) rc = drop_bounding_and_ambient();
  if (rc == 0 && (step & kCapabilities)) rc = clear_capabilities();
  if (rc != 0) g_failed.fetch_add(1, std::memory_order_relaxed);
  g_done.fetch_add(1, std::memory_order_release);
  errno = saved;
}

std::vector<pid_t> threads() {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) throw std::runtime_error(fmt::format("/proc/self/task: {}", strerror(errno)));
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
  }
  closedir(d);
  return out;
}

// Has every other thread of the process take the step, in a handler of a
// signal of its own; threads started meanwhile by one not yet signalled are
// found on the next pass.
void on_every_other_thread(int step) {
  const int sig = SIGRTMIN + 3;
  struct sigaction sa {};
  struct sigaction old {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(sig, &sa, &old) != 0) {
    throw std::runtime_error(fmt::format("sigaction: {}", strerror(errno)));
  }
  g_step.store(step, std::memory_order_release);
  const pid_t self = static_cast<pid_t>(syscall(SYS_gettid));
  std::set<pid_t> done;
  std::string error;
  for (int pass = 0; pass < 16 && error.empty(); pass++) {
    g_done.store(0);
    g_failed.store(0);
    int sent = 0;
    for (const pid_t tid : threads()) {
      if (tid == self || !done.insert(tid).second) continue;
      if (syscall(SYS_tgkill, getpid(), tid, sig) == 0) sent++;
    }
    if (sent == 0) break;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (g_done.load(std::memory_order_acquire) < sent &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (g_done.load() < sent) {
      error = fmt::format("{} of {} threads did not answer", sent - g_done.load(), sent);
    } else if (g_failed.load() != 0) {
      error = fmt::format("{} of {} threads could not drop them", g_failed.load(), sent);
    }
  }
  sigaction(sig, &old, nullptr);
  if (!error.empty()) {
    throw std::runtime_error(
        "dropping privileges: " + error +
        " (emptying the bounding set needs CAP_SETPCAP, becoming control.user CAP_SETUID and "
        "CAP_SETGID: keep them in a service's CapabilityBoundingSet)");
  }
}

// One field of /proc/self/task/TID/status, as written there.
struct ThreadStatus {
  std::string uid, gid, groups, cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb, no_new_privs;
};

ThreadStatus status_of(pid_t tid) {
  ThreadStatus s;
  std::ifstream in(fmt::format("/proc/self/task/{}/status", tid));
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    if (key == "Uid") s.uid = value;
    if (key == "Gid") s.gid = value;
    if (key == "Groups") s.groups = value;
    if (key == "CapInh") s.cap_inh = value;
    if (key == "CapPrm") s.cap_prm = value;
    if (key == "CapEff") s.cap_eff = value;
    if (key == "CapBnd") s.cap_bnd = value;
    if (key == "CapAmb") s.cap_amb = value;
    if (key == "NoNewPrivs") s.no_new_privs = value;
  }
  return s;
}

// Every thread as meant, or what is wrong with the first that is not.
std::string check_threads(uid_t uid, gid_t gid, bool switched, size_t* count) {
  const std::string none = "0000000000000000";
  const std::string uids = fmt::format("{0}\t{0}\t{0}\t{0}", uid);
  const std::string gids = fmt::format("{0}\t{0}\t{0}\t{0}", gid);
  *count = 0;
  for (const pid_t tid : threads()) {
    const ThreadStatus s = status_of(tid);
    if (s.uid.empty()) continue;  // ended meanwhile
    ++*count;
    const auto bad = [tid](const char* what, const std::string& v) {
      return fmt::format("thread {} has {} {}", tid, what, v);
    };
    if (s.cap_eff != none) return bad("effective capabilities", s.cap_eff);
    if (s.cap_prm != none) return bad("permitted capabilities", s.cap_prm);
    if (s.cap_inh != none) return bad("inheritable capabilities", s.cap_inh);
    if (s.cap_amb != none) return bad("ambient capabilities", s.cap_amb);
    if (s.cap_bnd != none) return bad("a bounding set", s.cap_bnd);
    if (s.no_new_privs != "1") return bad("no_new_privs", s.no_new_privs);
    if (s.uid != uids) return bad("uids", s.uid);
    if (switched && s.gid != gids) return bad("gids", s.gid);
    if (switched && !s.groups.empty()) return bad("supplementary groups", s.groups);
  }
  return {};
}

}  // namespace

std::string drop_privileges(const PrivilegeOptions& o) {
  const bool switching = o.uid.has_value();
  // Before the uid changes: every other thread gives up its bounding set,
  // its ambient set and any new privileges (and its capabilities when no
  // uid change follows; with one, the kernel clears them as the uid leaves
  // 0, and glibc needs CAP_SETUID and CAP_SETGID in every thread until then).
  on_every_other_thread(switching ? kBoundingAndAmbient : kBoth);

  // This thread, by libcap-ng: nothing kept, the ids changed.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    throw std::runtime_error(fmt::format("prctl(PR_SET_NO_NEW_PRIVS): {}", strerror(errno)));
  }
  capng_clear(CAPNG_SELECT_ALL);
  if (switching) {
    const int rc =
        capng_change_id(static_cast<int>(*o.uid), static_cast<int>(o.gid),
                        static_cast<capng_flags_t>(CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING |
                                                   CAPNG_CLEAR_AMBIENT));
    if (rc != 0) {
      throw std::runtime_error(
          fmt::format("cannot become user {} (uid {}) and group {} (gid {}): "
                      "libcap-ng capng_change_id returned {} ({})",
                      o.user, *o.uid, o.group, o.gid, rc, strerror(errno)));
    }
    // After: the capabilities the other threads may still hold (none, as
    // their uid left 0 without keepcaps; said explicitly).
    on_every_other_thread(kCapabilities);
  } else if (capng_apply(CAPNG_SELECT_ALL) != 0) {
    throw std::runtime_error(
        fmt::format("libcap-ng capng_apply: cannot drop capabilities ({})", strerror(errno)));
  }
  const uid_t uid = switching ? *o.uid : getuid();
  const gid_t gid = switching ? o.gid : getgid();
  size_t count = 0;
  const std::string wrong = check_threads(uid, gid, switching, &count);
  if (!wrong.empty()) throw std::runtime_error("dropping privileges: " + wrong);
  return fmt::format(
      "sluice: privileges: {} thread(s) run as {} (uid {}), group {} (gid {}){}, with no "
      "capabilities (effective, permitted, inheritable, ambient and bounding sets empty) and "
      "no_new_privs; kept: the ports, sockets and files opened at start",
      count, switching ? o.user : "root", uid, switching ? o.group : "root", gid,
      switching ? ", no supplementary groups" : "");
}

void open_telemetry(const std::string& runtime_dir, uid_t owner, gid_t owner_group,
                    std::optional<gid_t> group) {
  const auto fail = [](const std::string& what) {
    throw std::runtime_error(fmt::format("telemetry socket: {}: {}", what, strerror(errno)));
  };
  const gid_t g = group ? *group : owner_group;
  if (chown(runtime_dir.c_str(), owner, g) != 0) fail("chown " + runtime_dir);
  if (chmod(runtime_dir.c_str(), group ? 0710 : 0700) != 0) fail("chmod " + runtime_dir);
  const std::string socket = runtime_dir + "/dpdk_telemetry.v2";
  if (lchown(socket.c_str(), owner, g) != 0) {
    if (errno == ENOENT) return;  // telemetry off (eal.arg = --no-telemetry)
    fail("chown " + socket);
  }
  if (chmod(socket.c_str(), group ? 0660 : 0600) != 0) fail("chmod " + socket);
  if (!group) return;
  // DPDK makes /var/run/dpdk 0700: the group must be able to pass through
  // it (not list it; other prefixes' directories stay 0700).
  const std::string parent = runtime_dir.substr(0, runtime_dir.rfind('/'));
  struct stat st {};
  if (stat(parent.c_str(), &st) != 0) fail("stat " + parent);
  if ((st.st_mode & 0011) != 0011 && chmod(parent.c_str(), (st.st_mode & 07777) | 0011) != 0) {
    fail("chmod " + parent);
  }
}

}  // namespace sluice
