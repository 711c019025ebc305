// MultiDeviceCachedOp: one CachedOp replica per listed context, calls spread by where their inputs
// live and by load. See include/tandem/multi_device.hpp for the contract.
#include "tandem/multi_device.hpp"

#include <limits>
#include <optional>

#include "tandem/error.hpp"

namespace tandem {

namespace {

// Counts a call in flight on a replica for as long as it runs, also when it throws.
class InFlight {
 public:
  explicit InFlight(std::atomic<int>& n) : n_(n) { ++n_; }
  ~InFlight() { --n_; }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  std::atomic<int>& n_;
};

}  // namespace

struct MultiDeviceCachedOp::Impl {
  struct Replica {
    Replica(CachedOp o, Context c) : op(std::move(o)), ctx(c) {}
    CachedOp op;
    Context ctx;
    mutable std::atomic<int> in_flight{0};
    mutable std::atomic<uint64_t> calls{0};
  };
  std::vector<std::unique_ptr<Replica>> replicas;
  mutable std::atomic<uint64_t> next{0};  // where the least-loaded scan starts (round-robin ties)

  // The replica with the fewest calls in flight among those on `only` (any when none).
  const Replica& Choose(const Context* only) const;
  // Runs `call(replica)` on the chosen replica, counted in flight and in its calls.
  template <class Call>
  std::vector<NDArray> RunOnChosen(const Context* only, Call&& call) const {
    const Replica& r = Choose(only);
    InFlight guard(r.in_flight);
    ++r.calls;
    return call(r);
  }
  const Replica* OnContext(Context ctx) const;
};

namespace {

// The context every input lives on, when they agree.
std::optional<Context> CommonContext(const std::vector<NDArray>& inputs) {
  std::optional<Context> common;
  for (const NDArray& a : inputs) {
    if (a.is_none()) return std::nullopt;
    if (!common) common = a.ctx();
    else if (*common != a.ctx()) return std::nullopt;
  }
  return common;
}

std::vector<NDArray> OnDevice(const std::vector<NDArray>& inputs, Context ctx) {
  std::vector<NDArray> moved;
  moved.reserve(inputs.size());
  for (const NDArray& a : inputs) moved.push_back(a.is_none() || a.ctx() == ctx ? a : a.Copy(ctx));
  return moved;
}

}  // namespace

const MultiDeviceCachedOp::Impl::Replica* MultiDeviceCachedOp::Impl::OnContext(Context ctx) const {
  for (const auto& r : replicas)
    if (r->ctx == ctx) return r.get();
  return nullptr;
}

const MultiDeviceCachedOp::Impl::Replica& MultiDeviceCachedOp::Impl::Choose(const Context* only) const {
  const size_t n = replicas.size();
  const size_t start = static_cast<size_t>(next.fetch_add(1, std::memory_order_relaxed) % n);
  const Replica* best = nullptr;
  int best_load = std::numeric_limits<int>::max();
  for (size_t k = 0; k < n; ++k) {
    const Replica& r = *replicas[(start + k) % n];
    if (only && r.ctx != *only) continue;
    const int load = r.in_flight.load(std::memory_order_relaxed);
    if (load < best_load) {
      best = &r;
      best_load = load;
    }
  }
  return *best;  // callers pass `only` only when a replica lives there
}

MultiDeviceCachedOp::MultiDeviceCachedOp(const Symbol& symbol,
                                         const std::map<std::string, NDArray>& params,
                                         const std::vector<Context>& contexts, CachedOpFlags flags)
    : impl_(std::make_unique<Impl>()) {
  if (contexts.empty()) Throw<InvalidArgument>("MultiDeviceCachedOp: no contexts given");
  for (Context ctx : contexts)
    impl_->replicas.push_back(std::make_unique<Impl::Replica>(CachedOp(symbol, params, ctx, flags), ctx));
}

MultiDeviceCachedOp::~MultiDeviceCachedOp() = default;
MultiDeviceCachedOp::MultiDeviceCachedOp(MultiDeviceCachedOp&&) noexcept = default;
MultiDeviceCachedOp& MultiDeviceCachedOp::operator=(MultiDeviceCachedOp&&) noexcept = default;

std::vector<NDArray> MultiDeviceCachedOp::Forward(const std::vector<NDArray>& inputs) const {
  std::optional<Context> where = CommonContext(inputs);
  if (where && !impl_->OnContext(*where)) where.reset();  // not a model device: any replica
  return impl_->RunOnChosen(where ? &*where : nullptr, [&](const Impl::Replica& r) {
    return r.op.Forward(OnDevice(inputs, r.ctx));
  });
}

std::vector<NDArray> MultiDeviceCachedOp::Forward(const std::map<std::string, NDArray>& inputs) const {
  std::vector<NDArray> values;
  for (const auto& [name, array] : inputs) values.push_back(array);
  std::optional<Context> where = CommonContext(values);
  if (where && !impl_->OnContext(*where)) where.reset();
  return impl_->RunOnChosen(where ? &*where : nullptr, [&](const Impl::Replica& r) {
    std::map<std::string, NDArray> moved;
    for (const auto& [name, array] : inputs)
      moved[name] = array.is_none() || array.ctx() == r.ctx ? array : array.Copy(r.ctx);
    return r.op.Forward(moved);
  });
}

std::vector<NDArray> MultiDeviceCachedOp::ForwardOn(Context ctx, const std::vector<NDArray>& inputs) const {
  if (!impl_->OnContext(ctx)) {
    std::string list;
    for (const auto& r : impl_->replicas) list += (list.empty() ? "" : ", ") + r->ctx.ToString();
    Throw<DeviceError>("MultiDeviceCachedOp::ForwardOn: no replica on ", ctx.ToString(),
                       " (the model runs on ", list, ")");
  }
  return impl_->RunOnChosen(&ctx, [&](const Impl::Replica& r) {
    return r.op.Forward(OnDevice(inputs, r.ctx));
  });
}

size_t MultiDeviceCachedOp::replica_count() const { return impl_->replicas.size(); }

Context MultiDeviceCachedOp::context(size_t replica) const { return this->replica(replica).context(); }

const CachedOp& MultiDeviceCachedOp::replica(size_t replica) const {
  if (replica >= impl_->replicas.size())
    Throw<InvalidArgument>("MultiDeviceCachedOp: replica ", replica, " out of range (",
                           impl_->replicas.size(), " replicas)");
  return impl_->replicas[replica]->op;
}

std::vector<uint64_t> MultiDeviceCachedOp::calls_per_replica() const {
  std::vector<uint64_t> calls;
  for (const auto& r : impl_->replicas) calls.push_back(r->calls.load());
  return calls;
}

const std::vector<std::string>& MultiDeviceCachedOp::input_names() const {
  return impl_->replicas.front()->op.input_names();
}

const std::vector<std::string>& MultiDeviceCachedOp::output_names() const {
  return impl_->replicas.front()->op.output_names();
}

}  // namespace tandem
