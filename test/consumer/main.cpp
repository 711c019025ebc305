// A program outside the tandem tree, built against the installed headers and library through
// pkg-config: checks that the install is complete and usable.
#include <tandem/tandem.hpp>

#include <cstdio>

int main() {
  using namespace tandem;
  Symbol data = Symbol::Variable("data");
  Symbol net = op::Activation("relu", data);
  CachedOp model(net, {}, Context::cpu());
  auto out = model.Forward({NDArray({-1.f, 2.f}, Shape{2})})[0].ToVector<float>();
  bool ok = out[0] == 0.f && out[1] == 2.f;
  std::printf("consumer: relu([-1, 2]) = [%g, %g] %s\n", out[0], out[1], ok ? "ok" : "WRONG");
  return ok ? 0 : 1;
}
