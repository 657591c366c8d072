"""The ops under torch.func (grad, vjp, jacrev, vmap): Python autograd.Functions over the same kernels.

The ops' C++ autograd (a torch::autograd::Function per op) is what eager PyTorch, torch.compile and the C++ users
get, but functorch cannot transform a C++ autograd Function. While a torch.func transform is active, the wrappers of
:mod:`ssm.ops` call these Functions instead: the forward is the op itself, the backward its ``<op>_backward`` op
(the same kernels as the C++ backward), and vmap runs the op once per batch entry. First derivatives only: the
backward ops have no derivative, so nested differentiation (grad of grad, hessian, jvp) is an error.
"""
from __future__ import annotations

import functools

import torch
from torch._functorch.pyfunctorch import retrieve_all_functorch_interpreters
from torch._C._functorch import TransformType

_ops = torch.ops.ssm


def active() -> bool:
    """Whether a torch.func transform is running (then the wrappers route through the Functions below)."""
    return torch._C._are_functorch_transforms_active()


def check_first_order(op: str) -> None:
    levels = [i.key() for i in retrieve_all_functorch_interpreters()]
    if levels.count(TransformType.Grad) > 1 or TransformType.Jvp in levels:
        raise RuntimeError(f"ssm.ops.{op} under torch.func: first derivatives only (grad, vjp, jacrev, vmap); nested "
                           "differentiation and forward mode (grad of grad, hessian, jvp, jacfwd) are not supported, "
                           "since the ops' backward has no derivative")


def _loop_vmap(function, info, in_dims, *args):
    """vmap by running the op on each batch entry and stacking: correct for every op, one call per entry."""
    outs = []
    for i in range(info.batch_size):
        sliced = [a.select(d, i) if d is not None and isinstance(a, torch.Tensor) else a for a, d in zip(args, in_dims)]
        outs.append(function.apply(*sliced))
    if isinstance(outs[0], tuple):
        return tuple(torch.stack(o) for o in zip(*outs)), tuple(0 for _ in outs[0])
    return torch.stack(outs), 0


def _none(t):
    return t if t is not None else torch.empty(0)


def _opt(t, present):
    return t if present else None


class Vandermonde(torch.autograd.Function):
    @staticmethod
    def forward(v, x, L):
        return _ops.vandermonde(v, x, L)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0], inputs[1])

    @staticmethod
    def backward(ctx, g):
        v, x = ctx.saved_tensors
        with torch.no_grad():
            dv, dx = _ops.vandermonde_backward(g.contiguous(), v, x)
        return dv, dx, None


class FftConv(torch.autograd.Function):
    @staticmethod
    def forward(u, k, D, k_rev):
        return _ops.fft_conv(u, k, D, k_rev)

    @staticmethod
    def setup_context(ctx, inputs, output):
        u, k, D, k_rev = inputs
        ctx.has = (D is not None, k_rev is not None)
        ctx.save_for_backward(u, k, _none(D), _none(k_rev))

    @staticmethod
    def backward(ctx, g):
        u, k, D, k_rev = ctx.saved_tensors
        n = ctx.needs_input_grad
        mask = [n[0], n[1], ctx.has[0] and n[2], ctx.has[1] and n[3]]
        with torch.no_grad():
            du, dk, dD, dkr = _ops.fft_conv_backward(g.contiguous(), u, k, _opt(D, ctx.has[0]), _opt(k_rev, ctx.has[1]),
                                                     mask)
        return tuple(t if m else None for t, m in zip((du, dk, dD, dkr), mask))


class ButterflyConv(torch.autograd.Function):
    """Inputs (u, k, D, k_rev, n_factors, *factors): the factors flattened, so that each gets its gradient."""

    @staticmethod
    def forward(u, k, D, k_rev, n_factors, *factors):
        return _ops.butterfly_conv(u, k, D, k_rev, list(factors) if n_factors >= 0 else None)

    @staticmethod
    def setup_context(ctx, inputs, output):
        u, k, D, k_rev, n_factors = inputs[:5]
        ctx.has = (D is not None, k_rev is not None, n_factors >= 0)
        ctx.save_for_backward(u, k, _none(D), _none(k_rev), *inputs[5:])

    @staticmethod
    def backward(ctx, g):
        u, k, D, k_rev, *factors = ctx.saved_tensors
        n = ctx.needs_input_grad
        mask = [n[0], n[1], ctx.has[0] and n[2], ctx.has[1] and n[3], ctx.has[2] and any(n[5:])]
        with torch.no_grad():
            du, dk, dD, dkr, dF = _ops.butterfly_conv_backward(g.contiguous(), u, k, _opt(D, ctx.has[0]),
                                                               _opt(k_rev, ctx.has[1]),
                                                               factors if ctx.has[2] else None, mask)
        grads = [t if m else None for t, m in zip((du, dk, dD, dkr), mask[:4])]
        return (*grads, None, *(dF if mask[4] and dF else [None] * len(factors)))


