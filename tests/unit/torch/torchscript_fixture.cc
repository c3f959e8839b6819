// Writes a TorchScript module to the path given, for torchscript_loader_test, which does not
// link libtorch: forward(x) = x * 3 over [batch, n] rows. C++17, like everything that includes
// libtorch headers.

#include <torch/script.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: torchscript_fixture OUT.pt\n";
    return 2;
  }
  torch::jit::Module m("times_three");
  m.define("def forward(self, x):\n    return x * 3.0\n");
  m.save(argv[1]);
  return 0;
}
