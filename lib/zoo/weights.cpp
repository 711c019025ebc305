// Synthetic (untrained) parameters for any classifier graph: He-initialised weights and, optionally,
// BatchNorm statistics calibrated on a random input so deep nets keep activations in range.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tandem/cached_op.hpp"
#include "tandem/error.hpp"
#include "tandem/zoo.hpp"

namespace tandem::zoo {
namespace {

// SplitMix64: tiny, fast and identical on every platform (std:: distributions are not).
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1].
  double Uniform() { return static_cast<double>((Next() >> 11) + 1) * 0x1.0p-53; }
  // Standard normal by Box-Muller (one value per pair: simple, and speed does not matter here).
  double Normal() { return std::sqrt(-2.0 * std::log(Uniform())) * std::cos(6.283185307179586 * Uniform()); }

 private:
  uint64_t state_;
};

// Each array's stream depends on the seed and its name only, not on the order arrays are made.
uint64_t StreamSeed(uint64_t seed, const std::string& name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return Random(seed ^ h).Next();
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

NDArray InitialValue(const std::string& name, const Shape& shape, uint64_t seed) {
  std::vector<float> v(static_cast<size_t>(shape.Size()), 0.0f);
  if (EndsWith(name, "_weight")) {
    const int64_t fan_in = shape.ndim() > 1 ? shape.Prod(1, shape.ndim()) : 1;
    const double stddev = std::sqrt(2.0 / static_cast<double>(std::max<int64_t>(fan_in, 1)));
    Random rng(StreamSeed(seed, name));
    for (float& x : v) x = static_cast<float>(rng.Normal() * stddev);
  } else if (EndsWith(name, "_gamma") || EndsWith(name, "_moving_var") || EndsWith(name, "_running_var")) {
    std::fill(v.begin(), v.end(), 1.0f);
  }
  return NDArray(v, shape);
}

NDArray RandomInput(const Shape& shape, uint64_t seed, float lo, float hi) {
  Random rng(StreamSeed(seed, "<calibration input>"));
  std::vector<float> v(static_cast<size_t>(shape.Size()));
  for (float& x : v) x = static_cast<float>(lo + (hi - lo) * rng.Uniform());
  return NDArray(v, shape);
}

bool IsBatchNorm(const Node& n) { return !n.is_variable() && n.op->name == "BatchNorm"; }

// Sets the node's moving statistics to the per-channel mean and variance of `x`.
void SetStatistics(const Node& bn, const NDArray& x, std::map<std::string, NDArray>& params) {
  const int axis = static_cast<int>(AttrReader(bn.attrs, bn.op->name, bn.name).Int("axis", 1));
  const Shape& s = x.shape();
  const int a = axis < 0 ? axis + s.ndim() : axis;
  const int64_t outer = s.Prod(0, a), channels = s[a], inner = s.Prod(a + 1, s.ndim());
  const std::vector<float> v = x.ToVector<float>();
  std::vector<float> mean(channels), var(channels);
  double mean_var = 0;
  for (int64_t c = 0; c < channels; ++c) {
    double sum = 0, sum_sq = 0;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i = 0; i < inner; ++i) {
        const double val = v[(o * channels + c) * inner + i];
        sum += val;
        sum_sq += val * val;
      }
    const double n = static_cast<double>(outer * inner);
    mean[c] = static_cast<float>(sum / n);
    var[c] = static_cast<float>(std::max(0.0, sum_sq / n - (sum / n) * (sum / n)));
    mean_var += var[c] / static_cast<double>(channels);
  }
  // A channel that never varies (a dead ReLU) would be scaled by 1/sqrt(eps): floor it.
  const float floor = static_cast<float>(1e-6 + 1e-4 * mean_var);
  for (float& x : var) x = std::max(x, floor);
  auto store = [&](size_t input, const std::vector<float>& values) {
    const std::string& name = bn.inputs.at(input).node->name;
    auto it = params.find(name);
    if (it == params.end()) Throw<InternalError>("SyntheticParams: no array for '", name, "'");
    it->second.SyncCopyFromCPU(values.data(), values.size());
  };
  store(3, mean);
  store(4, var);
}

