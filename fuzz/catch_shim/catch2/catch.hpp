// Stands in for Catch2 when tests/unit/ipfix_decoder.h is used by a fuzz
// target: a failed REQUIRE or FAIL is a crash the fuzzer reports.
#pragma once

#include <cstdlib>
#include <iostream>

#define REQUIRE(cond) \
  ((cond) ? (void)0 : (std::cerr << "REQUIRE failed: " #cond "\n", std::abort()))
#define FAIL(msg) (std::cerr << "FAIL: " << msg << "\n", std::abort())
