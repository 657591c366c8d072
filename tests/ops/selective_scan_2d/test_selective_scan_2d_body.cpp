// The CUDA kernels' per-channel bodies of ssm::selective_scan_2d (cuda/selective_scan_2d/selective_scan_2d_body.h),
// compiled for the host in their serial form (one lane holding every state) and run channel by channel against the
// op's float64 CPU path: the forward's ring, the backward's checkpoints, chunked recomputation, adjoint ring and
// variate pushes are checked here without a GPU (the kernels themselves are compared with the CPU by the case table's
// CUDA rows). Shapes cross the chunk boundaries (T past 64 and past the lag), lag >= T, both variate directions.
#include "ops/common/cases.h"
#include "ops/common/test_util.h"
#include "selective_scan_2d/selective_scan_2d_body.h"
#include "ssm/ops.h"

#include <torch/csrc/autograd/autograd.h>

#include <algorithm>
#include <cmath>

namespace ssm::test {
namespace {

constexpr int kMaxN = 8;  // the serial form's states per "lane": every N the tests use

struct Shape {
  int64_t batch, V, T, dim, N, lag;
  bool reverse, D;
};

cases::Case as_case(const Shape& s) {
  cases::Case c;
  c.label = "body";
  c.size = {{"batch", s.batch}, {"V", s.V}, {"T", s.T}, {"dim", s.dim}, {"N", s.N}, {"lag", s.lag}};
  c.option = {{"reverse", s.reverse ? "1" : "0"}, {"D", s.D ? "1" : "0"}};
  return c;
}

cuda::Scan2dParams params(const std::vector<at::Tensor>& in, const Shape& s) {
  cuda::Scan2dParams p{};
  p.x = in[0].const_data_ptr();
  p.dt1 = in[1].const_data_ptr();
  p.dt2 = in[2].const_data_ptr();
  p.A1 = in[3].const_data_ptr<float>();
  p.A2 = in[4].const_data_ptr<float>();
  p.A3 = in[5].const_data_ptr<float>();
  p.A4 = in[6].const_data_ptr<float>();
  p.B1 = in[7].const_data_ptr();
  p.B2 = in[8].const_data_ptr();
  p.C1 = in[9].const_data_ptr();
  p.C2 = in[10].const_data_ptr();
  p.D = in[11].defined() ? in[11].const_data_ptr<float>() : nullptr;
  p.batch = s.batch;
  p.V = s.V;
  p.T = s.T;
  p.dim = s.dim;
  p.N = s.N;
  p.lag = s.lag;
  p.slots = std::min(s.lag + 1, s.T);
  p.reverse = s.reverse;
  return p;
}

class Scan2dBody : public ::testing::TestWithParam<Shape> {};

TEST_P(Scan2dBody, SerialFormMatchesTheCpuOp) {
  const Shape s = GetParam();
  const auto c = as_case(s);
  const auto& table = cases::table("selective_scan_2d");
  std::vector<at::Tensor> in = table.inputs(c, at::kFloat, at::kCPU);  // contiguous float32, A and D float32
  for (auto& t : in)
    if (t.defined()) t = t.contiguous();
  const at::Tensor w = at::randn({s.batch, s.V, s.T, s.dim}, at::kFloat);

  // The reference: the op in float64 on the same values, with autograd.
  std::vector<at::Tensor> wide;
  for (const auto& t : in) wide.push_back(t.defined() ? t.to(at::kDouble).requires_grad_(true) : t);
  const at::Tensor ref_y = table.run(c, wide);
  std::vector<at::Tensor> wrt;
  for (const auto& t : wide)
    if (t.defined()) wrt.push_back(t);
  const auto ref_g = torch::autograd::grad({(ref_y * w.to(at::kDouble)).sum()}, wrt);

  cuda::Scan2dParams p = params(in, s);
  const cuda::SerialLanes lanes;
  const int64_t channels = s.batch * s.dim;

  // Forward.
  at::Tensor y = at::empty({s.batch, s.V, s.T, s.dim}, at::kFloat);
  at::Tensor ring = at::full({channels * p.slots * s.V * s.N * 2}, std::nanf(""), at::kFloat);  // unread garbage
  p.y = y.mutable_data_ptr();
  p.workspace = ring.mutable_data_ptr<float>();
  for (int64_t ch = 0; ch < channels; ++ch) cuda::scan2d_fwd_channel<float, 1, kMaxN>(p, ch, 0, lanes);
  EXPECT_LT(rel_error(y, ref_y.detach()), 1e-5);

  // Backward, in launches of 3 channels (the glue's workspace split), the workspace filled with NaN first: any
  // element read before it is written shows.
  cuda::Scan2dBwdParams q{};
  at::Tensor dx = at::empty_like(y), ddt1 = at::empty_like(y), ddt2 = at::empty_like(y);
  at::Tensor dB1 = at::zeros({s.batch, s.V, s.T, s.N}), dB2 = at::zeros_like(dB1), dC1 = at::zeros_like(dB1),
             dC2 = at::zeros_like(dB1), dA1 = at::zeros({s.dim, s.N}), dA2 = at::zeros_like(dA1),
             dA3 = at::zeros_like(dA1), dA4 = at::zeros_like(dA1);
  at::Tensor dD = s.D ? at::zeros({s.dim}) : at::Tensor();
  q.grad_y = w.const_data_ptr();
  q.dx = dx.mutable_data_ptr();
  q.ddt1 = ddt1.mutable_data_ptr();
  q.ddt2 = ddt2.mutable_data_ptr();
  q.dB1 = dB1.mutable_data_ptr<float>();
  q.dB2 = dB2.mutable_data_ptr<float>();
  q.dC1 = dC1.mutable_data_ptr<float>();
  q.dC2 = dC2.mutable_data_ptr<float>();
  q.dA1 = dA1.mutable_data_ptr<float>();
  q.dA2 = dA2.mutable_data_ptr<float>();
  q.dA3 = dA3.mutable_data_ptr<float>();
  q.dA4 = dA4.mutable_data_ptr<float>();
  q.dD = s.D ? dD.mutable_data_ptr<float>() : nullptr;
  q.hist = cuda::scan2d_bwd_hist(s.lag, s.T);
  q.chunk = cuda::scan2d_bwd_chunk(q.hist, s.T);
  const int64_t per_channel = cuda::scan2d_bwd_channel_floats(s.V, s.T, s.N, q.hist, q.chunk);
  const int64_t per_launch = 3;
  at::Tensor ws = at::empty({per_launch * per_channel}, at::kFloat);
  q.workspace = ws.mutable_data_ptr<float>();
  for (int64_t ch0 = 0; ch0 < channels; ch0 += per_launch) {
    ws.fill_(std::nanf(""));
    q.ch0 = ch0;
    q.channels = std::min(per_launch, channels - ch0);
    for (int64_t ch = ch0; ch < ch0 + q.channels; ++ch) cuda::scan2d_bwd_channel<float, 1, kMaxN>(p, q, ch, 0, lanes);
  }
  const std::vector<at::Tensor> got = {dx, ddt1, ddt2, dA1, dA2, dA3, dA4, dB1, dB2, dC1, dC2};
  for (size_t i = 0; i < got.size(); ++i) EXPECT_LT(rel_error(got[i], ref_g[i]), 1e-4) << "gradient " << i;
  if (s.D) EXPECT_LT(rel_error(dD, ref_g[11]), 1e-4) << "gradient of D";
}

// batch, V, T, dim, N, lag, reverse, D. The backward's chunk is max(64, lag) time steps (at most T).
INSTANTIATE_TEST_SUITE_P(Shapes, Scan2dBody,
                         ::testing::Values(Shape{1, 1, 1, 1, 1, 1, false, false},    // one cell
                                           Shape{2, 3, 7, 3, 2, 1, true, true},      // one chunk
                                           Shape{2, 3, 65, 2, 3, 1, false, true},    // a last chunk of one step
                                           Shape{1, 4, 150, 3, 5, 24, true, true},   // 3 chunks, lag 24
                                           Shape{2, 2, 200, 2, 3, 70, false, true},  // chunk = lag 70
                                           Shape{1, 2, 130, 2, 8, 64, true, false},  // lag = chunk = 64
                                           Shape{1, 3, 100, 2, 4, 100, false, true}, // lag >= T: no time pushes
                                           Shape{2, 5, 12, 4, 7, 5, true, true}),    // lag within one chunk
                         [](const ::testing::TestParamInfo<Shape>& i) {
                           const Shape& s = i.param;
                           return "b" + std::to_string(s.batch) + "_V" + std::to_string(s.V) + "_T" +
                                  std::to_string(s.T) + "_d" + std::to_string(s.dim) + "_N" + std::to_string(s.N) +
                                  "_lag" + std::to_string(s.lag) + (s.reverse ? "_rev" : "") + (s.D ? "_D" : "");
                         });

}  // namespace
}  // namespace ssm::test