// Runs one node on its own: a one-node graph whose computed inputs are fed as data and whose
// variable inputs (weights) come from `params`.
std::vector<NDArray> RunNode(const Node& n, const std::vector<NDArray>& computed,
                             const std::map<std::string, NDArray>& params) {
  std::vector<Symbol> inputs;
  std::map<std::string, NDArray> feed;
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    if (computed[i].is_none()) {
      inputs.push_back(Symbol::Variable(n.inputs[i].node->name));
    } else {
      const std::string name = "__calibration_input" + std::to_string(i);
      inputs.push_back(Symbol::Variable(name));
      feed[name] = computed[i];
    }
  }
  const Symbol one = Symbol::CreateOp(n.op->name, n.name, n.attrs, inputs);
  CachedOpFlags flags;
  const std::vector<std::string> names = one.ListInputs();
  for (size_t i = 0; i < names.size(); ++i)
    (feed.count(names[i]) ? flags.data_indices : flags.param_indices).push_back(static_cast<int>(i));
  return CachedOp(one, params, Context::cpu(), flags).Forward(feed);
}

// Evaluates the graph node by node on a random input (keeping only the activations still to be
// read) and sets each BatchNorm's statistics from its actual input before running it, so every
// later node sees normalised activations. Nodes that feed no BatchNorm are skipped.
void Calibrate(const Symbol& symbol, std::map<std::string, NDArray>& params, const Shape& input,
               uint64_t seed, const SyntheticOptions& o) {
  const auto nodes = symbol.TopoNodes();
  std::set<const Node*> needed;  // nodes whose outputs some BatchNorm depends on
  std::map<const Node*, int> readers;
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    const Node& n = **it;
    if (!IsBatchNorm(n) && !needed.count(&n)) continue;
    for (const NodeEntry& e : n.inputs) {
      needed.insert(e.node.get());
      ++readers[e.node.get()];
    }
  }
  if (o.calibration_batch < 1)
    Throw<InvalidArgument>("SyntheticParams: calibration_batch must be >= 1, got ", o.calibration_batch);
  Shape batch = input;
  batch[0] = o.calibration_batch;
  std::map<const Node*, std::vector<NDArray>> values;
  for (const auto& n : nodes)
    if (n->is_variable() && n->name == "data") values[n.get()] = {RandomInput(batch, seed, o.input_lo, o.input_hi)};
  for (const auto& n : nodes) {
    if (n->is_variable() || (!IsBatchNorm(*n) && !needed.count(n.get()))) continue;
    std::vector<NDArray> computed;
    for (const NodeEntry& e : n->inputs) {
      auto it = values.find(e.node.get());
      computed.push_back(it == values.end() ? NDArray() : it->second.at(e.index));
    }
    if (IsBatchNorm(*n)) SetStatistics(*n, computed.at(0), params);
    if (needed.count(n.get())) values[n.get()] = RunNode(*n, computed, params);
    for (const NodeEntry& e : n->inputs)
      if (--readers[e.node.get()] == 0) values.erase(e.node.get());
  }
}

}  // namespace

std::map<std::string, NDArray> SyntheticParams(const Symbol& symbol, Shape input, uint64_t seed,
                                               const SyntheticOptions& options) {
  const std::vector<std::string> inputs = symbol.ListInputs();
  if (std::find(inputs.begin(), inputs.end(), "data") == inputs.end())
    Throw<InvalidArgument>("SyntheticParams: the symbol has no input named 'data'");
  const std::map<std::string, Shape> shapes = symbol.InferShapeMap({{"data", input}});
  std::map<std::string, NDArray> params;
  for (const std::string& name : inputs) {
    if (name == "data" || EndsWith(name, "_label")) continue;
    auto it = shapes.find(name);
    if (it == shapes.end() || !it->second.known())
      Throw<ShapeError>("SyntheticParams: cannot infer the shape of '", name, "' from data ",
                        input.ToString());
    params[name] = InitialValue(name, it->second, seed);
  }
  if (options.calibrate) Calibrate(symbol, params, input, seed, options);

  const std::vector<std::string> aux = symbol.ListAuxiliaryStates();
  const std::set<std::string> aux_set(aux.begin(), aux.end());
  std::map<std::string, NDArray> prefixed;
  for (auto& [name, array] : params) prefixed[(aux_set.count(name) ? "aux:" : "arg:") + name] = array;
  return prefixed;
}

}  // namespace tandem::zoo
