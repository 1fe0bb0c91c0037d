"""MACNN's 2x2 max-pool without autograd: ATen's NCHW kernel, its channels-last kernel (with
both layout copies) and ``model.macnn.MaxPool2x2`` (the larger of each row pair, then of each
column pair, on strided views), and what each gives a whole forward.

Usage: python benchmarks/maxpool.py [--threads 1] [--repeats 7] [--batch 48] [--markdown]

Each comparison interleaves its variants in the same run (so machine load hits all) and reports
the median of ``--repeats``:

1. no-grad pool of the Conv2 map (B, 32, 38, 199) and the Conv3 map (B, 48, 19, 99), and
   whether each variant's output equals the NCHW kernel's bit for bit;
2. forward + backward of the same pools, NCHW against channels-last (why the training pass
   keeps NCHW);
3. a whole no-grad ``macnn_icasa`` forward at ``--batch`` with a plain ``nn.MaxPool2d(2)``,
   with a channels-last pool (the fast path before 2026-12-07) and with ``MaxPool2x2`` (same
   weights), and whether the logits are bit-identical.

Batch 48 is a training batch of 32 plus AAM's extra half; prediction on the CPU forwards 32
segments at a time (``--batch 32``). The figures depend on the CPU's kernel level (printed).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import create_model  # noqa: E402
from model.macnn import MaxPool2x2  # noqa: E402
from model.precision import cpu_capability, cpu_name  # noqa: E402

MAPS = (("conv2", 32, 38, 199), ("conv3", 48, 19, 99))


def _nchw(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.max_pool2d(x, 2)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.max_pool2d(x.contiguous(memory_format=torch.channels_last), 2).contiguous()


_STRIDED = MaxPool2x2()
VARIANTS = ("NCHW", "channels-last", "strided maximum")


class _ChannelsLastPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _channels_last(x)


def _medians(fns, repeats: int) -> list[float]:
    """Medians (seconds) of each of ``fns``, called in turn after one warm-up each."""
    for f in fns:
        f()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for f, out in zip(fns, times):
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
    return [statistics.median(t) for t in times]


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


def pool_rows(batch: int, repeats: int, seed: int = 0) -> list[tuple[str, list[float | None], bool]]:
    """(case, seconds per variant (None: not run), outputs bit-identical) for comparisons 1 and 2."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for stage, c, h, w in MAPS:
        x = torch.relu(torch.randn(batch, c, h, w, generator=gen))
        with torch.no_grad():
            ref = _bits(_nchw(x))
            same = all(torch.equal(ref, _bits(f(x))) for f in (_channels_last, _STRIDED))
            t = _medians([lambda: _nchw(x), lambda: _channels_last(x), lambda: _STRIDED(x)], repeats)
        rows.append((f"{stage} {tuple(x.shape)} no grad", t, same))
        g = torch.randn(batch, c, h // 2, w // 2, generator=gen)

        def backward(pool):
            xi = x.detach().requires_grad_()
            pool(xi).backward(g)
            return xi.grad

        same = torch.equal(backward(_nchw), backward(_channels_last))
        t = _medians([lambda: backward(_nchw), lambda: backward(_channels_last)], repeats)
        rows.append((f"{stage} {tuple(x.shape)} forward + backward", [*t, None], same))
    return rows


def network_row(batch: int, repeats: int, seed: int = 0) -> tuple[str, list[float | None], bool]:
    """A no-grad ``macnn_icasa`` forward with each pool (same weights)."""
    torch.manual_seed(seed)
    nets = [create_model("macnn_icasa", 8).eval() for _ in VARIANTS]
    for net, pool in zip(nets, (nn.MaxPool2d(2), _ChannelsLastPool(), MaxPool2x2())):
        net.load_state_dict(nets[0].state_dict())
        net.pool = pool
    x = torch.randn(batch, 1, 39, 200, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = _bits(nets[0](x))
        same = all(torch.equal(ref, _bits(net(x))) for net in nets[1:])
        t = _medians([lambda net=net: net(x) for net in nets], repeats)
    return (f"macnn_icasa forward, batch {batch}, no grad", t, same)


def _ms(t: float | None) -> str:
    return "—" if t is None else f"{t * 1e3:.1f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = ap.parse_args(argv)
    torch.set_flush_denormal(True)
    torch.set_num_threads(args.threads)
    rows = pool_rows(args.batch, args.repeats) + [network_row(args.batch, args.repeats)]
    print(f"# {cpu_name()}, ATen kernels {cpu_capability()}, {args.threads} thread(s), "
          f"median of {args.repeats}; ms per call")
    if args.markdown:
        print("| case | " + " | ".join(f"{v} ms" for v in VARIANTS) + " | bit-identical |")
        print("|---|---:|---:|---:|---|")
    for case, times, same in rows:
        if args.markdown:
            print(f"| {case} | " + " | ".join(_ms(t) for t in times) + f" | {same} |")
        else:
            print(f"{case:44s} " + "  ".join(f"{v} {_ms(t):>7s}" for v, t in zip(VARIANTS, times))
                  + f"  same={same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
