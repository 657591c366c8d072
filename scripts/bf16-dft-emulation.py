#!/usr/bin/env python3
"""How accurate would the exact butterfly convolution be with its DFT stages on bf16 tensor cores? A CPU emulation.

The CUDA-core pipeline (cuda/butterfly_conv/butterfly_fft.h) computes in float32; by count (docs/benchmarks.md) the issue's aim of
50 % of copy bandwidth in bf16 would need the DFT stages as matrix products on tensor cores. This emulates such
stages: each stage a product with the r x r DFT matrix (r = 16 where the size allows) whose operands -- the data and
the matrix, real and imaginary parts -- are rounded to bfloat16, with float32 accumulation and float32 twiddles;
"bf16x3" splits both operands into a high and a low bfloat16 part and keeps three of the four products (the usual
way to get near-float32 accuracy from bf16 units, at three times the products). Rows are paired (u_b + i u_b+1, as
the pipeline does), the kernel spectrum is exact. Reported: the relative error (Frobenius) of y against a float64
convolution of the same bf16 inputs, beside the error of rounding that exact result to bfloat16 (what a bf16 output
costs anyway) and of the float32 arithmetic.

Run: . scripts/env.sh && $SSM_PY scripts/bf16-dft-emulation.py
"""
import math

import torch

torch.manual_seed(0)


def bf16(x):
    return x.to(torch.bfloat16).to(torch.float64)


def f32(x):
    return x.to(torch.float32).to(torch.float64)


def radices(n):
    rad = []
    while n % 16 == 0 and n > 16:
        rad.append(16)
        n //= 16
    rad.append(n)
    return rad


def round_parts(z, mode):
    """The operand as the tensor core sees it: real and imaginary parts rounded (list of parts to multiply)."""
    if mode == "exact":
        return [z]
    if mode == "fp32":
        return [torch.complex(f32(z.real), f32(z.imag))]
    hi = torch.complex(bf16(z.real), bf16(z.imag))
    if mode == "bf16":
        return [hi]
    lo = z - hi
    return [hi, torch.complex(bf16(lo.real), bf16(lo.imag))]


def matmul(F, X, mode):
    """F @ X (complex, float64 carriers) with rounded operands and float32 accumulation of the partial products."""
    Fp, Xp = round_parts(F, mode), round_parts(X, mode)
    if mode == "bf16x3":
        out = Fp[0] @ Xp[0] + Fp[0] @ Xp[1] + Fp[1] @ Xp[0]
    else:
        out = Fp[0] @ Xp[0]
    return out if mode == "exact" else torch.complex(f32(out.real), f32(out.imag))


def fft(x, mode, inverse=False):
    """Four-step recursion over the last axis of x (rows, n): stage matrix along the leading radix, twiddles in
    float32, recursion on the rest; the output is in digit-reversed order (as the pipeline's), the inverse takes it
    back (conjugate transposes in reverse)."""
    n = x.shape[-1]
    rad = radices(n)
    if len(rad) == 1:
        F = torch.exp(-2j * math.pi * torch.outer(torch.arange(n), torch.arange(n)).double() / n)
        F = F.conj() if inverse else F
        return matmul(F, x.transpose(-1, -2), mode).transpose(-1, -2)
    r, m = rad[0], n // rad[0]
    a = torch.arange(r).double()
    j = torch.arange(m).double()
    rnd = (lambda z: z) if mode == "exact" else (lambda z: torch.complex(f32(z.real), f32(z.imag)))
    tw = rnd(torch.exp((2j if inverse else -2j) * math.pi * torch.outer(a, j) / n))
    F = torch.exp(-2j * math.pi * torch.outer(a, a) / r)
    F = F.conj() if inverse else F
    xv = x.reshape(x.shape[0], r, m)
    if not inverse:
        y = rnd(torch.stack([matmul(F, xv[b], mode) for b in range(x.shape[0])]) * tw)
        return torch.stack([fft(y[:, i, :], mode) for i in range(r)], 1).reshape(x.shape)
    y = rnd(torch.stack([fft(xv[:, i, :], mode, True) for i in range(r)], 1) * tw)
    return torch.stack([matmul(F, y[b], mode) for b in range(x.shape[0])]).reshape(x.shape)


def main():
    print(f"{'L':>6} {'n':>6}  {'fp32 stages':>12} {'bf16 stages':>12} {'bf16x3':>10}   {'bf16 output rounding':>20}")
    for L in (1024, 4096, 16384):
        n, rows = 2 * L, 4
        u = bf16(torch.randn(2 * rows, L, dtype=torch.float64))
        k = bf16(torch.randn(L, dtype=torch.float64) * torch.exp(-torch.arange(L).double() / (L / 4)))
        x = torch.zeros(rows, n, dtype=torch.complex128)
        x[:, :L] = torch.complex(u[0::2], u[1::2])
        kp = torch.zeros(1, n, dtype=torch.complex128)
        kp[0, :L] = k
        K = fft(kp, "exact")  # float64, in the same digit order
        ref = torch.fft.ifft(torch.fft.fft(x) * torch.fft.fft(kp))[:, :L]
        yref = torch.cat([ref.real, ref.imag])
        errs = []
        for mode in ("fp32", "bf16", "bf16x3"):
            y = fft(fft(x, mode) * K, mode, inverse=True)[:, :L] / n
            y = torch.cat([y.real, y.imag])
            errs.append(((y - yref).norm() / yref.norm()).item())
        out_round = ((bf16(yref) - yref).norm() / yref.norm()).item()
        print(f"{L:>6} {n:>6}  {errs[0]:>12.2e} {errs[1]:>12.2e} {errs[2]:>10.2e}   {out_round:>20.2e}")


if __name__ == "__main__":
    main()
