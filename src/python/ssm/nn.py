"""torch.nn modules of ssm's sequence layers, on the ssm ops, with the C++ layers' parameter names, shapes and
initializations: the weights of a layer trained with ``ssm train`` (``ssm export``) load into them with
``load_state_dict(strict=True)`` and give the C++ layer's outputs.

Layers map (B, L, H) to (B, L, H), as in the engine.
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional

import torch
from torch import Tensor, nn

from . import ops

__all__ = ["OutputStage", "S4D", "S5", "LongConv", "Mamba", "Chimera", "layer_state_dict", "load_export"]


class OutputStage(nn.Module):
    """GELU, dropout, a linear map H -> 2H and a GLU over the last axis, as S4D, S5 and long conv end."""

    def __init__(self, d_model: int, dropout: float = 0.0):
        super().__init__()
        self.out = nn.Linear(d_model, 2 * d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, y: Tensor) -> Tensor:
        return nn.functional.glu(self.out(self.drop(nn.functional.gelu(y))), -1)


def _s4d_legs(N: int, with_vectors: bool = False):
    """The diagonal part of HiPPO-LegS (S4D-LegS): A = -1/2 + i w for the N/2 positive w, B = V^* B_LegS (and the
    eigenvectors V, (N, N/2))."""
    q = torch.sqrt(2 * torch.arange(N, dtype=torch.float64) + 1)
    A = -torch.tril(torch.outer(q, q), -1) - torch.diag(torch.arange(N, dtype=torch.float64) + 1)
    P = torch.sqrt(torch.arange(N, dtype=torch.float64) + 0.5)
    skew = A + torch.outer(P, P) + 0.5 * torch.eye(N, dtype=torch.float64)
    w, V = torch.linalg.eigh(skew.to(torch.complex128) * -1j)
    w, V = w[N // 2:], V[:, N // 2:]
    A, B = torch.complex(torch.full_like(w, -0.5), w), V.conj().T @ q.to(torch.complex128)
    return (A, B, V) if with_vectors else (A, B)


def _hippo(measure: str, N: int):
    """HiPPO-LegS, -LegT or -FouT (A, B) in float64 and the rows P (r, N) of the low-rank correction that leaves
    A + P^T P normal (the engine's layers/hippo.h)."""
    f64 = torch.float64
    q = torch.sqrt(2 * torch.arange(N, dtype=f64) + 1)
    if measure == "legs":
        A = -torch.tril(torch.outer(q, q), -1) - torch.diag(torch.arange(N, dtype=f64) + 1)
        return A, q, torch.sqrt(torch.arange(N, dtype=f64) + 0.5).unsqueeze(0)
    if measure == "legt":
        n, k = torch.arange(N).unsqueeze(1), torch.arange(N).unsqueeze(0)
        sign = torch.where((n >= k) | ((k - n) % 2 == 0), 1.0, -1.0).to(f64)
        P = torch.zeros(2, N, dtype=f64)
        P[0, 1::2] = torch.sqrt(q[1::2] ** 2 / 2)
        P[1, 0::2] = torch.sqrt(q[0::2] ** 2 / 2)
        return -0.5 * torch.outer(q, q) * sign, 0.5 * q, P
    if measure == "fout":
        d = torch.zeros(N - 1, dtype=f64)
        d[0::2] = torch.arange(0, N // 2, dtype=f64)[: len(d[0::2])]
        B = torch.zeros(N, dtype=f64)
        B[0::2] = math.sqrt(2.0)
        B[0] = 1.0
        A = math.pi * (-torch.diag(d, 1) + torch.diag(d, -1)) - torch.outer(B, B)
        return A, B, B.unsqueeze(0)
    raise ValueError(f"hippo: measure must be legs, legt or fout, got '{measure}'")


def _s4d_diagonal(measure: str, N: int):
    """The diagonal (S4D) initialization of a measure: the N/2 eigenvalues of its normal part with the larger
    imaginary parts, A = re + i w (re: the mean of the normal part's diagonal), and B = V^* B."""
    A, B, P = _hippo(measure, N)
    S = A + P.T @ P
    re = S.diagonal().mean().item()
    w, V = torch.linalg.eigh((S - re * torch.eye(N, dtype=torch.float64)).to(torch.complex128) * -1j)
    w, V = w[N // 2:], V[:, N // 2:]
    return torch.complex(torch.full_like(w, re), w), V.conj().T @ B.to(torch.complex128)


class S4D(nn.Module):
    """The S4D layer (a diagonal state-space convolution; the engine's layer 's4d', README "Tasks, layers and
    models"). Per channel h: A = -exp(A_log_re) + i A_im (N/2 modes, conjugates implied), dt = exp(log_dt), complex C
    (2 output channels when bidirectional), real D; the kernel K = 2 Re sum_n C dB exp(dtA l) by
    :func:`ssm.ops.vandermonde` (zero-order hold or bilinear), ``y = fft_conv(u, K[0], D, K[1])``, then the
    :class:`OutputStage`.

    init: 'lin', 'inv', 'real', 'legs', 'legt' or 'fout' (S4D-Lin/Inv/Real and the diagonalized HiPPO-LegS/LegT/
    FouT, drawn as the engine draws them); 'ptd' (S4-PTD, all
    N eigenvalues of the engine's perturbed HiPPO matrix, which only the engine computes: ``ssm init ptd``) gives the
    layer's shapes for loading weights, and its parameters must come from load_state_dict.
    """

    def __init__(self, d_model: int = 128, d_state: int = 64, init: str = "lin", discretization: str = "zoh",
                 dt_min: float = 1e-3, dt_max: float = 1e-1, bidirectional: bool = False, dropout: float = 0.0):
        super().__init__()
        if d_model < 1:
            raise ValueError(f"S4D: d_model must be >= 1, got {d_model}")
        if d_state < 2 or d_state % 2:
            raise ValueError(f"S4D: d_state must be an even number >= 2, got {d_state}")
        if not (dt_min > 0 and dt_max >= dt_min):
            raise ValueError("S4D: need 0 < dt_min <= dt_max")
        if discretization not in ("zoh", "bilinear"):
            raise ValueError(f"S4D: discretization must be zoh or bilinear, got '{discretization}'")
        if init not in ("lin", "inv", "real", "legs", "legt", "fout", "ptd"):
            raise ValueError(f"S4D: init must be lin, inv, real, legs, legt, fout or ptd, got '{init}'")
        self.d_model, self.d_state, self.init = d_model, d_state, init
        self.discretization, self.bidirectional = discretization, bidirectional
        H, N2, channels = d_model, d_state if init == "ptd" else d_state // 2, 2 if bidirectional else 1
        self.mode_scale = 0.5 if init == "ptd" else 1.0  # all N modes stored: Re, not 2 Re, of the sum
        self.output = OutputStage(d_model, dropout)
        log_dt = torch.rand(H) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        n = torch.arange(N2, dtype=torch.float32).expand(H, N2)
        re = torch.full((H, N2), 0.5)
        c0 = torch.randn(channels, H, N2, 2) * math.sqrt(0.5)
        if init == "lin":
            im = math.pi * n
        elif init == "inv":
            im = (d_state / math.pi) * (d_state / (2 * n + 1) - 1)
        elif init == "real":
            re, im = n + 1, torch.zeros(H, N2)
        elif init in ("legs", "legt", "fout"):
            A, B = _s4d_diagonal(init, d_state)
            re = (-A.real).clamp_min(1e-4).float().expand(H, N2).contiguous()
            im = A.imag.float().expand(H, N2)
            b = torch.complex(B.real, B.imag.clamp(-2, 2)).to(torch.complex64)
            c0 = torch.view_as_real(torch.view_as_complex(c0) * b)
        else:  # ptd: shapes only
            im = torch.full((H, N2), float("nan"))
            re = torch.full((H, N2), float("nan"))
            c0 = torch.full_like(c0, float("nan"))
        self.log_dt = nn.Parameter(log_dt)
        self.A_log_re = nn.Parameter(torch.log(re).contiguous())
        self.A_im = nn.Parameter(im.contiguous())
        self.C = nn.Parameter(c0.contiguous())
        self.D = nn.Parameter(torch.randn(H))

    def _discretize(self):
        A = torch.complex(-torch.exp(self.A_log_re), self.A_im)
        dt = torch.exp(self.log_dt).unsqueeze(-1)
        dtA = A * dt
        if self.discretization == "zoh":
            x, dB = dtA, (torch.exp(dtA) - 1) / A
        else:
            den = 1 - dtA / 2
            x, dB = torch.log((1 + dtA / 2) / den), dt / den
        Cc = torch.view_as_complex(self.C)
        channels = Cc.shape[0]
        v = (Cc * dB * self.mode_scale).reshape(channels * self.d_model, -1)
        return x.repeat(channels, 1), v

    def kernel(self, L: int) -> Tensor:
        """The convolution kernel, (channels, H, L) with channels = 2 when bidirectional."""
        x, v = self._discretize()
        return ops.vandermonde(v.contiguous(), x.contiguous(), L).view(-1, self.d_model, L)

    def forward(self, u: Tensor) -> Tensor:
        if u.dim() != 3 or u.shape[2] != self.d_model:
            raise ValueError(f"S4D: input must have shape (B, L, {self.d_model}), got {tuple(u.shape)}")
        if self.init == "ptd" and torch.isnan(self.A_im).any():
            raise RuntimeError("S4D(init='ptd'): the parameters were never loaded (S4-PTD's initialization is "
                               "computed by the engine: load the weights of an ssm export with load_state_dict)")
        k = self.kernel(u.shape[1]).to(u.dtype)
        y = ops.fft_conv(u.transpose(1, 2), k[0], self.D.to(u.dtype), k[1] if self.bidirectional else None)
        return self.output(y.transpose(1, 2))


class S5(nn.Module):
    """The S5 layer (the engine's layer 's5'): one multi-input multi-output diagonal SSM over all H channels by
    :func:`ssm.ops.diag_scan`. P complex modes Lambda = Lambda_re + i Lambda_im, B (P, H), C (channels, H, P), D (H),
    dt = exp(log_step) per mode; zero-order hold or bilinear; x_k = Lambda_bar x_{k-1} + B_bar u_k,
    y_k = 2 Re(C x_k) + D u_k (plus the reverse scan through C[1] when bidirectional), then the :class:`OutputStage`.

    init: 'hippo_n' (J = blocks blocks of S4D-LegS eigenpairs of size 2P/J; B = V^* B0, C = C0 V, LeCun-normal B0,
    C0, as the engine draws them) or 'ptd' (S5-PTD, y = Re(C x): shapes for loading an export's weights, since only
    the engine computes PTD).
    """

    def __init__(self, d_model: int = 128, d_state: int = 64, blocks: int = 1, init: str = "hippo_n",
                 discretization: str = "zoh", dt_min: float = 1e-3, dt_max: float = 1e-1, bidirectional: bool = False,
                 dropout: float = 0.0):
        super().__init__()
        if d_model < 1:
            raise ValueError(f"S5: d_model must be >= 1, got {d_model}")
        if blocks < 1 or d_state < 1 or d_state % blocks:
            raise ValueError(f"S5: d_state ({d_state}) must be a positive multiple of blocks ({blocks})")
        if discretization not in ("zoh", "bilinear"):
            raise ValueError(f"S5: discretization must be zoh or bilinear, got '{discretization}'")
        if not (dt_min > 0 and dt_max >= dt_min):
            raise ValueError("S5: need 0 < dt_min <= dt_max")
        if init not in ("hippo_n", "ptd"):
            raise ValueError(f"S5: init must be hippo_n or ptd, got '{init}'")
        self.d_model, self.d_state, self.init = d_model, d_state, init
        self.discretization, self.bidirectional = discretization, bidirectional
        self.out_scale = 1.0 if init == "ptd" else 2.0
        self.output = OutputStage(d_model, dropout)
        H, P, J, channels = d_model, d_state, blocks, 2 if bidirectional else 1
        Pb = P // J
        if init == "hippo_n":
            lam, _, V = _s4d_legs(2 * Pb, with_vectors=True)
            n = V.shape[0]
            B0 = (torch.randn(J, n, H, dtype=torch.float64) / math.sqrt(H)).to(torch.complex128)
            C0 = (torch.randn(channels, H, J, n, dtype=torch.float64) / math.sqrt(J * n)).to(torch.complex128)
            Bt = (V.conj().T @ B0).reshape(P, H)
            Ct = (C0 @ V).reshape(channels, H, P)
            lam = lam.repeat(J)
        else:  # ptd: shapes only
            nan = float("nan")
            lam = torch.full((P,), complex(nan, nan), dtype=torch.complex128)
            Bt = torch.full((P, H), complex(nan, nan), dtype=torch.complex128)
            Ct = torch.full((channels, H, P), complex(nan, nan), dtype=torch.complex128)
        self.Lambda_re = nn.Parameter(lam.real.float().contiguous())
        self.Lambda_im = nn.Parameter(lam.imag.float().contiguous())
        self.log_step = nn.Parameter(torch.rand(P) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        self.B = nn.Parameter(torch.view_as_real(Bt.to(torch.complex64)).contiguous())
        self.C = nn.Parameter(torch.view_as_real(Ct.to(torch.complex64)).contiguous())
        self.D = nn.Parameter(torch.randn(H))

    def discretize(self):
        """(Lambda_bar (P), B_bar (P, H)), complex64."""
        lam = torch.complex(self.Lambda_re, self.Lambda_im)
        dt = torch.exp(self.log_step)
        if self.discretization == "zoh":
            lbar = torch.exp(lam * dt)
            scale = (lbar - 1) / lam
        else:
            den = 1 - dt * lam / 2
            lbar, scale = (1 + dt * lam / 2) / den, dt / den
        return lbar, scale.unsqueeze(-1) * torch.view_as_complex(self.B)

    def forward(self, u: Tensor) -> Tensor:
        if u.dim() != 3 or u.shape[2] != self.d_model:
            raise ValueError(f"S5: input must have shape (B, L, {self.d_model}), got {tuple(u.shape)}")
        if self.init == "ptd" and torch.isnan(self.Lambda_re).any():
            raise RuntimeError("S5(init='ptd'): the parameters were never loaded (S5-PTD's initialization is "
                               "computed by the engine: load the weights of an ssm export with load_state_dict)")
        lbar, bbar = self.discretize()
        Cc = torch.view_as_complex(self.C)
        bu = (u.to(torch.complex64) @ bbar.T).contiguous()
        y = self.out_scale * (ops.diag_scan(lbar, bu) @ Cc[0].T).real
        if self.bidirectional:
            y = y + self.out_scale * (ops.diag_scan(lbar, bu, True) @ Cc[1].T).real
        return self.output(y + self.D * u)


class LongConv(nn.Module):
    """The long-convolution layer (the engine's layer 'longconv'): an explicit kernel (channels, H, max_length),
    Smooth (moving average over 2 smooth + 1), Squash (soft threshold lambda_), kernel dropout, then
    ``fft_conv(u, k[0], D, k[1])`` (conv='butterfly': :func:`ssm.ops.butterfly_conv`, with learn_butterfly its DFT
    factors as parameters butterfly0, butterfly1, ... initialized to the exact DFT matrices of the plan of
    max_length, shorter inputs zero-padded to it) and the :class:`OutputStage`. init: 'randn' or 'double_exp'."""

    def __init__(self, d_model: int = 128, max_length: int = 2048, lambda_: float = 0.002, smooth: int = 0,
                 kernel_dropout: float = 0.0, bidirectional: bool = False, dropout: float = 0.0, init: str = "randn",
                 conv: str = "fft", learn_butterfly: bool = False, butterfly_per_channel: bool = True):
        super().__init__()
        if d_model < 1:
            raise ValueError(f"LongConv: d_model must be >= 1, got {d_model}")
        if max_length < 1:
            raise ValueError("LongConv: max_length must be >= 1")
        if lambda_ < 0 or smooth < 0 or not 0 <= kernel_dropout < 1:
            raise ValueError("LongConv: need lambda >= 0, smooth >= 0, 0 <= kernel_dropout < 1")
        if conv not in ("fft", "butterfly"):
            raise ValueError(f"LongConv: conv must be fft or butterfly, got '{conv}'")
        if learn_butterfly and conv != "butterfly":
            raise ValueError("LongConv: learn_butterfly needs conv = butterfly")
        self.d_model, self.max_length, self.lambda_, self.smooth = d_model, max_length, lambda_, smooth
        self.kernel_dropout, self.bidirectional, self.conv = kernel_dropout, bidirectional, conv
        self.output = OutputStage(d_model, dropout)
        channels = 2 if bidirectional else 1
        if init == "randn":
            k0 = torch.randn(channels, d_model, max_length) * 0.002
        elif init == "double_exp":
            rate = torch.pow(d_model / 2, torch.arange(d_model, dtype=torch.float64) / d_model).unsqueeze(1)
            decay = torch.exp(-(torch.arange(max_length, dtype=torch.float64) / max_length).unsqueeze(0) * rate)
            k0 = torch.randn(channels, d_model, max_length) * 0.02 * decay.float()
        else:
            raise ValueError(f"LongConv: init must be randn or double_exp, got '{init}'")
        self.kernel = nn.Parameter(k0)
        self.D = nn.Parameter(torch.randn(d_model))
        self.factors = []
        if learn_butterfly:
            n = ops.fft_conv_size(max_length, max_length, bidirectional)
            exact = ops.butterfly_dft_factors(n, torch.complex64, d_model if butterfly_per_channel else 0)
            for i, F in enumerate(exact):
                self.register_parameter(f"butterfly{i}", nn.Parameter(torch.view_as_real(F).contiguous()))
            self.factors = [f"butterfly{i}" for i in range(len(exact))]

    def regularized_kernel(self, L: int) -> Tensor:
        """The kernel used for an input of length L, after Smooth, Squash and kernel dropout: (channels, H, L)."""
        if not 1 <= L <= self.max_length:
            raise ValueError(f"LongConv: sequence length {L} exceeds the kernel length {self.max_length} "
                             "(model.longconv.max_length)")
        k = self.kernel[:, :, :L]
        if self.smooth > 0:
            k = nn.functional.avg_pool1d(k, 2 * self.smooth + 1, 1, self.smooth, False, True)
        k = torch.sign(k) * torch.relu(torch.abs(k) - self.lambda_)
        if self.training and self.kernel_dropout > 0:
            k = nn.functional.dropout(k, self.kernel_dropout, True)
        return k

    def forward(self, u: Tensor) -> Tensor:
        if u.dim() != 3 or u.shape[2] != self.d_model:
            raise ValueError(f"LongConv: input must have shape (B, L, {self.d_model}), got {tuple(u.shape)}")
        L = u.shape[1]
        Lc = max(L, self.max_length) if self.factors else L
        k = self.regularized_kernel(Lc).to(u.dtype)
        k_rev = k[1] if self.bidirectional else None
        x = u.transpose(1, 2)
        if Lc > L:
            x = nn.functional.pad(x, (0, Lc - L))
        D = self.D.to(u.dtype)
        if self.conv == "fft":
            y = ops.fft_conv(x, k[0], D, k_rev)
        else:
            F = [torch.view_as_complex(getattr(self, name)) for name in self.factors] or None
            y = ops.butterfly_conv(x, k[0], D, k_rev, F)
        return self.output(y[:, :, :L].transpose(1, 2))


def _dt_bias_init(n: int, dt_min: float, dt_max: float, floor: float) -> Tensor:
    dt = torch.exp(torch.rand(n) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp_min(floor)
    return dt + torch.log(-torch.expm1(-dt))  # softplus^-1(dt)


def _reverse_valid(x: Tensor, lengths: Optional[Tensor]) -> Tensor:
    """Each sequence of (B, L, ...) reversed along dim 1 within its valid length; the padding stays in place."""
    if lengths is None:
        return x.flip(1)
    B, L = x.shape[:2]
    t = torch.arange(L, device=x.device).expand(B, L)
    n = lengths.to(x.device).view(B, 1)
    idx = torch.where(t < n, n - 1 - t, t).view(B, L, *([1] * (x.dim() - 2))).expand(x.shape)
    return x.gather(1, idx)


class _MambaDirection(nn.Module):
    def __init__(self, inner: int, rank: int, d_state: int, d_conv: int, conv_bias: bool, dt_min: float,
                 dt_max: float, dt_init_floor: float, dt_scale: float):
        super().__init__()
        self.conv = nn.Conv1d(inner, inner, d_conv, groups=inner, bias=conv_bias, padding=d_conv - 1)
        self.x_proj = nn.Linear(inner, rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(rank, inner)
        with torch.no_grad():
            std = dt_scale / math.sqrt(rank)
            self.dt_proj.weight.uniform_(-std, std)
            self.dt_proj.bias.copy_(_dt_bias_init(inner, dt_min, dt_max, dt_init_floor))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(inner, 1))
        self.D = nn.Parameter(torch.ones(inner))


class Mamba(nn.Module):
    """The Mamba block's selective-SSM mixer (the engine's layer 'mamba'), over (B, L, H):
    ``[x, z] = in_proj(u)``; ``x = silu(causal depthwise conv1d(x))``; ``[dt_r, B, C] = x_proj(x)``;
    ``y = selective_scan(x, dt_proj.weight dt_r, -exp(A_log), B, C, D, z, dt_proj.bias, softplus)``;
    ``out_proj(y)``. Mamba's initialization (A_log = log(n + 1), D = 1, dt_proj's bias softplus^-1 of a log-uniform
    dt). bidirectional: a second direction (its own conv, x_proj, dt_proj, A_log, D) scans each sequence reversed
    within its valid length (``forward(u, lengths)``), and the two gated outputs are summed before out_proj. The
    directions' weights are named 'forward.*' and 'backward.*', as in the C++ block."""

    def __init__(self, d_model: int = 128, d_state: int = 16, expand: int = 2, d_conv: int = 4, dt_rank: int = 0,
                 dt_min: float = 1e-3, dt_max: float = 1e-1, dt_init_floor: float = 1e-4, dt_scale: float = 1.0,
                 conv_bias: bool = True, bias: bool = False, bidirectional: bool = False):
        super().__init__()
        if d_model < 1:
            raise ValueError(f"Mamba: d_model must be >= 1, got {d_model}")
        for name, value in (("expand", expand), ("d_conv", d_conv), ("d_state", d_state)):
            if value < 1:
                raise ValueError(f"Mamba: {name} must be >= 1, got {value}")
        if dt_rank < 0:
            raise ValueError(f"Mamba: dt_rank must be >= 0 (0: ceil(d_model / 16)), got {dt_rank}")
        if not (dt_min > 0 and dt_max >= dt_min):
            raise ValueError("Mamba: need 0 < dt_min <= dt_max")
        if not (dt_init_floor >= 0 and dt_scale > 0):
            raise ValueError("Mamba: need dt_init_floor >= 0 and dt_scale > 0")
        self.d_model, self.d_state, self.bidirectional = d_model, d_state, bidirectional
        self.inner = expand * d_model
        self.rank = dt_rank if dt_rank > 0 else (d_model + 15) // 16
        self.in_proj = nn.Linear(d_model, 2 * self.inner, bias=bias)
        self.out_proj = nn.Linear(self.inner, d_model, bias=bias)
        for name in ("forward", "backward")[: 2 if bidirectional else 1]:
            # Set in _modules directly: 'forward' and 'backward' would otherwise clash with the methods' names.
            self._modules[name] = _MambaDirection(self.inner, self.rank, d_state, d_conv, conv_bias, dt_min, dt_max,
                                                  dt_init_floor, dt_scale)

    def _scan(self, d: _MambaDirection, x: Tensor, z: Tensor) -> Tensor:
        L, N, R = x.shape[2], self.d_state, self.rank
        xc = nn.functional.silu(d.conv(x)[:, :, :L])
        dbl = d.x_proj(xc.transpose(1, 2))
        delta = (dbl[:, :, :R] @ d.dt_proj.weight.T).transpose(1, 2)
        Bm, Cm = dbl[:, :, R:R + N].transpose(1, 2), dbl[:, :, R + N:R + 2 * N].transpose(1, 2)
        return ops.selective_scan(xc, delta, -torch.exp(d.A_log), Bm, Cm, d.D, z, d.dt_proj.bias, True)[0]

    def forward(self, u: Tensor, lengths: Optional[Tensor] = None) -> Tensor:
        if u.dim() != 3 or u.shape[2] != self.d_model:
            raise ValueError(f"Mamba: input must have shape (B, L, {self.d_model}), got {tuple(u.shape)}")
        xz = self.in_proj(u)
        E = self.inner

        def split(t):
            return t[:, :, :E].transpose(1, 2), t[:, :, E:].transpose(1, 2)

        x, z = split(xz)
        y = self._scan(self._modules["forward"], x, z).transpose(1, 2)
        if self.bidirectional:
            xr, zr = split(_reverse_valid(xz, lengths))
            y = y + _reverse_valid(self._scan(self._modules["backward"], xr, zr).transpose(1, 2), lengths)
        return self.out_proj(y)


class _ChimeraHead(nn.Module):
    def __init__(self, inner: int, rank: int, d_state: int, lag: int, dt_min: float, dt_max: float,
                 variate_dt_min: float, variate_dt_max: float, coupling: float):
        super().__init__()
        self.lag = lag
        self.x_proj = nn.Linear(inner, 2 * rank + 4 * d_state, bias=False)
        self.dt1_proj = nn.Linear(rank, inner)
        self.dt2_proj = nn.Linear(rank, inner)
        with torch.no_grad():
            std = 1 / math.sqrt(rank)
            self.dt1_proj.weight.uniform_(-std, std)
            self.dt2_proj.weight.uniform_(-std, std)
            self.dt1_proj.bias.copy_(_dt_bias_init(inner, dt_min, dt_max, 1e-4))
            self.dt2_proj.bias.copy_(_dt_bias_init(inner, variate_dt_min, variate_dt_max, 1e-4))
        kappa = coupling if coupling > 0 else math.log(1 / dt_min) / (dt_min + variate_dt_min)
        n1 = torch.arange(1, d_state + 1, dtype=torch.float32)
        diag, cross = torch.log(n1), torch.log(n1 * kappa)
        self.A_log = nn.Parameter(torch.stack([diag, cross, cross, diag]).unsqueeze(1).repeat(1, inner, 1))


class Chimera(nn.Module):
    """The Chimera block (the engine's layer 'chimera'; README "selective_scan_2d"): a Mamba-style block whose mixer
    is a trend head (lag 1) and a seasonal head (lag season_lag) of the 2-D selective SSM over the variates and time
    of a multivariate series, on :func:`ssm.ops.selective_scan_2d`, the variate recurrence run both ways and averaged.
    Input: (B V, L, H) rows, V consecutive rows per sample: ``forward(u, variates=V)``. variates=False: each variate
    alone (h2 = 0). The engine's initialization (S4D-Real A1, A4; cross couplings scaled by kappa; Mamba's dt biases;
    D = 1)."""

    def __init__(self, d_model: int = 128, d_state: int = 16, expand: int = 2, d_conv: int = 4, dt_rank: int = 0,
                 heads: str = "both", trend_dt_min: float = 1e-3, trend_dt_max: float = 1e-2, season_lag: int = 1,
                 season_dt_min: float = 1e-2, season_dt_max: float = 1e-1, variate_dt_min: float = 1e-3,
                 variate_dt_max: float = 1e-1, coupling: float = 0.0, variates: bool = True):
        super().__init__()
        if d_model < 1:
            raise ValueError(f"Chimera: d_model must be >= 1, got {d_model}")
        if expand < 1 or d_conv < 0 or d_state < 1 or dt_rank < 0 or season_lag < 1:
            raise ValueError("Chimera: need expand >= 1, d_conv >= 0, d_state >= 1, dt_rank >= 0, season_lag >= 1")
        if heads not in ("both", "trend", "season"):
            raise ValueError(f"Chimera: heads must be both, trend or season, got '{heads}'")
        for name, lo, hi in (("trend", trend_dt_min, trend_dt_max), ("season", season_dt_min, season_dt_max),
                             ("variate", variate_dt_min, variate_dt_max)):
            if not (lo > 0 and hi >= lo):
                raise ValueError(f"Chimera: need 0 < {name}_dt_min <= {name}_dt_max")
        if not coupling >= 0:
            raise ValueError("Chimera: coupling must be >= 0 (0: automatic)")
        self.d_model, self.d_state, self.d_conv, self.variates = d_model, d_state, d_conv, variates
        self.inner = expand * d_model
        self.rank = dt_rank if dt_rank > 0 else (d_model + 15) // 16
        self.in_proj = nn.Linear(d_model, 2 * self.inner, bias=False)
        self.out_proj = nn.Linear(self.inner, d_model, bias=False)
        self.conv = nn.Conv1d(self.inner, self.inner, d_conv, groups=self.inner, padding=d_conv - 1) if d_conv else None
        self.head_names = []
        for name, lag, lo, hi in (("trend", 1, trend_dt_min, trend_dt_max),
                                  ("season", season_lag, season_dt_min, season_dt_max)):
            if heads in ("both", name):
                self.add_module(name, _ChimeraHead(self.inner, self.rank, d_state, lag, lo, hi, variate_dt_min,
                                                   variate_dt_max, coupling))
                self.head_names.append(name)
        self.D = nn.Parameter(torch.ones(self.inner))

    def forward(self, u: Tensor, variates: int = 1) -> Tensor:
        if u.dim() != 3 or u.shape[2] != self.d_model:
            raise ValueError(f"Chimera: input must have shape (B V, L, {self.d_model}), got {tuple(u.shape)}")
        V, L, N, R, E = variates, u.shape[1], self.d_state, self.rank, self.inner
        if V < 1 or u.shape[0] % V:
            raise ValueError(f"Chimera: the batch's {u.shape[0]} rows must be whole groups of variates = {V}")
        xz = self.in_proj(u)
        x, z = xz[:, :, :E], xz[:, :, E:]
        if self.conv is not None:
            x = self.conv(x.transpose(1, 2))[:, :, :L].transpose(1, 2)
        x = nn.functional.silu(x).contiguous()
        mix = self.variates and V > 1
        grid = x.view(u.shape[0] // V, V, L, E) if mix else x.view(u.shape[0], 1, L, E)
        y = self.D * grid
        for name in self.head_names:
            h = getattr(self, name)
            dbl = h.x_proj(grid)
            dt1 = nn.functional.softplus(h.dt1_proj(dbl[..., :R]))
            B1, C1 = dbl[..., 2 * R:2 * R + N].contiguous(), dbl[..., 2 * R + 2 * N:2 * R + 3 * N].contiguous()
            if self.variates:
                dt2 = nn.functional.softplus(h.dt2_proj(dbl[..., R:2 * R]))
                B2, C2 = dbl[..., 2 * R + N:2 * R + 2 * N].contiguous(), dbl[..., 2 * R + 3 * N:].contiguous()
            else:
                dt2, B2 = dt1, torch.zeros_like(B1)
                C2 = B2
            A = -torch.exp(h.A_log)

            def run(reverse):
                return ops.selective_scan_2d(grid, dt1, dt2, A[0], A[1], A[2], A[3], B1, B2, C1, C2, None, h.lag,
                                             reverse)

            y = y + (0.5 * (run(False) + run(True)) if mix else run(False))
        return self.out_proj(y.reshape(u.shape[0], L, E) * nn.functional.silu(z))


def load_export(path: str) -> dict:
    """Opens a file of ``ssm export`` (torch.load with weights_only=True): {'state_dict', 'config' (the run's
    config.yaml text), 'versions', 'step', 'format'}."""
    data = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(data, dict) or data.get("format") != "ssm export 1":
        raise ValueError(f"{path}: not a file of ssm export (format 'ssm export 1')")
    return data


def layer_state_dict(state_dict: Mapping[str, Tensor], prefix: str) -> Dict[str, Tensor]:
    """The entries under ``prefix`` (e.g. 'backbone.block0.'), with the prefix removed: one layer's weights of an
    exported model, for load_state_dict."""
    if not prefix.endswith("."):
        prefix += "."
    out = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    if not out:
        names = sorted({k.rsplit(".", 1)[0] for k in state_dict})
        raise KeyError(f"no weights under '{prefix}' (modules: {', '.join(names)})")
    return out
