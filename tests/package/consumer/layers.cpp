// Builds a small LibTorch model from the installed ssm layers (ssm::ssm): an S4D layer and a Mamba block over a
// linear encoder and decoder, trains it a few steps on a task it can learn (each output is the input delayed by 3
// steps) and checks that the loss falls.
#include "layers/mamba.h"
#include "layers/s4d.h"

#include <torch/torch.h>

#include <cstdio>

struct Net : torch::nn::Module {
  Net() {
    ssm::layers::S4DOptions so;
    so.d_model = 16;
    so.d_state = 8;
    ssm::layers::MambaOptions mo;
    mo.d_model = 16;
    mo.d_state = 4;
    enc = register_module("enc", torch::nn::Linear(1, 16));
    s4d = register_module("s4d", ssm::layers::S4D(so));
    mamba = register_module("mamba", ssm::layers::Mamba(mo));
    dec = register_module("dec", torch::nn::Linear(16, 1));
  }
  torch::Tensor forward(const torch::Tensor& u) {  // (B, L, 1)
    torch::Tensor h = enc(u);
    h = h + s4d->forward(h);
    h = h + mamba->forward(h);
    return dec(h);
  }
  torch::nn::Linear enc{nullptr}, dec{nullptr};
  ssm::layers::S4D s4d{nullptr};
  ssm::layers::Mamba mamba{nullptr};
};

int main() {
  torch::manual_seed(0);
  torch::set_num_threads(1);
  Net net;
  torch::optim::Adam opt(net.parameters(), torch::optim::AdamOptions(3e-3));
  const torch::Tensor u = torch::randn({16, 32, 1});
  const torch::Tensor target = torch::constant_pad_nd(u, {0, 0, 3, 0}).narrow(1, 0, 32);  // u delayed by 3
  double first = 0, last = 0;
  for (int step = 0; step < 60; ++step) {
    opt.zero_grad();
    const torch::Tensor loss = torch::mse_loss(net.forward(u), target);
    loss.backward();
    opt.step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  std::printf("S4D + Mamba from the installed ssm::ssm: loss %.4f -> %.4f after 60 steps\n", first, last);
  return last < 0.5 * first ? 0 : 1;
}
