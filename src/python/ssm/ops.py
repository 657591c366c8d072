"""The ssm ops: typed wrappers of ``torch.ops.ssm.*`` with their exact semantics.

Each function calls the op through PyTorch's dispatcher, so CPU, CUDA, autograd, torch.compile and the Meta device
behave as for ``torch.ops.ssm.<name>`` itself. Every op checks its arguments and names the one that is wrong. Under torch.func transforms (grad, vjp, jacrev,
vmap) the wrappers go through Python autograd Functions over the same kernels (first derivatives; vmap runs the op
per batch entry): call the wrappers, not torch.ops.ssm.*, inside torch.func.
Shapes: B batch, H channels, L length, N state size.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from . import _func

__all__ = ["vandermonde", "fft_conv", "fft_conv_size", "butterfly_conv", "butterfly_radices",
           "butterfly_dft_factors", "diag_scan", "selective_scan", "selective_scan_2d"]

_ops = torch.ops.ssm


def vandermonde(v: Tensor, x: Tensor, L: int) -> Tensor:
    """Log-Vandermonde product, the S4D convolution kernel: ``out[b, l] = 2 Re sum_n v[b, n] exp(x[b, n] l)``.

    v, x: complex64 or complex128, (B, N), one dtype and device; L >= 1. Returns the matching real dtype, (B, L).
    Differentiable in v and x; never materializes a (B, N, L) tensor.
    """
    if _func.active():
        _func.check_first_order("vandermonde")
        return _func.Vandermonde.apply(v, x, L)
    return _ops.vandermonde(v, x, L)


def fft_conv(u: Tensor, k: Tensor, D: Optional[Tensor] = None, k_rev: Optional[Tensor] = None) -> Tensor:
    """Causal linear (never circular) long convolution through cuFFT/pocketfft, with an optional anti-causal part
    and skip:

    ``y[b,h,l] = sum_{j<=l} k[h,l-j] u[b,h,j] + sum_{j>l} k_rev[h,j-l-1] u[b,h,j] + D[h] u[b,h,l]``.

    u: (B, H, L); k, k_rev: (H, Lk) with 1 <= Lk <= L; D: (H). One dtype and device: float32 or float64 on the CPU;
    float32, bfloat16 or float16 on CUDA (computed in float32). Returns (B, H, L). Differentiable in u, k, D, k_rev.
    """
    if _func.active():
        _func.check_first_order("fft_conv")
        return _func.FftConv.apply(u, k, D, k_rev)
    return _ops.fft_conv(u, k, D, k_rev)


def fft_conv_size(L: int, Lk: int, bidirectional: bool = False) -> int:
    """The FFT length fft_conv and butterfly_conv use: the smallest 2^a 3^b 5^c 7^d >= L + Lk - 1 (L + Lk when
    bidirectional)."""
    return _ops.fft_conv_size(L, Lk, bidirectional)


def butterfly_conv(u: Tensor, k: Tensor, D: Optional[Tensor] = None, k_rev: Optional[Tensor] = None,
                   factors: Optional[Sequence[Tensor]] = None) -> Tensor:
    """The convolution of :func:`fft_conv` through a factorization of its DFT into small dense DFT matrices, twiddles
    and digit permutations (FlashButterfly), spectra kept in digit-reversed order.

    factors: optional, one complex tensor per stage of n = fft_conv_size(L, Lk, k_rev is not None), with the radices
    of :func:`butterfly_radices`: (r, r) shared by every channel or (H, r, r) per channel, all of one kind; complex64
    for float32/bfloat16/float16 inputs, complex128 for float64. They replace the exact DFT matrices of the forward
    transforms of u and k (learned butterflies; twiddles and the inverse stay exact). Differentiable in u, k, D, k_rev
    and every factor. Devices and dtypes as fft_conv.
    """
    if _func.active():
        _func.check_first_order("butterfly_conv")
        fs = [] if factors is None else list(factors)
        return _func.ButterflyConv.apply(u, k, D, k_rev, -1 if factors is None else len(fs), *fs)
    return _ops.butterfly_conv(u, k, D, k_rev, None if factors is None else list(factors))


def butterfly_radices(n: int) -> List[int]:
    """The butterfly stages of a DFT of size n: radices in 2..16 (products of 2, 3, 5, 7), smallest first, whose
    product is n. n must be 7-smooth, as fft_conv_size returns."""
    return list(_ops.butterfly_radices(n))


def butterfly_dft_factors(n: int, dtype: torch.dtype = torch.complex64, channels: int = 0) -> List[Tensor]:
    """The exact DFT matrices ``F_r[a, i] = exp(-2 pi i a i / r)`` of every stage of n in a complex dtype, each
    repeated to (channels, r, r) when channels > 0: what butterfly_conv uses without factors, and the usual
    initialization of learned ones."""
    return list(_ops.butterfly_dft_factors(n, dtype, channels))


def diag_scan(a: Tensor, b: Tensor, reverse: bool = False, h0: Optional[Tensor] = None) -> Tensor:
    """Diagonal linear recurrence, the scan of S5: ``x[b, k, p] = a[k, p] x[b, k-1, p] + b[b, k, p]`` from
    ``x[b, -1] = h0[b]`` (or 0); reverse runs it from the end (``x[b, k] = a[k] x[b, k+1] + b[b, k]``).

    b: (B, L, P); a: (P) time-invariant or (B, L, P) time-varying; h0: (B, P). One dtype (float32, float64, complex64,
    complex128) and device. Returns x: (B, L, P). Differentiable in a, b and h0.
    """
    if _func.active():
        _func.check_first_order("diag_scan")
        return _func.DiagScan.apply(a, b, reverse, h0)
    return _ops.diag_scan(a, b, reverse, h0)


def selective_scan(u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Optional[Tensor] = None,
                   z: Optional[Tensor] = None, delta_bias: Optional[Tensor] = None, delta_softplus: bool = False,
                   h0: Optional[Tensor] = None, lengths: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """Mamba's selective scan, argument for argument as mamba_ssm's selective_scan_fn, plus an initial state and
    lengths. Per batch b, channel d, state n, with dt = softplus(delta + delta_bias) (delta_softplus) or
    delta + delta_bias:

    ``x_t = exp(dt_t A[d, n]) x_{t-1} + dt_t B_t[n] u_t`` from ``x_{-1} = h0[b, d, n]`` (or 0);
    ``y_t = sum_n C_t[n] x_t[n] + D[d] u_t``; ``out_t = y_t silu(z_t)`` when z is given.

    u, delta, z: (batch, dim, L); A: (dim, N); B, C: (batch, N, L), (batch, G, N, L) with G dividing dim, or (dim, N)
    fixed; D, delta_bias: (dim); h0: (batch, dim, N); lengths: (batch) int64 in [1, L], positions from lengths[b] on
    being padding (out is 0 there, last_state is the state at lengths[b] - 1). u, delta, z, B, C: one dtype (float32
    or float64 on the CPU; float32, bfloat16 or float16 on CUDA); A, D, delta_bias, h0: float64 for float64 inputs,
    else float32. Returns (out (batch, dim, L) in u's dtype, last_state (batch, dim, N)). Differentiable in every
    tensor input and through both outputs.
    """
    if _func.active():
        _func.check_first_order("selective_scan")
        out, last_state, _ = _func.SelectiveScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, lengths)
        return out, last_state
    out, last_state = _ops.selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, lengths)
    return out, last_state


def selective_scan_2d(x: Tensor, dt1: Tensor, dt2: Tensor, A1: Tensor, A2: Tensor, A3: Tensor, A4: Tensor,
                      B1: Tensor, B2: Tensor, C1: Tensor, C2: Tensor, D: Optional[Tensor] = None, lag: int = 1,
                      reverse_variates: bool = False) -> Tensor:
    """The 2-D selective SSM of Chimera's layer (Roesser form) over variates v and time t, with lag s >= 1:

    ``h1[v,t] = exp(dt1 A1) h1[v,t-s] + exp(dt1 A2) h2[v,t-s] + dt1 B1[v,t] x[v,t]``;
    ``h2[v,t] = exp(dt2 A3) h1[v-1,t] + exp(dt2 A4) h2[v-1,t] + dt2 B2[v,t] x[v,t]``;
    ``y[v,t] = sum_n (C1[v,t,n] h1[v,t,n] + C2[v,t,n] h2[v,t,n]) + D x[v,t]``,

    zero states outside the grid; reverse_variates runs the variate recurrence from v = V - 1 down.
    x, dt1, dt2: (batch, V, T, dim), dt positive; A1..A4: (dim, N); B1, B2, C1, C2: (batch, V, T, N); D: (dim).
    x, dt*, B*, C*: one dtype (float32 or float64 on the CPU; float32, bfloat16 or float16 on CUDA); A*, D: float64
    for float64 inputs, else float32. Returns y (batch, V, T, dim) in x's dtype. Differentiable in every tensor input.
    """
    if _func.active():
        _func.check_first_order("selective_scan_2d")
        return _func.SelectiveScan2d.apply(x, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, D, lag, reverse_variates)
    return _ops.selective_scan_2d(x, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, D, lag, reverse_variates)
