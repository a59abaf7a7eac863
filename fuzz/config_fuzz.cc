// Fuzz target: the configuration parser (control/config.h), as
// `sluice --check-config FILE` runs it, with the input as the INI file (held
// in a memfd, nothing written to disk). Checked: load_config() either returns
// or throws a ConfigError, as config.h promises; any other exception, or an
// error report ASan or UBSan makes, is a crash.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "config.h"
#include "env.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("sluice-fuzz-config", 0);
  FUZZ_CHECK(fd >= 0);
  FUZZ_CHECK(write(fd, data, size) == static_cast<ssize_t>(size));
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  const char* argv[] = {"sluice", "--check-config", path.c_str()};
  try {
    const sluice::Invocation inv = sluice::load_config(3, argv);
    FUZZ_CHECK(inv.action == sluice::Action::check);
  } catch (const sluice::ConfigError&) {
    // Rejected, with the key and the reason: what a bad file should get.
  }
  close(fd);
  return 0;
}
