"""The ops from Python beyond their case tables (test_op_tables.py): error messages, learned factors with noise,
the butterfly plan."""
import os

import pytest
import torch

LIB = os.environ.get("SSM_OPS_LIBRARY")
if not LIB:
    pytest.skip("SSM_OPS_LIBRARY is not set (ctest sets it)", allow_module_level=True)
torch.ops.load_library(LIB)
ops = torch.ops.ssm


def s4d_inputs(B, N, dtype=torch.complex128, device="cpu"):
    dt = torch.exp(torch.empty(B, 1, dtype=torch.float64).uniform_(-6.9, -2.3))
    A = torch.complex(-0.5 * torch.ones(B, N, dtype=torch.float64),
                      torch.pi * torch.arange(N, dtype=torch.float64).expand(B, N))
    v = torch.randn(B, N, dtype=torch.complex128)
    return v.to(dtype).to(device), (dt * A).to(dtype).to(device)


def test_bad_input_message():
    u = torch.randn(2, 3, 10)
    with pytest.raises(RuntimeError, match=r"argument 'k' must have length 1 <= Lk <= L = 10"):
        ops.fft_conv(u, torch.randn(3, 11))
    with pytest.raises(RuntimeError, match=r"argument 'L' must be >= 1"):
        ops.vandermonde(*s4d_inputs(1, 2), 0)


def dft_factors(n, channels=0, noise=0.0):
    """The exact DFT matrix of every butterfly stage of n (the radices as ssm::butterfly_radices picks them)."""
    primes, rest = [], n
    for p in (7, 5, 3, 2):
        while rest % p == 0:
            primes.append(p)
            rest //= p
    radices = []
    for p in primes:
        for i, r in enumerate(radices):
            if r * p <= 16:
                radices[i] *= p
                break
        else:
            radices.append(p)
    out = []
    for r in sorted(radices):
        idx = torch.arange(r, dtype=torch.float64)
        F = torch.exp(-2j * torch.pi * torch.outer(idx, idx) / r)
        if channels:
            F = F.expand(channels, r, r).clone()
        out.append(F + noise * torch.randn(F.shape, dtype=torch.complex128))
    return out


def test_butterfly_conv_gradcheck_with_learned_factors():
    u = torch.randn(2, 3, 40, dtype=torch.float64, requires_grad=True)
    k = torch.randn(3, 40, dtype=torch.float64, requires_grad=True)
    D = torch.randn(3, dtype=torch.float64, requires_grad=True)
    for channels in (0, 3):
        factors = [F.requires_grad_(True) for F in dft_factors(79 + 1, channels, noise=0.05)]  # n = 80: 8 * 10
        assert torch.autograd.gradcheck(lambda a, b, c, *f: ops.butterfly_conv(a, b, c, None, list(f)),
                                        (u, k, D, *factors))


def test_butterfly_plan_from_python():
    assert list(ops.butterfly_radices(2048)) == [8, 16, 16]
    assert ops.fft_conv_size(784, 784) == 1568 and ops.fft_conv_size(1000, 1000, True) == 2000
    for n in (2, 14, 80, 1568, 3000, 65536):
        mine = dft_factors(n)
        theirs = ops.butterfly_dft_factors(n, torch.complex128)
        assert [tuple(F.shape) for F in theirs] == [tuple(F.shape) for F in mine]
        for a, b in zip(theirs, mine):
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    per_channel = ops.butterfly_dft_factors(80, torch.complex64, 3)
    assert [tuple(F.shape) for F in per_channel] == [(3, 8, 8), (3, 10, 10)]
    with pytest.raises(RuntimeError, match=r"n = 22 is not a product of 2, 3, 5 and 7"):
        ops.butterfly_radices(22)
