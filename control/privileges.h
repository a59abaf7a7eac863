// What sluice keeps of root's privileges once it runs.
//
// Everything that needs root happens at start: DPDK's EAL (memory, devices,
// af_packet and tap sockets, the telemetry socket), the ports, the NAT log
// opened. After that the daemon only polls ports it already holds, sends on
// sockets it already has (exporter UDP, af_packet), accepts on the telemetry
// socket, reads link state (unprivileged ioctls) and reopens the NAT log on
// SIGHUP (plain file permissions). So drop_privileges() leaves it no
// capability at all, in every thread: empty effective, permitted,
// inheritable and ambient sets, an empty bounding set, and no_new_privs (no
// exec can give any back). With control.user it also becomes that user and
// group (supplementary groups dropped); without, it stays uid 0 without
// capabilities. It checks every thread's /proc status afterwards and throws
// if one kept anything: sluice does not run with privileges it meant to drop.
//
// Capabilities are per thread, and DPDK started its threads (lcores,
// interrupts, telemetry) before: libcap-ng sets the calling thread, a signal
// to each other thread makes it do the same (the way glibc's setxid does for
// uids), before and after the uid change.
//
// open_telemetry() makes the telemetry socket usable by one group (and owned
// by the user sluice becomes, so it can remove it at exit).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace sluice {

struct PrivilegeOptions {
  std::optional<uid_t> uid;  // control.user, when not root
  gid_t gid = 0;             // control.group, or the user's primary group
  std::string user;          // names, for the log line
  std::string group;
};

// Drops what the running daemon does not need; returns a line saying what
// remains. Throws std::runtime_error when it cannot.
std::string drop_privileges(const PrivilegeOptions& o);

// The runtime directory (DPDK's, holding dpdk_telemetry.v2) and the socket
// are given to owner; with a group they become reachable by it (directory
// 0710, socket 0660, and the parent directory searchable: 0711). Throws
// std::runtime_error.
void open_telemetry(const std::string& runtime_dir, uid_t owner, gid_t owner_group,
                    std::optional<gid_t> group);

}  // namespace sluice
