#include "route.h"

#include <rte_errno.h>
#include <rte_fib.h>
#include <rte_memory.h>

namespace sluice {

Fib::Fib(const std::string& name, uint32_t max_routes, int value_bytes) {
  rte_fib_conf conf{};
  conf.type = RTE_FIB_DIR24_8;
  conf.default_nh = 0;
  conf.max_routes = static_cast<int>(max_routes);
  conf.dir24_8.nh_sz = value_bytes == 2 ? RTE_FIB_DIR24_8_2B : RTE_FIB_DIR24_8_4B;
  conf.dir24_8.num_tbl8 = max_routes < 256 ? 256 : max_routes;
  fib_ = rte_fib_create(name.c_str(), SOCKET_ID_ANY, &conf);
  if (fib_ == nullptr) error_ = "cannot create table " + name + ": " + rte_strerror(rte_errno);
}

Fib::~Fib() {
  rte_fib_free(fib_);
}

bool Fib::add(uint32_t prefix, uint8_t len, uint32_t value, std::string* error) {
  const int rc = rte_fib_add(fib_, prefix, len, value);
  if (rc != 0 && error != nullptr) *error = rte_strerror(-rc);
  return rc == 0;
}

void Fib::lookup(const uint32_t* ips, uint64_t* values, unsigned n) const noexcept {
  // rte_fib_lookup_bulk takes non-const pointers but reads only.
  rte_fib_lookup_bulk(fib_, const_cast<uint32_t*>(ips), values, n);
}

uint64_t Fib::lookup(uint32_t ip) const noexcept {
  uint64_t v = 0;
  lookup(&ip, &v, 1);
  return v;
}

}  // namespace sluice
