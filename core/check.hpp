#pragma once
// Invariant assertions that stay on in release builds (TigerBeetle style): a broken
// invariant in a money engine means corrupt state, and crashing is the only honest answer.
#include <cstdio>
#include <cstdlib>

#define TX_CHECK(cond)                                                               \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "txengine invariant violated: %s at %s:%d\n", #cond,     \
                   __FILE__, __LINE__);                                              \
      std::abort();                                                                  \
    }                                                                                \
  } while (false)
