// tandem/tandem.hpp — the umbrella header: everything a user of tandem needs.
#pragma once

#include "tandem/cached_op.hpp"
#include "tandem/context.hpp"
#include "tandem/dtype.hpp"
#include "tandem/error.hpp"
#include "tandem/multi_device.hpp"
#include "tandem/ndarray.hpp"
#include "tandem/onnx.hpp"  // declared always; Available() says whether this build reads ONNX
#include "tandem/operator.hpp"
#include "tandem/registry.hpp"
#include "tandem/shape.hpp"
#include "tandem/symbol.hpp"
