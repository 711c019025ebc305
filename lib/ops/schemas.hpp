// Internal: one function per built-in operator returning its schema (lib/ops/<op>.cpp).
// lib/ops/table.cpp lists them, one line per operator, with each backend's kernel factory.
#pragma once

#include "tandem/registry.hpp"

namespace tandem::ops {

OpSchema ConvolutionSchema();
OpSchema BatchNormSchema();
OpSchema ActivationSchema();
OpSchema LeakyReLUSchema();
OpSchema PoolingSchema();
OpSchema FlattenSchema();
OpSchema FullyConnectedSchema();
OpSchema SoftmaxOutputSchema();      // aliases: Softmax
OpSchema SoftmaxActivationSchema();
OpSchema SoftmaxSchema();            // "softmax"
OpSchema LogSoftmaxSchema();         // "log_softmax"
// elemwise_*, broadcast_*, _*_scalar and the unary math functions: ElementwiseOps() in
// lib/ops/elemwise.cpp.
OpSchema ConcatSchema();             // alias concat
OpSchema SliceChannelSchema();       // alias split
OpSchema DropoutSchema();
OpSchema ReshapeSchema();            // alias reshape
OpSchema TransposeSchema();          // alias transpose
OpSchema CastSchema();               // alias cast
OpSchema ClipSchema();               // "clip"
OpSchema IdentitySchema();           // identity, alias _copy
OpSchema BlockGradSchema();          // alias stop_gradient
OpSchema SumSchema();                // sum, alias sum_axis
OpSchema MeanSchema();               // mean

}  // namespace tandem::ops

namespace tandem::detail {

// lib/core/registry.cpp. RegisterOp for the table's schemas, which IsBuiltinOp then recognises (a
// schema a user registers later under the same name is not built in).
void RegisterBuiltinOp(OpSchema schema);
bool IsBuiltinOp(const OpSchema& op);

}  // namespace tandem::detail
