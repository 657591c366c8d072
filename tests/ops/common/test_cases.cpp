// The generic tests every op gets from its case table (src/ops/<op>/cases.cpp): the op against its float64
// reference in every CPU dtype, autograd against finite differences in float64, and the CUDA op in every CUDA dtype
// against the float64 reference, forward and gradients (skipped visibly without a GPU).
#include "ops/common/cases.h"
#include "ops/common/test_util.h"

#include <torch/csrc/autograd/autograd.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ssm::test {
namespace {

using cases::Case;
using cases::OpTable;

struct Param {
  const OpTable* table;
  const Case* c;
};

std::vector<Param> params(unsigned use) {
  std::vector<Param> out;
  for (const auto& t : cases::tables())
    for (const auto& c : t.cases)
      if (c.uses & use) out.push_back({&t, &c});
  return out;
}

std::string param_name(const ::testing::TestParamInfo<Param>& info) {
  return info.param.table->op + "_" + info.param.c->label;
}

// The inputs that take gradients: every defined floating or complex tensor.
std::vector<at::Tensor> with_grad(std::vector<at::Tensor> in) {
  for (auto& t : in)
    if (t.defined() && (at::isFloatingType(t.scalar_type()) || at::isComplexType(t.scalar_type())))
      t = t.detach().requires_grad_(true);
  return in;
}

std::vector<at::Tensor> defined(const std::vector<at::Tensor>& in) {
  std::vector<at::Tensor> out;
  for (const auto& t : in)
    if (t.defined() && t.requires_grad()) out.push_back(t);
  return out;
}

// The output and the gradients of Re sum(out * w) for a fixed w, on inputs `in` (which require grad).
std::vector<at::Tensor> output_and_grads(const OpTable& t, const Case& c, const std::vector<at::Tensor>& in,
                                         const at::Tensor& w) {
  const at::Tensor y = t.run(c, in);
  const at::Tensor wy = w.to(y.options().requires_grad(false));
  const at::Tensor loss = y.is_complex() ? at::real((y * wy).sum()) : (y * wy).sum();
  auto grads = torch::autograd::grad({loss}, defined(in));
  grads.insert(grads.begin(), y.detach());
  return grads;
}

class OpCaseReference : public ::testing::TestWithParam<Param> {};
class OpCaseGradient : public ::testing::TestWithParam<Param> {};
class OpCaseCuda : public ::testing::TestWithParam<Param> {};

TEST_P(OpCaseReference, MatchesFloat64Reference) {
  const auto& [t, c] = GetParam();
  for (const auto dtype : t->cpu_dtypes) {
    SCOPED_TRACE(cases::dtype_name(dtype));
    const auto in = t->inputs(*c, dtype, at::kCPU);
    const at::Tensor y = t->run(*c, in);
    const at::Tensor ref = t->reference(*c, in);
    ASSERT_EQ(y.sizes(), ref.sizes());
    EXPECT_LT(rel_error(y, ref), t->tolerance(*c, dtype, false));
  }
}

TEST_P(OpCaseGradient, MatchesFiniteDifferences) {
  const auto& [t, c] = GetParam();
  for (const auto dtype : t->cpu_dtypes) {
    if (dtype != at::kDouble && dtype != at::kComplexDouble) continue;
    SCOPED_TRACE(cases::dtype_name(dtype));
    expect_gradients_match([&](const std::vector<at::Tensor>& in) { return t->run(*c, in); },
                           with_grad(t->inputs(*c, dtype, at::kCPU)));
  }
}

TEST_P(OpCaseCuda, MatchesFloat64ReferenceOnCuda) {
  SSM_REQUIRE_CUDA();
  const auto& [t, c] = GetParam();
  for (const auto dtype : t->cuda_dtypes) {
    SCOPED_TRACE(cases::dtype_name(dtype));
    const auto in = t->inputs(*c, dtype, at::kCPU);  // rounded to dtype once: both sides see the same values
    std::vector<at::Tensor> wide_in, gpu_in;
    for (const auto& x : in) {
      wide_in.push_back(cases::wide(x));
      gpu_in.push_back(x.defined() ? x.cuda() : x);
    }
    const at::Tensor ref_y = t->reference(*c, wide_in);
    const at::Tensor w = at::isComplexType(ref_y.scalar_type())
                             ? at::complex(at::randn(ref_y.sizes(), at::kDouble), at::randn(ref_y.sizes(), at::kDouble))
                             : at::randn(ref_y.sizes(), at::kDouble);
    const auto want = output_and_grads(*t, *c, with_grad(wide_in), w);  // the op itself in float64 on the CPU
    EXPECT_LT(rel_error(want[0], ref_y), t->tolerance(*c, at::kDouble, false));
    const auto got = output_and_grads(*t, *c, with_grad(gpu_in), w);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_LT(rel_error(got[i].cpu(), want[i]), t->tolerance(*c, dtype, true)) << (i ? "gradient " : "output ") << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Tables, OpCaseReference, ::testing::ValuesIn(params(cases::kReference)), param_name);
INSTANTIATE_TEST_SUITE_P(Tables, OpCaseGradient, ::testing::ValuesIn(params(cases::kGradient)), param_name);
INSTANTIATE_TEST_SUITE_P(Tables, OpCaseCuda, ::testing::ValuesIn(params(cases::kCuda)), param_name);

// Every table is complete and its labels are unique (a missing function or a duplicate name is a table error).
TEST(OpCaseTables, AreComplete) {
  ASSERT_FALSE(cases::tables().empty());
  for (const auto& t : cases::tables()) {
    SCOPED_TRACE(t.op);
    EXPECT_TRUE(t.inputs && t.run && t.reference && t.tolerance && t.counts && t.impls && t.python_args);
    EXPECT_FALSE(t.cpu_dtypes.empty());
    std::set<std::string> labels;
    for (const auto& c : t.cases) EXPECT_TRUE(labels.insert(c.label).second) << "duplicate label " << c.label;
  }
}

}  // namespace
}  // namespace ssm::test
