"""One autograd node per attention block: pooled statistics -> small gate network -> gated map.

Every block in this package has the same shape of computation: reduce the full map ``x: (B, C,
H, W)`` to small statistics (means over an axis, per-channel variances), run a small network
on them to get gates (``(B, C, H, 1)``, ``(B, C, 1, W)``, per-channel scalars), then multiply
the full map by the gates. Left to autograd, every full-size product saves and allocates its
own full-size tensors, and the backward of every pooling materialises one more. On a CPU these
passes over memory dominate a training step, so the blocks run the full-size work through
:class:`GatedMap`, whose backward is written by hand:

* the gate network (tiny tensors) is still differentiated by autograd, inside the backward;
* the full-size products are computed with in-place and ``out=`` kernels, and the gradient with
  respect to ``x`` (gate product, pooling backward, variance backward) is assembled into one
  buffer instead of a sum of separately materialised terms.

A block provides ``_stats(x)``, ``_gates(*stats)``, ``_map(x, gates) -> (out, saved)``,
``_gate_grads(grad, x, gates, saved) -> (dgates, work)`` and
``_input_grad(grad, x, gates, saved, work, stats, dstats) -> gx``. Without autograd (eval,
``no_grad``) only ``_stats``, ``_gates`` and ``_map`` run. Under ``torch.jit.trace`` or ONNX
export the block's ``_composed`` (plain out-of-place operators) runs instead, because a
Python autograd function cannot be traced or exported.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = ["GatedMap", "gated_forward", "add_product", "dot_hw", "empty_result", "mul", "promoted", "reuse"]


def _exporting() -> bool:
    return torch.jit.is_tracing() or torch.jit.is_scripting() or torch.onnx.is_in_onnx_export()


def gated_forward(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``block`` on ``x: (B, C, H, W)`` through the cheapest path that is still exact."""
    if _exporting():
        return block._composed(x, block._gates(*block._stats(x)))
    params = tuple(p for p in block.parameters() if p.requires_grad)
    if torch.is_grad_enabled() and (x.requires_grad or params):
        return GatedMap.apply(block, x.contiguous(), *params)
    x = x.contiguous()
    return block._map(x, block._gates(*block._stats(x)))[0]


class GatedMap(torch.autograd.Function):
    """``out = block._map(x, block._gates(*block._stats(x)))`` with a hand-written backward for
    the full-size part; ``params`` are the block's parameters that require gradients."""

    @staticmethod
    def forward(ctx, block, x, *params):
        stats = block._stats(x)
        with torch.enable_grad():
            leaves = tuple(s.detach().requires_grad_() for s in stats)
            gates = block._gates(*leaves)  # a small graph over leaves and params
        plain = tuple(g.detach() for g in gates)
        out, saved = block._map(x, plain)
        ctx.block, ctx.leaves, ctx.gates, ctx.params = block, leaves, gates, params
        ctx.n_gates = len(plain)
        ctx.save_for_backward(x, *plain, *saved)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, *rest = ctx.saved_tensors
        gates, saved = tuple(rest[: ctx.n_gates]), tuple(rest[ctx.n_gates:])
        block = ctx.block
        grad = grad.contiguous()
        dgates, work = block._gate_grads(grad, x, gates, saved)
        pairs = [(g, dg.to(g.dtype)) for g, dg in zip(ctx.gates, dgates) if g.requires_grad]
        inputs = ctx.leaves + ctx.params
        # The small graph is kept (it dies with this node) so that an outer retain_graph=True
        # backward can run twice.
        found = torch.autograd.grad([g for g, _ in pairs], inputs, [dg for _, dg in pairs],
                                    allow_unused=True, retain_graph=True)
        n = len(ctx.leaves)
        dstats = tuple(torch.zeros_like(s) if d is None else d for s, d in zip(ctx.leaves, found[:n]))
        gx = None
        if ctx.needs_input_grad[1]:
            stats = tuple(s.detach() for s in ctx.leaves)
            gx = block._input_grad(grad, x, gates, saved, work, stats, dstats).to(x.dtype)
        return (None, gx, *found[n:])


def mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a * b`` into a fresh buffer of the promoted dtype.

    Written with ``out=``: an allocating product of mixed dtypes (bf16 map times float32 gate
    under autocast) converts its inputs first and measured 20-60x slower on this CPU.
    """
    shape = torch.broadcast_shapes(a.shape, b.shape)
    out = torch.empty(shape, dtype=torch.promote_types(a.dtype, b.dtype), device=a.device)
    return torch.mul(a, b, out=out)


def add_product(const: torch.Tensor, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor | None = None):
    """``const + a * b`` into ``out`` (or a fresh buffer); ``const`` is a small broadcast term.

    ``addcmul`` with a broadcast first operand is one pass in float32 but has no fast kernel
    for bf16 or mixed dtypes (measured 15-30x slower), where a product then an ``add_`` is used.
    """
    dtype = torch.promote_types(torch.promote_types(const.dtype, a.dtype), b.dtype)
    if out is None:
        out = torch.empty(torch.broadcast_shapes(const.shape, a.shape, b.shape), dtype=dtype, device=a.device)
    if dtype in (torch.float32, torch.float64) and a.dtype == b.dtype == const.dtype == out.dtype:
        return torch.addcmul(const, a, b, out=out)
    torch.mul(a, b, out=out)
    return out.add_(const)


def dot_hw(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``((a * b).sum((2, 3), keepdim=True), a * b)`` for ``(B, C, H, W)`` maps.

    The product is returned so that its buffer can hold the input gradient afterwards (a
    batched ``bmm`` of (1, HW) x (HW, 1) avoids it but measured 10x slower on this CPU).
    """
    t = mul(a, b)
    return t.sum(dim=(2, 3), keepdim=True), t


def promoted(x: torch.Tensor, *gates: torch.Tensor) -> torch.Tensor:
    """``x`` in the dtype its products with ``gates`` have (a bf16 map meeting float32 gates
    under autocast): one fast conversion instead of a slow mixed-dtype path in every product."""
    dtype = x.dtype
    for g in gates:
        dtype = torch.promote_types(dtype, g.dtype)
    return x if x.dtype == dtype else x.to(dtype)


def reuse(buffer: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
    """``buffer`` as an ``out=`` target if it has ``dtype``, else None (a fresh tensor)."""
    return buffer if buffer.dtype == dtype else None


def empty_result(x: torch.Tensor, *others: torch.Tensor) -> torch.Tensor:
    """An uninitialised ``x``-shaped buffer of the dtype ``x * others[0] * ...`` would have."""
    dtype = x.dtype
    for o in others:
        dtype = torch.promote_types(dtype, o.dtype) if o.dim() else torch.result_type(
            torch.empty((1,), dtype=dtype), o)
    return torch.empty(x.shape, dtype=dtype, device=x.device)
