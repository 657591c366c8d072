"""What every op owes a PyTorch user beyond its math: the same results under dispatch modes (FlopCounterMode,
torch.compile's tracing) and a clear error for a second derivative on every Python row of the case tables; one compiled
graph across lengths; independence of the samples of a batch; a library that can be loaded twice. (opcheck and
gradcheck of the table rows: test_op_tables.py.)"""
import os
import shutil
import subprocess
import sys

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(__file__))
# The libraries (skipped without them) and the case tables' Python rows.
from test_op_tables import DTYPES, LIB, ROWS, case_args  # noqa: E402

ops = torch.ops.ssm
f64 = torch.float64


def table_case(op, case):
    """A table row as (op, args) in float64 (complex128 for complex ops)."""
    dtype = torch.float64 if "float64" in DTYPES[op]["dtypes"] else torch.complex128
    return getattr(ops, op), tuple(case_args(op, case, dtype))


TABLE_IDS = [f"{op}-{c['label']}" for op, c in ROWS]


def vandermonde_case(L=16, B=2, N=4):
    dt = torch.exp(torch.empty(B, 1, dtype=f64).uniform_(-6.9, -2.3))
    x = dt * torch.complex(-0.5 * torch.ones(B, N, dtype=f64), torch.pi * torch.arange(N, dtype=f64).expand(B, N))
    v = torch.randn(B, N, dtype=torch.complex128)
    return ops.vandermonde, (v.requires_grad_(), x.requires_grad_(), L)


