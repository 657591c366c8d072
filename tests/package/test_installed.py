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


# ---- ssm.nn against the C++ layers ---------------------------------------------------------------------------------

REFERENCES = os.environ.get("SSM_LAYER_REFERENCE_DIR")
LAYERS = {"s4d": ssm.nn.S4D, "s5": ssm.nn.S5, "longconv": ssm.nn.LongConv, "mamba": ssm.nn.Mamba, "chimera": ssm.nn.Chimera}


def reference_files():
    if not REFERENCES or not os.path.isdir(REFERENCES):
        return []
    return sorted(os.path.join(REFERENCES, f) for f in os.listdir(REFERENCES) if f.startswith(tuple(LAYERS)))


@pytest.mark.skipif(not REFERENCES, reason="SSM_LAYER_REFERENCE_DIR is not set (ctest sets it)")
def test_the_references_are_there():
    names = [os.path.basename(f) for f in reference_files()]
    for init in ("lin", "inv", "real", "legs", "ptd", "legt", "fout"):
        assert any(n.startswith("s4d_") and n.endswith(f"_{init}.pt") for n in names), names
    for init in ("hippo_n", "ptd"):
        assert any(n.startswith("s5_") and n.endswith(f"_{init}.pt") for n in names), names
    assert sum(n.startswith("longconv_") for n in names) == 5, names
    assert sum(n.startswith("mamba_") for n in names) == 3, names
    assert sum(n.startswith("chimera_") for n in names) == 3, names


