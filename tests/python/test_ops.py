"""The ops from Python: torch.ops.load_library, then torch.ops.ssm.*; registration checks and gradcheck."""
import os

import pytest
import torch

LIB = os.environ.get("SSM_OPS_LIBRARY")
if not LIB:
    pytest.skip("SSM_OPS_LIBRARY is not set (ctest sets it)", allow_module_level=True)
torch.ops.load_library(LIB)
ops = torch.ops.ssm

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def s4d_inputs(B, N, dtype=torch.complex128, device="cpu"):
    dt = torch.exp(torch.empty(B, 1, dtype=torch.float64).uniform_(-6.9, -2.3))
    A = torch.complex(-0.5 * torch.ones(B, N, dtype=torch.float64),
                      torch.pi * torch.arange(N, dtype=torch.float64).expand(B, N))
    v = torch.randn(B, N, dtype=torch.complex128)
    return v.to(dtype).to(device), (dt * A).to(dtype).to(device)


def vandermonde_ref(v, x, L):
    l = torch.arange(L, dtype=torch.float64)
    return 2 * (v.cdouble().unsqueeze(-1) * torch.exp(x.cdouble().unsqueeze(-1) * l)).sum(1).real


def conv_ref(u, k, D=None, k_rev=None):
    u, k = u.double(), k.double()
    L, Lk = u.shape[-1], k.shape[-1]
    y = torch.zeros_like(u)
    for m in range(Lk):
        y[..., m:] += k[:, m, None] * u[..., : L - m]
        if k_rev is not None and m + 1 < L:
            y[..., : L - m - 1] += k_rev.double()[:, m, None] * u[..., m + 1:]
    if D is not None:
        y += D.double()[:, None] * u
    return y


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("B,N,L", [(1, 1, 1), (3, 5, 7), (2, 64, 1000), (4, 33, 4097)])
def test_vandermonde_forward(device, B, N, L):
    v, x = s4d_inputs(B, N, device=device)
    out = ops.vandermonde(v, x, L)
    assert out.dtype == torch.float64 and out.shape == (B, L)
    torch.testing.assert_close(out.cpu(), vandermonde_ref(v.cpu(), x.cpu(), L), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("device", DEVICES)
def test_vandermonde_gradcheck(device):
    v, x = s4d_inputs(2, 3, device=device)
    v.requires_grad_(True)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b: ops.vandermonde(a, b, 9), (v, x))


@pytest.mark.parametrize("op", ["fft_conv", "butterfly_conv"])
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("B,H,L,Lk", [(1, 1, 1, 1), (2, 3, 37, 20), (2, 4, 256, 256), (2, 4, 300, 300)])
def test_conv_forward(op, device, bidirectional, B, H, L, Lk):
    dtype = torch.float64 if device == "cpu" else torch.float32
    u = torch.randn(B, H, L, dtype=dtype, device=device)
    k = torch.randn(H, Lk, dtype=dtype, device=device) / Lk
    D = torch.randn(H, dtype=dtype, device=device)
    k_rev = torch.randn(H, Lk, dtype=dtype, device=device) / Lk if bidirectional else None
    y = getattr(ops, op)(u, k, D, k_rev)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(y.double().cpu(), conv_ref(u.cpu(), k.cpu(), D.cpu(),
                                                          None if k_rev is None else k_rev.cpu()),
                               rtol=tol, atol=tol)


def test_fft_conv_gradcheck():
    u = torch.randn(2, 3, 11, dtype=torch.float64, requires_grad=True)
    k = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    D = torch.randn(3, dtype=torch.float64, requires_grad=True)
    k_rev = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(ops.fft_conv, (u, k, D, k_rev))
    assert torch.autograd.gradcheck(lambda a, b: ops.fft_conv(a, b), (u, k))


def test_opcheck_registration():
    v, x = s4d_inputs(2, 4)
    v.requires_grad_(True)
    x.requires_grad_(True)
    tests = ("test_schema", "test_autograd_registration", "test_faketensor")
    torch.library.opcheck(ops.vandermonde, (v, x, 16), test_utils=tests)
    u = torch.randn(2, 3, 16, dtype=torch.float64, requires_grad=True)
    k = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(ops.fft_conv, (u, k, None, None), test_utils=tests)
    torch.library.opcheck(ops.fft_conv, (u, k, torch.randn(3, dtype=torch.float64), k.detach().clone()),
                          test_utils=tests)


def test_bad_input_message():
    u = torch.randn(2, 3, 10)
    with pytest.raises(RuntimeError, match=r"argument 'k' must have length 1 <= Lk <= L = 10"):
        ops.fft_conv(u, torch.randn(3, 11))
    with pytest.raises(RuntimeError, match=r"argument 'L' must be >= 1"):
        ops.vandermonde(*s4d_inputs(1, 2), 0)


def scan_ref(a, b, reverse=False, h0=None):
    B, L, P = b.shape
    x = torch.empty_like(b, dtype=torch.complex128 if b.is_complex() else torch.float64)
    s = h0.to(x.dtype).clone() if h0 is not None else torch.zeros(B, P, dtype=x.dtype)
    for step in range(L):
        l = L - 1 - step if reverse else step
        al = a[:, l] if a.dim() == 3 else a
        s = al.to(x.dtype) * s + b[:, l].to(x.dtype)
        x[:, l] = s
    return x


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.complex128, torch.float64])
@pytest.mark.parametrize("varying", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_diag_scan_forward_and_gradcheck(device, dtype, varying, reverse):
    B, L, P = 2, 9, 3
    shape = (B, L, P) if varying else (P,)
    a = (torch.rand(shape, dtype=torch.float64) * 0.5 + 0.4).to(dtype)
    if dtype.is_complex:
        a = a * torch.exp(1j * torch.rand(shape, dtype=torch.float64) * 6.28)
    b = torch.randn(B, L, P, dtype=dtype)
    h0 = torch.randn(B, P, dtype=dtype)
    x = ops.diag_scan(a.to(device), b.to(device), reverse, h0.to(device))
    torch.testing.assert_close(x.cpu(), scan_ref(a, b, reverse, h0), rtol=1e-10, atol=1e-10)
    args = tuple(t.to(device).requires_grad_(True) for t in (a, b, h0))
    assert torch.autograd.gradcheck(lambda a_, b_, h_: ops.diag_scan(a_, b_, reverse, h_), args)


def test_diag_scan_opcheck():
    a = torch.rand(4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 5, 4, dtype=torch.float64, requires_grad=True)
    tests = ("test_schema", "test_autograd_registration", "test_faketensor")
    torch.library.opcheck(ops.diag_scan, (a, b, False, None), test_utils=tests)
    torch.library.opcheck(ops.diag_scan, (a, b, True, torch.randn(2, 4, dtype=torch.float64)), test_utils=tests)


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


def test_butterfly_conv_opcheck():
    tests = ("test_schema", "test_autograd_registration", "test_faketensor")
    u = torch.randn(2, 3, 16, dtype=torch.float64, requires_grad=True)
    k = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    torch.library.opcheck(ops.butterfly_conv, (u, k, None, None, None), test_utils=tests)
    factors = [F.requires_grad_(True) for F in dft_factors(24, 3, noise=0.05)]  # n = 16 + 8 - 1 -> 24
    torch.library.opcheck(ops.butterfly_conv, (u, k, torch.randn(3, dtype=torch.float64), None, factors),
                          test_utils=tests)