def conv_case(op, L=16, factors=False, B=2, H=3):
    u = torch.randn(B, H, L, dtype=f64, requires_grad=True)
    k = (torch.randn(H, L // 2 + 1, dtype=f64) / L).requires_grad_()
    D = torch.randn(H, dtype=f64, requires_grad=True)
    k_rev = (torch.randn(H, L // 2 + 1, dtype=f64) / L).requires_grad_()
    args = [u, k, D, k_rev]
    if factors:  # the exact DFT matrices as (learnable) factors: the learned-butterfly path
        n = ops.fft_conv_size(L, k.shape[1], True)
        F = [f.requires_grad_() for f in ops.butterfly_dft_factors(n, torch.complex128)]
        args.append(F)
    return getattr(ops, op), tuple(args)


def diag_scan_case(L=16, B=2, P=3):
    a = torch.polar(0.5 + 0.4 * torch.rand(P, dtype=f64), torch.rand(P, dtype=f64) * 6.28).requires_grad_()
    b = torch.randn(B, L, P, dtype=torch.complex128, requires_grad=True)
    h0 = torch.randn(B, P, dtype=torch.complex128, requires_grad=True)
    return ops.diag_scan, (a, b, False, h0)


def selective_scan_case(L=16, B=2, D=3, N=4):
    u = torch.randn(B, D, L, dtype=f64, requires_grad=True)
    delta = torch.randn(B, D, L, dtype=f64, requires_grad=True)
    A = (-torch.rand(D, N, dtype=f64) - 0.5).requires_grad_()
    Bm = torch.randn(B, N, L, dtype=f64, requires_grad=True)
    C = torch.randn(B, N, L, dtype=f64, requires_grad=True)
    h0 = torch.randn(B, D, N, dtype=f64, requires_grad=True)
    return u, delta, A, Bm, C, h0


def scan_2d_case(T=16, B=2, V=3, D=2, N=3):
    act = [torch.randn(B, V, T, D, dtype=f64, requires_grad=True)]
    act += [(0.01 + 0.4 * torch.rand(B, V, T, D, dtype=f64)).requires_grad_() for _ in range(2)]
    As = [(-torch.rand(D, N, dtype=f64) - 0.5).requires_grad_() for _ in range(4)]
    BC = [torch.randn(B, V, T, N, dtype=f64, requires_grad=True) for _ in range(4)]
    return tuple(act + As + BC)


CASES = {
    "vandermonde": vandermonde_case,
    "fft_conv": lambda: conv_case("fft_conv"),
    "butterfly_conv": lambda: conv_case("butterfly_conv"),
    "butterfly_conv_factors": lambda: conv_case("butterfly_conv", factors=True),
    "diag_scan": diag_scan_case,
}


def leaves(args):
    out = []
    for a in args:
        if isinstance(a, torch.Tensor) and a.requires_grad:
            out.append(a)
        elif isinstance(a, list):
            out.extend(t for t in a if t.requires_grad)
    return out


def outputs(y):
    """An op's outputs as a list (selective_scan returns two)."""
    return list(y) if isinstance(y, (tuple, list)) else [y]


def run(op, args):
    """The outputs and the gradients of sum_k <Re out_k, w_k> (w fixed by the seed) for every input that requires
    grad."""
    ys = outputs(op(*args))
    gen = torch.Generator().manual_seed(1)
    loss = 0
    for y in ys:
        w = torch.randn(y.shape, dtype=y.real.dtype, generator=gen)
        loss = loss + ((y.real * w).sum() if y.is_complex() else (y * w).sum())
    return [y.detach() for y in ys] + list(torch.autograd.grad(loss, leaves(args)))


def real_sum(t):
    return sum((y.real.sum() if y.is_complex() else y.sum()) for y in outputs(t))


class PassThrough(TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("row", ROWS, ids=TABLE_IDS)
@pytest.mark.parametrize("mode", [PassThrough, lambda: FlopCounterMode(display=False)], ids=["passthrough", "flops"])
def test_dispatch_mode_gives_eager_results(row, mode):
    op, args = table_case(*row)
    eager = run(op, args)
    with mode():
        inside = run(op, args)
    for a, b in zip(eager, inside):
        torch.testing.assert_close(b, a, rtol=1e-12, atol=1e-12)


def _lengths_graphs(fn, make):
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    compiled = torch.compile(fn, backend="aot_eager", dynamic=True, fullgraph=True)
    for L in (16, 23, 40):
        args = make(L)
        got = compiled(*args)
        real_sum(got).backward()
        grads = [a.grad.clone() for a in leaves(args)]
        for a in leaves(args):
            a.grad = None
        want = fn(*args)
        real_sum(want).backward()
        for g_out, w_out in zip(outputs(got), outputs(want)):
            torch.testing.assert_close(g_out, w_out)
        for g, a in zip(grads, leaves(args)):
            torch.testing.assert_close(g, a.grad)
    return torch._dynamo.utils.counters["stats"]["unique_graphs"]


def test_compile_dynamic_one_graph_per_op():
    # The length flows from a tensor's shape into each op: one graph over three lengths (a length specialized into an
    # int argument would give three).
    def vdm(v, x, t):
        return ops.vandermonde(v, x, t.shape[0])
    assert _lengths_graphs(vdm, lambda L: vandermonde_case(L)[1][:2] + (torch.zeros(L),)) == 1
    for op in ("fft_conv", "butterfly_conv"):
        f = getattr(ops, op)
        assert _lengths_graphs(lambda u, k, D, kr: f(u, k, D, kr), lambda L: conv_case(op, L)[1]) == 1, op
    assert _lengths_graphs(lambda a, b, h0: ops.diag_scan(a, b, False, h0),
                           lambda L: (lambda c: (c[0], c[1], c[3]))(diag_scan_case(L)[1])) == 1
    assert _lengths_graphs(lambda u, d, A, B, C, h0: ops.selective_scan(u, d, A, B, C, None, None, None, True, h0),
                           selective_scan_case) == 1
    assert _lengths_graphs(lambda *a: ops.selective_scan_2d(*a, None, 2, True), scan_2d_case) == 1


def test_compile_with_factors_matches_eager_from_the_first_call():
    op, args = CASES["butterfly_conv_factors"]()
    torch._dynamo.reset()
    got = torch.compile(lambda *a: op(*a), backend="aot_eager", fullgraph=True)(*args)
    torch.testing.assert_close(got, op(*args), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("row", ROWS, ids=TABLE_IDS)
def test_second_derivative_is_a_clear_error(row):
    # Asking for a differentiable gradient (create_graph=True) is where the second derivative starts: it fails there,
    # naming the op, instead of returning a gradient whose own gradient would silently be zero.
    op, args = table_case(*row)
    loss = real_sum(op(*args))
    with pytest.raises(RuntimeError, match=r"ssm::\w+_backward is not differentiable: a second derivative"):
        torch.autograd.grad(loss, leaves(args), create_graph=True)
    # A first derivative still works afterwards, and without create_graph as before.
    assert all(g is not None for g in torch.autograd.grad(real_sum(op(*args)), leaves(args)))


def test_butterfly_backward_strides_match_meta():
    op, args = CASES["butterfly_conv_factors"]()
    grads = run(op, args)[1:]
    for t, g in zip(leaves(args), grads):
        assert g.is_contiguous() and g.shape == t.shape


def test_butterfly_default_passes_gradcheck():
    u = torch.randn(2, 3, 11, dtype=f64, requires_grad=True)
    k = torch.randn(3, 6, dtype=f64, requires_grad=True)
    D = torch.randn(3, dtype=f64, requires_grad=True)
    k_rev = torch.randn(3, 6, dtype=f64, requires_grad=True)
    assert torch.autograd.gradcheck(ops.butterfly_conv, (u, k, D, k_rev))


@pytest.mark.parametrize("op", ["fft_conv", "butterfly_conv"])
def test_samples_are_independent(op):
    f = getattr(ops, op)
    u = torch.randn(2, 3, 10)
    k = torch.randn(3, 10) / 10
    ref = f(u, k)
    nan = u.clone()
    nan[0, 1, 3] = float("nan")
    y = f(nan, k)
    assert y[0].isnan().any() and not y[1].isnan().any()
    exact = ops.fft_conv(u[1:].double(), k.double())
    for scale in (1e2, 1e4, 1e6):
        big = u.clone()
        big[0] *= scale
        y1 = f(big, k)[1:]
        torch.testing.assert_close(y1, ref[1:], rtol=0, atol=0)
        assert ((y1.double() - exact).abs().max() / exact.abs().max()).item() < 1e-6


def test_fft_conv_size_rejects_unrepresentable_lengths():
    with pytest.raises(RuntimeError, match=r"argument 'L' = 4611686018427387905 is too large"):
        ops.fft_conv_size(2**62 + 1, 1, False)
    with pytest.raises(RuntimeError, match=r"argument 'Lk' .* too large"):
        ops.fft_conv_size(2**58, 2**58 + 1, False)
    assert ops.fft_conv_size(2**40, 2**40, True) >= 2**41


def test_second_load_from_another_path_is_harmless(tmp_path):
    copy = tmp_path / "libssm_ops_copy.so"
    shutil.copy(LIB, copy)
    code = (
        "import torch\n"
        f"torch.ops.load_library({LIB!r})\n"
        f"torch.ops.load_library({str(copy)!r})\n"
        "u = torch.randn(1, 2, 8); k = torch.randn(2, 3)\n"
        "torch.testing.assert_close(torch.ops.ssm.fft_conv(u, k), torch.ops.ssm.butterfly_conv(u, k))\n"
        "print(torch.ops.ssm.library_path())\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "already registered by" in r.stderr and str(copy) in r.stderr
    assert r.stdout.strip().endswith(os.path.basename(LIB))