@pytest.mark.parametrize("path", reference_files(), ids=os.path.basename)
def test_python_layer_with_the_cpp_weights_gives_the_cpp_output(path):
    ref = torch.load(path, weights_only=True)
    layer = LAYERS[ref["layer"]](**ref["options"])
    assert set(dict(layer.named_parameters())) == set(ref["state_dict"])
    layer.load_state_dict(ref["state_dict"], strict=True)
    layer.eval()
    extra = {k: ref[k] for k in ("lengths", "variates") if k in ref}
    torch.testing.assert_close(layer(ref["input"], **extra), ref["output"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("path", [p for p in reference_files() if os.path.basename(p).startswith("s4d_")
                                  and not p.endswith("_ptd.pt")], ids=os.path.basename)
def test_python_s4d_draws_the_engines_state_matrix(path):
    # A (A_log_re, A_im) is deterministic for every init but PTD: the Python layer's must be the engine's.
    ref = torch.load(path, weights_only=True)
    layer = ssm.nn.S4D(**ref["options"])
    torch.testing.assert_close(layer.A_log_re, ref["state_dict"]["A_log_re"], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(layer.A_im, ref["state_dict"]["A_im"], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("init", ["lin", "inv", "real", "legs", "legt", "fout"])
def test_python_initializations_have_the_cpp_shapes_and_ranges(init):
    torch.manual_seed(0)
    layer = ssm.nn.S4D(d_model=7, d_state=10, init=init, bidirectional=True, dt_min=0.01, dt_max=0.2)
    shapes = {k: tuple(v.shape) for k, v in layer.named_parameters()}
    assert shapes == {"log_dt": (7,), "A_log_re": (7, 5), "A_im": (7, 5), "C": (2, 7, 5, 2), "D": (7,),
                      "output.out.weight": (14, 7), "output.out.bias": (14,)}
    dt = torch.exp(layer.log_dt)
    assert dt.min() >= 0.01 - 1e-6 and dt.max() <= 0.2 + 1e-6
    assert torch.all(torch.exp(layer.A_log_re) > 0)
    y = layer(torch.randn(3, 20, 7))
    assert y.shape == (3, 20, 7) and torch.isfinite(y).all()
    if init == "legs":  # S4D-LegS: Re A = -1/2, Im A the positive eigenvalues of the skew part of HiPPO-LegS
        torch.testing.assert_close(torch.exp(layer.A_log_re), torch.full((7, 5), 0.5))
        assert torch.all(layer.A_im > 0)


def test_an_unloaded_ptd_layer_is_an_error():
    layer = ssm.nn.S4D(d_model=4, d_state=6, init="ptd")
    with pytest.raises(RuntimeError, match="computed by the engine"):
        layer(torch.randn(1, 5, 4))


CLI = os.environ.get("SSM_CLI")


@pytest.mark.skipif(not CLI, reason="SSM_CLI is not set (ctest sets it)")
def test_an_exported_checkpoint_loads_with_weights_only_into_the_python_layers(tmp_path):
    with open(tmp_path / "toy.csv", "w") as f:
        f.write("x,OT\n" + "".join(f"{i % 7},{i % 5}\n" for i in range(300)))
    (tmp_path / "empty.yaml").write_text("")
    sets = ["data.task=forecast", f"data.root={tmp_path}", "data.forecast.file=toy.csv", "data.forecast.lookback=12",
            "data.forecast.horizon=4", "model.d_model=8", "model.n_layers=2", "model.d_state=4",
            "model.s4d.init=legs", "trainer.max_steps=3", "trainer.threads=1", f"trainer.out_dir={tmp_path / 'run'}"]
    args = [CLI, "train", str(tmp_path / "empty.yaml"), "--quiet"] + [a for s in sets for a in ("--set", s)]
    subprocess.run(args, check=True, capture_output=True)
    r = subprocess.run([CLI, "export", str(tmp_path / "run" / "best.pt")], check=True, capture_output=True, text=True)
    out = tmp_path / "run" / "best.state_dict.pt"
    assert str(out) in r.stdout
    data = ssm.nn.load_export(str(out))
    assert data["step"] == 3 and "torch" in data["versions"]
    import yaml
    config = yaml.safe_load(data["config"])
    assert config["model"]["d_model"] == 8 and config["model"]["s4d"]["init"] == "legs"
    for i in range(2):
        layer = ssm.nn.S4D(d_model=8, d_state=4, init="legs")
        weights = ssm.nn.layer_state_dict(data["state_dict"], f"backbone.block{i}")
        layer.load_state_dict(weights, strict=True)
        assert torch.isfinite(layer(torch.randn(2, 12, 8))).all()
    with pytest.raises(KeyError, match="no weights under 'backbone.block9.'"):
        ssm.nn.layer_state_dict(data["state_dict"], "backbone.block9")
    with pytest.raises(ValueError, match="not a file of ssm export"):
        torch.save({"x": 1}, tmp_path / "other.pt")
        ssm.nn.load_export(str(tmp_path / "other.pt"))


def test_s5_and_long_conv_initializations():
    torch.manual_seed(0)
    s5 = ssm.nn.S5(d_model=6, d_state=8, blocks=2, bidirectional=True, dt_min=0.01, dt_max=0.2)
    shapes = {k: tuple(v.shape) for k, v in s5.named_parameters()}
    assert shapes == {"Lambda_re": (8,), "Lambda_im": (8,), "log_step": (8,), "B": (8, 6, 2), "C": (2, 6, 8, 2),
                      "D": (6,), "output.out.weight": (12, 6), "output.out.bias": (12,)}
    torch.testing.assert_close(s5.Lambda_re, torch.full((8,), -0.5))  # HiPPO-N: Re Lambda = -1/2, blocks repeat
    torch.testing.assert_close(s5.Lambda_im[:4], s5.Lambda_im[4:])
    assert torch.all(s5.Lambda_im > 0)
    assert torch.isfinite(s5(torch.randn(2, 9, 6))).all()
    with pytest.raises(RuntimeError, match="computed by the engine"):
        ssm.nn.S5(d_model=3, d_state=4, init="ptd")(torch.randn(1, 5, 3))
    with pytest.raises(ValueError, match="positive multiple of blocks"):
        ssm.nn.S5(d_state=6, blocks=4)
    lc = ssm.nn.LongConv(d_model=4, max_length=30, conv="butterfly", learn_butterfly=True, init="double_exp")
    names = [k for k, _ in lc.named_parameters()]
    radices = ssm.ops.butterfly_radices(ssm.ops.fft_conv_size(30, 30))
    assert names[:2] == ["kernel", "D"] and names[2:2 + len(radices)] == [f"butterfly{i}" for i in range(len(radices))]
    assert [tuple(getattr(lc, f"butterfly{i}").shape) for i in range(len(radices))] == [(4, r, r, 2) for r in radices]
    # Exact DFT factors at the start: the layer is the exact convolution.
    u = torch.randn(2, 17, 4)
    exact = ssm.nn.LongConv(d_model=4, max_length=30, init="double_exp")
    exact.load_state_dict({k: v for k, v in lc.state_dict().items() if not k.startswith("butterfly")})
    torch.testing.assert_close(lc(u), exact(u), rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="exceeds the kernel length 30"):
        exact(torch.randn(1, 31, 4))


@pytest.mark.parametrize("make", [
    lambda: (ssm.nn.S4D(d_model=4, d_state=4, bidirectional=True), {}),
    lambda: (ssm.nn.S5(d_model=4, d_state=4, bidirectional=True), {}),
    lambda: (ssm.nn.LongConv(d_model=4, max_length=12, conv="butterfly", learn_butterfly=True), {}),
    lambda: (ssm.nn.Mamba(d_model=4, d_state=3, bidirectional=True), {"lengths": torch.tensor([12, 7])}),
    lambda: (ssm.nn.Chimera(d_model=4, d_state=3, season_lag=2), {"variates": 2}),
], ids=["s4d", "s5", "longconv", "mamba", "chimera"])
def test_layers_compile_fullgraph_with_eager_outputs_and_gradients(make):
    torch.manual_seed(0)
    layer, extra = make()
    u = torch.randn(2, 12, 4, requires_grad=True)
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    out, ref = compiled(u, **extra), layer(u, **extra)
    torch.testing.assert_close(out, ref)
    params = [u] + list(layer.parameters())
    for g, e in zip(torch.autograd.grad(out.square().sum(), params), torch.autograd.grad(ref.square().sum(), params)):
        torch.testing.assert_close(g, e)


# ---- torch.func: grad (against autograd), vmap (against a loop), nested transforms refused ------------------------

def func_cases():
    """(name, f(*tensors) -> Tensor, tensors) for every op, float64, every optional input given."""
    v = torch.randn(2, 3, dtype=torch.complex128)
    x = torch.complex(-torch.rand(2, 3, dtype=torch.float64), torch.randn(2, 3, dtype=torch.float64))
    u, k, D, kr = d(2, 3, 10), d(3, 4), d(3), d(3, 4)
    n = ssm.ops.fft_conv_size(10, 4, True)
    F = [f + 0.01 * torch.randn_like(f) for f in ssm.ops.butterfly_dft_factors(n, torch.complex128)]
    a, b, h0 = torch.rand(2, 6, 4, dtype=torch.float64), d(2, 6, 4), d(2, 4)
    Bt, Dm, L, N = 2, 3, 5, 2
    ss = (d(Bt, Dm, L), d(Bt, Dm, L), -torch.rand(Dm, N, dtype=torch.float64), d(Bt, N, L), d(Bt, N, L), d(Dm),
          d(Bt, Dm, L), d(Dm), d(Bt, Dm, N))
    b2, V, T, E, N2 = 1, 2, 4, 2, 2
    s2 = (d(b2, V, T, E), torch.rand(b2, V, T, E, dtype=torch.float64), torch.rand(b2, V, T, E, dtype=torch.float64),
          *[-torch.rand(E, N2, dtype=torch.float64) for _ in range(4)], *[d(b2, V, T, N2) for _ in range(4)], d(E))
    lengths = torch.tensor([L, 3])
    return [
        ("vandermonde", lambda v, x: ssm.ops.vandermonde(v, x, 7), (v, x)),
        ("fft_conv", lambda u, k, D, kr: ssm.ops.fft_conv(u, k, D, kr), (u, k, D, kr)),
        ("butterfly_conv", lambda u, k, D, kr, *F: ssm.ops.butterfly_conv(u, k, D, kr, F), (u, k, D, kr, *F)),
        ("diag_scan", lambda a, b, h0: ssm.ops.diag_scan(a, b, True, h0), (a, b, h0)),
        ("selective_scan", lambda *t: (lambda o: o[0].sum(-1, keepdim=True) * o[1].sum())(
            ssm.ops.selective_scan(*t[:8], True, t[8], lengths)), ss),
        ("selective_scan_2d", lambda *t: ssm.ops.selective_scan_2d(*t, lag=2, reverse_variates=True), s2),
    ]


@pytest.mark.parametrize("case", func_cases(), ids=lambda c: c[0])
def test_torch_func_grad_matches_autograd(case):
    name, f, tensors = case
    loss = lambda *t: f(*t).abs().square().sum()
    argnums = tuple(range(len(tensors)))
    got = torch.func.grad(loss, argnums=argnums)(*tensors)
    leaves = [t.clone().requires_grad_() for t in tensors]
    expected = torch.autograd.grad(loss(*leaves), leaves)
    for i, (g, e) in enumerate(zip(got, expected)):
        torch.testing.assert_close(g, e, msg=lambda m: f"{name}: input {i}: {m}")


@pytest.mark.parametrize("case", func_cases(), ids=lambda c: c[0])
def test_torch_func_vmap_matches_a_loop(case):
    name, f, tensors = case
    batched = [torch.stack([t, t + 0.1 * torch.randn_like(t)]) for t in tensors[:2]]
    got = torch.func.vmap(lambda p, q: f(p, q, *tensors[2:]))(*batched)
    torch.testing.assert_close(got, torch.stack([f(batched[0][i], batched[1][i], *tensors[2:]) for i in range(2)]))


def test_torch_func_grad_of_vmap_and_jacrev():
    a, b = torch.rand(4, dtype=torch.float64), d(3, 5, 4)
    per_example = torch.func.vmap(torch.func.grad(lambda a, b: ssm.ops.diag_scan(a, b[None]).square().sum()),
                                  in_dims=(None, 0))(a, b)
    for i in range(3):
        leaf = a.clone().requires_grad_()
        ssm.ops.diag_scan(leaf, b[i:i + 1]).square().sum().backward()
        torch.testing.assert_close(per_example[i], leaf.grad)
    jac = torch.func.jacrev(lambda a: ssm.ops.diag_scan(a, b).sum((0, 1)))(a)
    assert jac.shape == (4, 4) and torch.allclose(jac, torch.diag(torch.diagonal(jac)))  # channels are independent


def test_torch_func_nested_differentiation_is_a_clear_error():
    a, b = torch.rand(4, dtype=torch.float64), d(1, 5, 4)
    f = lambda a: ssm.ops.diag_scan(a, b).square().sum()
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.func.hessian(f)(a)
    with pytest.raises(RuntimeError, match="first derivatives only"):
        torch.func.grad(lambda a: torch.func.grad(f)(a).sum())(a)


# ---- bad input: the layers' options and inputs, the build backend's settings --------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: ssm.nn.S4D(d_state=5), "d_state must be an even number"),
    (lambda: ssm.nn.S4D(init="hippo"), "init must be lin, inv, real, legs, legt, fout or ptd"),
    (lambda: ssm.nn.S4D(discretization="euler"), "discretization must be zoh or bilinear"),
    (lambda: ssm.nn.S5(init="legs"), "init must be hippo_n or ptd"),
    (lambda: ssm.nn.S5(dt_min=0.2, dt_max=0.1), "need 0 < dt_min <= dt_max"),
    (lambda: ssm.nn.LongConv(learn_butterfly=True), "learn_butterfly needs conv = butterfly"),
    (lambda: ssm.nn.LongConv(init="zeros"), "init must be randn or double_exp"),
    (lambda: ssm.nn.Mamba(d_conv=0), "d_conv must be >= 1"),
    (lambda: ssm.nn.Mamba(dt_rank=-1), "dt_rank must be >= 0"),
    (lambda: ssm.nn.Chimera(heads="all"), "heads must be both, trend or season"),
    (lambda: ssm.nn.Chimera(season_dt_min=0), "need 0 < season_dt_min <= season_dt_max"),
])
def test_bad_layer_options_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_layer_inputs_are_named():
    for layer in (ssm.nn.S4D(d_model=4, d_state=4), ssm.nn.S5(d_model=4, d_state=4), ssm.nn.LongConv(d_model=4),
                  ssm.nn.Mamba(d_model=4), ssm.nn.Chimera(d_model=4)):
        with pytest.raises(ValueError, match=r"input must have shape \(B.*4\), got \(2, 5, 3\)"):
            layer(torch.randn(2, 5, 3))
    with pytest.raises(ValueError, match="rows must be whole groups of variates = 2"):
        ssm.nn.Chimera(d_model=4)(torch.randn(3, 5, 4), variates=2)


@pytest.mark.skipif(not SOURCE, reason="SSM_SOURCE_DIR is not set (the package test sets it)")
def test_the_build_backend_names_a_bad_setting_and_a_missing_torch(monkeypatch):
    sys.path.insert(0, os.path.join(SOURCE, "scripts", "python"))
    try:
        import ssm_build
    finally:
        sys.path.pop(0)
    with pytest.raises(ssm_build.BuildError, match="setting 'cuda' \\(SSM_CUDA\\) must be AUTO, ON or OFF, got 'MAYBE'"):
        ssm_build._build({"cuda": "maybe"})
    no_torch = "/usr/bin/python3"
    if subprocess.run([no_torch, "-c", "import torch"], capture_output=True).returncode == 0:
        pytest.skip(f"{no_torch} has torch")
    monkeypatch.setattr(ssm_build.sys, "executable", no_torch)
    with pytest.raises(ssm_build.BuildError, match="builds its ops against the torch installed in this environment"):
        ssm_build._torch()