class DiagScan(torch.autograd.Function):
    @staticmethod
    def forward(a, b, reverse, h0):
        return _ops.diag_scan(a, b, reverse, h0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        a, b, reverse, h0 = inputs
        ctx.reverse, ctx.has_h0 = reverse, h0 is not None
        ctx.save_for_backward(a, output, _none(h0))

    @staticmethod
    def backward(ctx, g):
        a, x, h0 = ctx.saved_tensors
        n = ctx.needs_input_grad
        mask = [n[0], n[1], ctx.has_h0 and n[3]]
        with torch.no_grad():
            da, db, dh0 = _ops.diag_scan_backward(g.contiguous(), a, x, ctx.reverse, _opt(h0, ctx.has_h0), mask)
        return (da if mask[0] else None, db if mask[1] else None, None, dh0 if mask[2] else None)


class SelectiveScan(torch.autograd.Function):
    # Tensor inputs by position: u, delta, A, B, C, D, z, delta_bias, (delta_softplus), h0, lengths.
    _OPTIONAL = (5, 6, 7, 9, 10)

    @staticmethod
    def forward(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, lengths):
        return tuple(_ops.selective_scan_fwd(u, delta, A, B, C, D, z, delta_bias, delta_softplus, h0, lengths))

    @staticmethod
    def setup_context(ctx, inputs, output):
        u, delta, A, B, C = inputs[:5]
        ctx.softplus = inputs[8]
        ctx.has = {i: inputs[i] is not None for i in SelectiveScan._OPTIONAL}
        ctx.mark_non_differentiable(output[2])  # the checkpoints the backward needs; not part of the result
        ctx.save_for_backward(u, delta, A, B, C, *(_none(inputs[i]) for i in SelectiveScan._OPTIONAL), output[2])

    @staticmethod
    def backward(ctx, g_out, g_last, _g_checkpoints):
        u, delta, A, B, C, D, z, bias, h0, lengths, checkpoints = ctx.saved_tensors
        h = ctx.has
        with torch.no_grad():
            grads = _ops.selective_scan_backward(g_out, g_last, u, delta, A, B, C, _opt(D, h[5]), _opt(z, h[6]),
                                                 _opt(bias, h[7]), ctx.softplus, _opt(h0, h[9]),
                                                 _opt(lengths, h[10]), checkpoints)
        du, ddelta, dA, dB, dC, dD, dz, dbias, dh0 = grads
        out = [du, ddelta, dA, dB, dC, _opt(dD, h[5]), _opt(dz, h[6]), _opt(dbias, h[7]), None, _opt(dh0, h[9]), None]
        return tuple(t if need else None for t, need in zip(out, ctx.needs_input_grad))


class SelectiveScan2d(torch.autograd.Function):
    @staticmethod
    def forward(x, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, D, lag, reverse_variates):
        return _ops.selective_scan_2d(x, dt1, dt2, A1, A2, A3, A4, B1, B2, C1, C2, D, lag, reverse_variates)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.lag, ctx.reverse, ctx.has_D = inputs[12], inputs[13], inputs[11] is not None
        ctx.save_for_backward(*inputs[:11], _none(inputs[11]))

    @staticmethod
    def backward(ctx, g):
        *t, D = ctx.saved_tensors
        with torch.no_grad():
            grads = _ops.selective_scan_2d_backward(g.contiguous(), *t, _opt(D, ctx.has_D), ctx.lag, ctx.reverse)
        out = list(grads[:11]) + [grads[11] if ctx.has_D else None, None, None]
        return tuple(v if need else None for v, need in zip(out, ctx.needs_input_grad))


# vmap by the loop for every Function above.
for _function in (Vandermonde, FftConv, ButterflyConv, DiagScan, SelectiveScan, SelectiveScan2d):
    _function.vmap = staticmethod(functools.partial(_loop_vmap, _function))
