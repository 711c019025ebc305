// Catch2's main, compiled once without optimisation (it is slow to compile and never hot).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
