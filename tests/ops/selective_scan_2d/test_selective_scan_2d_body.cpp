// The CUDA kernels' per-channel bodies of ssm::selective_scan_2d (cuda/selective_scan_2d/selective_scan_2d_body.h),
// compiled for the host in their serial form (one lane holding every state) and run channel by channel against the
// op's float64 CPU path: the forward's ring, the backward's checkpoints, chunked recomputation, adjoint ring and
// variate pushes are checked here without a GPU (the kernels themselves are compared with the CPU by the case table's
// CUDA rows). Shapes cross the chunk boundaries (T past 64 and past the lag), lag >= T, both variate directions.
#include "ops/common/cases.h"
#include "ops/common/test_util.h"
#include "ops/selective_scan_2d/kernel_params.h"
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

class Scan2dBody : public ::testing::TestWithParam<Shape> {};

TEST_P(Scan2dBody, SerialFormMatchesTheCpuOp) {
  const Shape s = GetParam();
  const auto c = as_case(s);
  const auto& table = cases::table("selective_scan_2d");
  const std::vector<at::Tensor> in = table.inputs(c, at::kFloat, at::kCPU);  // float32, A and D too
  const at::Tensor w = at::randn({s.batch, s.V, s.T, s.dim}, at::kFloat);

  // The reference: the op in float64 on the same values, with autograd.
  std::vector<at::Tensor> wide;
  for (const auto& t : in) wide.push_back(t.defined() ? t.to(at::kDouble).requires_grad_(true) : t);
  const at::Tensor ref_y = table.run(c, wide);
  std::vector<at::Tensor> wrt;
  for (const auto& t : wide)
    if (t.defined()) wrt.push_back(t);
  const auto ref_g = torch::autograd::grad({(ref_y * w.to(at::kDouble)).sum()}, wrt);

  const ops::Scan2dKernelInputs k = ops::scan2d_kernel_inputs(
      {in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], in[8], in[9], in[10], in[11], s.lag, s.reverse});
  cuda::Scan2dParams p = ops::scan2d_params(k);
  const cuda::SerialLanes lanes;
  const int64_t channels = s.batch * s.dim;

  // Forward, the ring filled with NaN first: any element read before it is written shows.
  at::Tensor y = at::empty_like(k.x);
  at::Tensor ring = at::full({channels * p.slots * s.V * s.N * 2}, std::nanf(""), at::kFloat);
  p.y = y.mutable_data_ptr();
  p.workspace = ring.mutable_data_ptr<float>();
  for (int64_t ch = 0; ch < channels; ++ch) cuda::scan2d_fwd_channel<float, 1, kMaxN>(p, ch, 0, lanes);
  EXPECT_LT(rel_error(y, ref_y.detach()), 1e-5);

  // Backward, in launches of 3 channels (the glue's workspace split), the workspace refilled with NaN per launch.
  ops::Scan2dKernelGrads g;
  cuda::Scan2dBwdParams q = ops::scan2d_bwd_params(k, w, g);
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
  const std::vector<at::Tensor> got = {g.dx,  g.ddt1, g.ddt2, g.dA1, g.dA2, g.dA3,
                                       g.dA4, g.dB1,  g.dB2,  g.dC1, g.dC2};
  for (size_t i = 0; i < got.size(); ++i) EXPECT_LT(rel_error(got[i], ref_g[i]), 1e-4) << "gradient " << i;
  if (s.D) EXPECT_LT(rel_error(g.dD, ref_g[11]), 1e-4) << "gradient of D";
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
