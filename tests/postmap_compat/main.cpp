// main.cpp - doctest's main() for postmap_compat; the tests live in test_*.cpp.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
