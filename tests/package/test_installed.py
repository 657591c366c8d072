"""The installed ssm package (tests/package/test_package.sh installs it into a clean virtual environment): import,
the build record and the torch version guard, every op wrapper against its own float64 reference (so that a wrapper
passing its arguments in the wrong order fails), torch.compile through the wrappers."""
import os
import re
import subprocess
import sys

import pytest
import torch

import ssm

SOURCE = os.environ.get("SSM_SOURCE_DIR")


def test_imported_from_the_installed_package_not_the_checkout():
    assert "site-packages" in ssm.__file__, ssm.__file__
    assert os.path.dirname(ssm.library_path()) == os.path.join(os.path.dirname(ssm.__file__), "lib")
    assert os.path.realpath(torch.ops.ssm.library_path()) == os.path.realpath(ssm.library_path())


def test_build_record():
    info = ssm.build_info()
    if SOURCE:
        cmake = open(os.path.join(SOURCE, "CMakeLists.txt")).read()
        assert ssm.__version__ == re.search(r"project\(ssm VERSION ([0-9.]+)", cmake).group(1)
    assert info["torch"] == torch.__version__
    cuda = "none" if info["cuda"] is None else info["cuda"]
    assert torch.ops.ssm.build_info() == f"ssm {ssm.__version__}; torch {torch.__version__.split('+')[0]}; cuda {cuda}"


def import_with(patch):
    """`import ssm` in a fresh interpreter after `patch` (Python source) ran on the imported torch."""
    code = f"import torch\n{patch}\nimport ssm\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_a_different_torch_is_refused_with_both_versions():
    r = import_with("torch.__version__ = '2.10.0+cpu'")
    assert r.returncode != 0
    assert "ImportError" in r.stderr
    assert f"built against torch {torch.__version__}" in r.stderr, r.stderr
    assert "this Python runs torch 2.10.0+cpu" in r.stderr, r.stderr
    assert "undefined symbol" not in r.stderr


def test_the_local_version_label_alone_is_accepted():
    release = torch.__version__.split("+")[0]
    r = import_with(f"torch.__version__ = '{release}+other'")
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(ssm.build_info()["cuda"] is None, reason="built without CUDA kernels")
def test_cuda_kernels_need_a_cuda_torch_of_the_same_major_version():
    r = import_with("torch.version.cuda = None")
    assert r.returncode != 0 and "has no CUDA" in r.stderr and ssm.build_info()["cuda"] in r.stderr, r.stderr
    r = import_with("torch.version.cuda = '11.8'")
    assert r.returncode != 0 and "uses CUDA 11.8" in r.stderr, r.stderr


def test_the_guard_itself():
    built = {"version": "0.1.0", "torch": "2.11.0+cu130", "cuda": "13.0.88"}
    ssm._check_torch(built, "2.11.0+cu130", "13.0")
    ssm._check_torch(built, "2.11.0", "13.1")
    for running, cuda, message in [("2.12.0+cu130", "13.0", "runs torch 2.12.0"), ("2.11.0+cpu", None, "has no CUDA"),
                                   ("2.11.0+cu126", "12.6", "uses CUDA 12.6")]:
        with pytest.raises(ImportError, match=message):
            ssm._check_torch(built, running, cuda)
    ssm._check_torch({"version": "0.1.0", "torch": "2.11.0", "cuda": None}, "2.11.0+cpu", None)


# ---- every wrapper against a float64 reference written here -------------------------------------------------------

def d(*shape):
    return torch.randn(*shape, dtype=torch.float64)


def test_vandermonde():
    B, N, L = 3, 4, 11
    v = torch.randn(B, N, dtype=torch.complex128)
    x = torch.complex(-torch.rand(B, N, dtype=torch.float64), torch.randn(B, N, dtype=torch.float64))
    l = torch.arange(L, dtype=torch.float64)
    ref = 2 * (v.unsqueeze(-1) * torch.exp(x.unsqueeze(-1) * l)).sum(1).real
    torch.testing.assert_close(ssm.ops.vandermonde(v, x, L), ref)


def conv_ref(u, k, D=None, k_rev=None):
    B, H, L = u.shape
    y = torch.zeros_like(u)
    for l in range(L):
        for j in range(L):
            if j <= l and l - j < k.shape[1]:
                y[:, :, l] += k[:, l - j] * u[:, :, j]
            if k_rev is not None and j > l and j - l - 1 < k_rev.shape[1]:
                y[:, :, l] += k_rev[:, j - l - 1] * u[:, :, j]
    return y if D is None else y + D[:, None] * u


def test_fft_conv_and_butterfly_conv():
    u, k, D, kr = d(2, 3, 13), d(3, 5), d(3), d(3, 5)
    for args in [(u, k), (u, k, D), (u, k, D, kr), (u, k, None, kr)]:
        ref = conv_ref(*args)
        torch.testing.assert_close(ssm.ops.fft_conv(*args), ref)
        torch.testing.assert_close(ssm.ops.butterfly_conv(*args), ref)
    assert ssm.ops.fft_conv_size(16, 6) == 21 and ssm.ops.fft_conv_size(16, 6, True) == 24  # >= 21, >= 22
    n = ssm.ops.fft_conv_size(13, 5, True)  # >= 18
    factors = ssm.ops.butterfly_dft_factors(n, torch.complex128)
    assert [f.shape[0] for f in factors] == ssm.ops.butterfly_radices(n)
    torch.testing.assert_close(ssm.ops.butterfly_conv(u, k, D, kr, factors), conv_ref(u, k, D, kr))


