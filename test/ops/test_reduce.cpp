#include "op_test_util.hpp"
