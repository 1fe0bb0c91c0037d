"""MACNN's 2x2 max-pool: ATen's NCHW kernel against its channels-last kernel, and what
``model.macnn.MaxPool2x2`` (channels-last when no gradient is needed) gains a whole forward.

Usage: python benchmarks/maxpool.py [--threads 1] [--repeats 7] [--batch 48] [--markdown]

Three comparisons, each pair interleaved in the same run (so machine load hits both) and
reported as the median of ``--repeats``:

1. no-grad pool of the Conv2 map (B, 32, 38, 199) and the Conv3 map (B, 48, 19, 99):
   ``nn.MaxPool2d(2)`` on the NCHW tensor against the pool on a channels-last copy, copied
   back (both layout copies are inside the timing: that is what ``MaxPool2x2`` does);
2. forward + backward of the same pools (why the training pass keeps NCHW);
3. a whole no-grad ``macnn_icasa`` forward at ``--batch`` with ``MaxPool2x2`` against the same
   network with a plain ``nn.MaxPool2d(2)`` (same weights), and whether the outputs are equal.

Batch 48 is a training batch of 32 plus AAM's extra half. The figures depend on the CPU's
kernel level (printed): on an AVX2-only CPU the NCHW kernel is the slow one.
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
from model.precision import cpu_capability, cpu_name  # noqa: E402

MAPS = (("conv2", 32, 38, 199), ("conv3", 48, 19, 99))


def _nchw(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.max_pool2d(x, 2)


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.max_pool2d(x.contiguous(memory_format=torch.channels_last), 2).contiguous()


def _median_pair(a, b, repeats: int) -> tuple[float, float]:
    """Medians (seconds) of ``a()`` and ``b()``, called alternately after one warm-up each."""
    a(), b()
    ta, tb = [], []
    for _ in range(repeats):
        for f, out in ((a, ta), (b, tb)):
            t = time.perf_counter()
            f()
            out.append(time.perf_counter() - t)
    return statistics.median(ta), statistics.median(tb)


def pool_rows(batch: int, repeats: int, seed: int = 0) -> list[tuple[str, float, float, bool]]:
    """(case, NCHW s, channels-last s, outputs equal) for comparisons 1 and 2."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for stage, c, h, w in MAPS:
        x = torch.randn(batch, c, h, w, generator=gen)
        with torch.no_grad():
            same = torch.equal(_nchw(x), _channels_last(x))
            t = _median_pair(lambda: _nchw(x), lambda: _channels_last(x), repeats)
        rows.append((f"{stage} {tuple(x.shape)} no grad", *t, same))
        g = torch.randn(batch, c, h // 2, w // 2, generator=gen)

        def backward(pool):
            xi = x.detach().requires_grad_()
            pool(xi).backward(g)
            return xi.grad

        same = torch.equal(backward(_nchw), backward(_channels_last))
        t = _median_pair(lambda: backward(_nchw), lambda: backward(_channels_last), repeats)
        rows.append((f"{stage} {tuple(x.shape)} forward + backward", *t, same))
    return rows


def network_row(batch: int, repeats: int, seed: int = 0) -> tuple[str, float, float, bool]:
    """A no-grad ``macnn_icasa`` forward: plain ``nn.MaxPool2d(2)`` against ``MaxPool2x2``."""
    torch.manual_seed(seed)
    fast = create_model("macnn_icasa", 8).eval()
    plain = create_model("macnn_icasa", 8).eval()
    plain.load_state_dict(fast.state_dict())
    plain.pool = nn.MaxPool2d(2)
    x = torch.randn(batch, 1, 39, 200, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        same = torch.equal(plain(x), fast(x))
        t = _median_pair(lambda: plain(x), lambda: fast(x), repeats)
    return (f"macnn_icasa forward, batch {batch}, no grad", *t, same)


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
          f"median of {args.repeats}")
    if args.markdown:
        print("| case | NCHW ms | channels-last ms | ratio | same output |")
        print("|---|---:|---:|---:|---|")
    for case, a, b, same in rows:
        if args.markdown:
            print(f"| {case} | {a * 1e3:.1f} | {b * 1e3:.1f} | {a / b:.2f}x | {same} |")
        else:
            print(f"{case:48s} NCHW {a * 1e3:8.1f} ms  channels-last {b * 1e3:8.1f} ms  "
                  f"{a / b:5.2f}x  same={same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
