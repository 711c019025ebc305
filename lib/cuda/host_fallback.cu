// A GPU plan's host fallback (see device_api.hpp, RunOnHost): the node's reference kernel runs on
// the host, between copies of its inputs and outputs on the call's own stream.
#include <vector>

#include "lib/cuda/common.cuh"
#include "lib/cuda/device_api.hpp"

namespace tandem::cuda {
namespace {

size_t Bytes(const TensorArg& t) { return static_cast<size_t>(t.size()) * DTypeSize(t.dtype); }

class HostFallbackKernel final : public Kernel {
 public:
  HostFallbackKernel(std::unique_ptr<Kernel> host, std::vector<NDArray> host_constants)
      : host_(std::move(host)), constants_(std::move(host_constants)) {}

  void Run(const KernelCall& call) const override {
    cudaStream_t stream = StateFor(call).stream();
    // Per-call host copies: nothing here outlives the call, so concurrent calls share nothing.
    std::vector<std::vector<char>> in(call.inputs.size()), out(call.outputs.size());
    std::vector<TensorArg> host_in(call.inputs.begin(), call.inputs.end());
    std::vector<TensorArg> host_out(call.outputs.begin(), call.outputs.end());
    for (size_t i = 0; i < host_in.size(); ++i) {
      if (i < constants_.size() && !constants_[i].is_none()) {
        host_in[i].data = constants_[i].raw_data();  // copied to the host once, at plan time
        continue;
      }
      if (!call.inputs[i].data) continue;  // an input inference never reads
      in[i].resize(Bytes(call.inputs[i]));
      if (!in[i].empty())
        TANDEM_CUDA_CHECK(cudaMemcpyAsync(in[i].data(), call.inputs[i].data, in[i].size(),
                                          cudaMemcpyDeviceToHost, stream));
      host_in[i].data = in[i].data();
    }
    for (size_t j = 0; j < host_out.size(); ++j) {
      out[j].resize(Bytes(call.outputs[j]));
      host_out[j].data = out[j].data();
    }
    TANDEM_CUDA_CHECK(cudaStreamSynchronize(stream));
    std::vector<char> scratch(host_->ScratchBytes());
    KernelCall host_call;
    host_call.inputs = host_in;
    host_call.outputs = host_out;
    host_call.scratch = scratch.empty() ? nullptr : scratch.data();
    host_call.exec = nullptr;  // a host kernel has no device state
    host_->Run(host_call);
    for (size_t j = 0; j < host_out.size(); ++j)
      if (!out[j].empty())
        TANDEM_CUDA_CHECK(cudaMemcpyAsync(call.outputs[j].data, out[j].data(), out[j].size(),
                                          cudaMemcpyHostToDevice, stream));
    TANDEM_CUDA_CHECK(cudaStreamSynchronize(stream));  // before the host copies are freed
  }

 private:
  std::unique_ptr<Kernel> host_;
  std::vector<NDArray> constants_;
};

}  // namespace

std::unique_ptr<Kernel> RunOnHost(const KernelSpec& spec, const KernelFactory& host_factory) {
  std::vector<NDArray> host_constants(spec.constants.size());
  KernelSpec host = spec;
  host.ctx = Context::cpu();
  for (size_t i = 0; i < spec.constants.size(); ++i) {
    if (!spec.constants[i]) continue;
    host_constants[i] = spec.constants[i]->Copy(Context::cpu());
    host.constants[i] = &host_constants[i];
  }
  std::unique_ptr<Kernel> kernel = host_factory(host);
  if (!kernel) return nullptr;
  return std::make_unique<HostFallbackKernel>(std::move(kernel), std::move(host_constants));
}

}  // namespace tandem::cuda
