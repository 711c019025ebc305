// tandem/zoo.hpp — well-known image classifiers built with tandem's Symbol API, and synthetic
// (untrained) weights for them.
//
// The graphs match the ones MXNet's own scripts produce, node for node, so checkpoints trained
// with MXNet bind to them and files written from them load in MXNet:
//   ResNetV2     example/image-classification/symbols/resnet.py (the imagenet1k-resnet-N models):
//                bn_data, conv0, bn0, relu0, pooling0, stage{i}_unit{j}_{bn1,relu1,conv1,...,sc},
//                _plus{n}, bn1, relu1, pool1, flatten0, fc1, softmax.
//   InceptionBN  example/image-classification/symbols/inception-bn.py (224x224 variant).
//   ResNetV1     torchvision's layout (conv-bn-relu, bottleneck stride on the 3x3, "v1.5"), named
//                after torchvision's modules so weights map one to one:
//                  torch "layer1.0.conv1.weight"        <-> tandem "layer1.0.conv1_weight"
//                  torch "<bn>.weight" / ".bias"        <-> "<bn>_gamma" / "<bn>_beta"
//                  torch "<bn>.running_mean" / "_var"   <-> "<bn>_moving_mean" / "_moving_var"
//                  torch "fc.weight" / "fc.bias"        <-> "fc_weight" / "fc_bias"
//                Its output is SoftmaxOutput("softmax") over the "fc" logits; read the logits
//                with GetInternals() ("fc_output") to compare with torch's raw output.
//   MobileNetV2  Gluon's model zoo (mobilenet_v2_1_0; GluonCV mobilenetv2_1.0), with Gluon's node and
//                parameter names as net.export() writes them: mobilenetv20_features_conv0_fwd,
//                ..._linearbottleneck{i}_{conv,batchnorm}{j}_fwd, ..._relu6{j}_relu6 (clip 0..6),
//                ..._elemwise_add0, ..._pool0_fwd, mobilenetv20_output_pred_fwd (1x1 conv, the
//                classifier), mobilenetv20_output_flatten0_flatten0 (Gluon's output: the logits);
//                BatchNorm statistics are "<bn>_running_mean" / "_running_var" as Gluon names them.
// Every graph reads "data" (N, 3, H, W) and ends in SoftmaxOutput named "softmax" (label variable
// "softmax_label", ignored at inference); for MobileNetV2 that node is the only one Gluon's export
// lacks.
//
// SyntheticParams makes weights for any such graph: they are NOT trained, so the predicted labels
// mean nothing; they exist to exercise, benchmark and test the runtime on real architectures.
//
// Thread safety: the builders and SyntheticParams are reentrant (no shared state).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tandem/ndarray.hpp"
#include "tandem/shape.hpp"
#include "tandem/symbol.hpp"

namespace tandem::zoo {

// Pre-activation ResNet (He et al. 2016), depth 18, 34, 50, 101, 152, 200 or 269. The 7x7 stem is
// used (as for ImageNet); inputs of any size >= 32x32 work thanks to the global pool.
Symbol ResNetV2(int depth, int classes = 1000);

// Inception with batch normalisation (Ioffe & Szegedy 2015), as MXNet's imagenet1k-inception-bn.
// Its final 7x7 average pool needs 224x224 inputs (or larger).
Symbol InceptionBN(int classes = 1000);

// Post-activation ResNet in torchvision's layout, depth 18, 34, 50, 101 or 152.
Symbol ResNetV1(int depth, int classes = 1000);

// MobileNet v2 (Sandler et al. 2018) with Gluon's width multiplier (1.0, 0.75, 0.5, 0.25 in Gluon's
// zoo): 3x3 stem, 17 inverted residual blocks (1x1 expansion by 6, 3x3 depthwise as a grouped
// convolution, linear 1x1 projection; ReLU6 as clip), 1x1 to 1280 channels, global average pool,
// 1x1 convolution classifier, Flatten. Any input >= 32x32 works (global pool).
Symbol MobileNetV2(double multiplier = 1.0, int classes = 1000);

// The names tandem-zoo accepts ("resnet18-v2", "resnet50-v1", "inception-bn", "mobilenet-v2", ...;
// Gluon's "mobilenetv2_1.0" / "_0.75" / "_0.5" / "_0.25" too), and the
// builder behind each; throws InvalidArgument naming the known ones for anything else.
std::vector<std::string> ModelNames();
Symbol ByName(const std::string& name, int classes = 1000);

struct SyntheticOptions {
  // Calibration runs the graph once per level of BatchNorm nodes on a random input and sets each
  // BatchNorm's moving mean / variance to the statistics it sees, so activations stay in a sane
  // range through deep networks (as trained statistics would). Off: mean 0, variance 1 everywhere.
  bool calibrate = true;
  // The calibration input: `calibration_batch` images (whatever the batch of `input`) of uniform
  // values in [input_lo, input_hi] (0..255: raw pixels). More than one image keeps the statistics
  // of the last, smallest feature maps from resting on a handful of values.
  int calibration_batch = 4;
  float input_lo = 0.0f;
  float input_hi = 255.0f;
};

// Parameters for every non-data input of `symbol` (data = "data", shaped `input`; labels skipped),
// keyed as MXNet saves them ("arg:conv0_weight", "aux:bn0_moving_var"):
//   *_weight  He initialisation, normal(0, sqrt(2 / fan_in)), fan_in = product of dims after the
//             first (conv and fully connected alike);
//   *_bias, *_beta, *_moving_mean / *_running_mean  0;   *_gamma, *_moving_var / *_running_var  1;
//   anything else  0.
// Deterministic: the same symbol, shape, seed and options give the same values (each array's
// random stream is derived from the seed and the array's name, so it does not depend on order).
std::map<std::string, NDArray> SyntheticParams(const Symbol& symbol, Shape input, uint64_t seed,
                                               const SyntheticOptions& options = {});

}  // namespace tandem::zoo