def test_diag_scan():
    B, L, P = 2, 7, 3
    a, b, h0 = d(B, L, P), d(B, L, P), d(B, P)
    for reverse in (False, True):
        x, ref = h0, torch.empty(B, L, P, dtype=torch.float64)
        for t in (reversed(range(L)) if reverse else range(L)):
            x = a[:, t] * x + b[:, t]
            ref[:, t] = x
        torch.testing.assert_close(ssm.ops.diag_scan(a, b, reverse, h0), ref)


def test_selective_scan():
    Bt, Dm, L, N = 2, 3, 6, 4
    u, delta, z = d(Bt, Dm, L), d(Bt, Dm, L), d(Bt, Dm, L)
    A, B, C = -torch.rand(Dm, N, dtype=torch.float64), d(Bt, N, L), d(Bt, N, L)
    D, bias, h0 = d(Dm), d(Dm), d(Bt, Dm, N)
    lengths = torch.tensor([L, 4])
    dt = torch.nn.functional.softplus(delta + bias[:, None])
    out, ref = ssm.ops.selective_scan(u, delta, A, B, C, D, z, bias, True, h0, lengths)
    x, last = h0, torch.empty(Bt, Dm, N, dtype=torch.float64)
    expected = torch.zeros(Bt, Dm, L, dtype=torch.float64)
    for t in range(L):
        x = torch.exp(dt[:, :, t, None] * A) * x + dt[:, :, t, None] * B[:, None, :, t] * u[:, :, t, None]
        y = (C[:, None, :, t] * x).sum(-1) + D * u[:, :, t]
        for b in range(Bt):
            if t < lengths[b]:
                expected[b, :, t] = y[b] * torch.nn.functional.silu(z[b, :, t])
                last[b] = x[b]
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(ref, last)


def test_selective_scan_2d():
    b, V, T, E, N, lag = 2, 3, 5, 2, 3, 2
    x, dt1, dt2 = d(b, V, T, E), torch.rand(b, V, T, E, dtype=torch.float64), torch.rand(b, V, T, E, dtype=torch.float64)
    A = [-torch.rand(E, N, dtype=torch.float64) for _ in range(4)]
    B1, B2, C1, C2, D = d(b, V, T, N), d(b, V, T, N), d(b, V, T, N), d(b, V, T, N), d(E)
    for reverse in (False, True):
        h1 = torch.zeros(b, V, T, E, N, dtype=torch.float64)
        h2 = torch.zeros_like(h1)
        for t in range(T):
            for v in (reversed(range(V)) if reverse else range(V)):
                p = v + 1 if reverse else v - 1
                e1, e2 = dt1[:, v, t, :, None], dt2[:, v, t, :, None]
                n1 = e1 * B1[:, v, t, None, :] * x[:, v, t, :, None]
                n2 = e2 * B2[:, v, t, None, :] * x[:, v, t, :, None]
                if t >= lag:
                    n1 = n1 + torch.exp(e1 * A[0]) * h1[:, v, t - lag] + torch.exp(e1 * A[1]) * h2[:, v, t - lag]
                if 0 <= p < V:
                    n2 = n2 + torch.exp(e2 * A[2]) * h1[:, p, t] + torch.exp(e2 * A[3]) * h2[:, p, t]
                h1[:, v, t], h2[:, v, t] = n1, n2
        ref = (h1 * C1[:, :, :, None, :]).sum(-1) + (h2 * C2[:, :, :, None, :]).sum(-1) + D * x
        got = ssm.ops.selective_scan_2d(x, dt1, dt2, *A, B1, B2, C1, C2, D, lag, reverse)
        torch.testing.assert_close(got, ref)


def test_bad_input_names_the_argument():
    with pytest.raises(RuntimeError, match=r"argument 'k' must have length 1 <= Lk <= L = 10"):
        ssm.ops.fft_conv(torch.randn(2, 3, 10), torch.randn(3, 11))


def test_compile_fullgraph_through_the_wrappers():
    def f(u, k, D):
        y = ssm.ops.fft_conv(u, k, D)
        return ssm.ops.diag_scan(torch.sigmoid(D), y.transpose(1, 2)).sum()

    u, k, D = (t.requires_grad_() for t in (torch.randn(2, 3, 16), torch.randn(3, 16), torch.randn(3)))
    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    eager_grads = torch.autograd.grad(f(u, k, D), (u, k, D))
    out = compiled(u, k, D)
    torch.testing.assert_close(out, f(u, k, D))
    for g, e in zip(torch.autograd.grad(out, (u, k, D)), eager_grads):
        torch.testing.assert_close(g, e)
