// Small graphs built with the Symbol API that several tests (and the soak binary) share.
#pragma once

#include <string>

#include "tandem/tandem.hpp"

namespace tandem::test {

// Pre-activation residual units like MXNet's resnet.py, small enough for stress tests; takes any
// batch, height and width of 3-channel input.
inline Symbol ResidualNet() {
  Symbol x = op::BatchNorm("bn_data", Symbol::Variable("data"), {.eps = 2e-5, .fix_gamma = true});
  x = op::Convolution("conv0", x, {.kernel = {3, 3}, .num_filter = 16, .pad = {1, 1}, .no_bias = true});
  for (int unit = 0; unit < 2; ++unit) {
    std::string p = "unit" + std::to_string(unit) + "_";
    Symbol y = op::Activation(p + "relu1", op::BatchNorm(p + "bn1", x, {.eps = 2e-5, .fix_gamma = false}));
    y = op::Convolution(p + "conv1", y, {.kernel = {3, 3}, .num_filter = 16, .pad = {1, 1}, .no_bias = true});
    y = op::Activation(p + "relu2", op::BatchNorm(p + "bn2", y, {.eps = 2e-5, .fix_gamma = false}));
    y = op::Convolution(p + "conv2", y, {.kernel = {3, 3}, .num_filter = 16, .pad = {1, 1}, .no_bias = true});
    x = op::elemwise_add("_plus" + std::to_string(unit), y, x);
  }
  x = op::Pooling("pool1", x, {.pool_type = "avg", .global_pool = true});
  x = op::FullyConnected("fc1", op::Flatten(x, "flatten0"), {.num_hidden = 10});
  return op::SoftmaxOutput("softmax", x);
}

}  // namespace tandem::test
