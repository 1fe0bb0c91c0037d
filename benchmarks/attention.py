"""Attention blocks before/after the rework: forward + backward time per block, and one
``macnn_icasa`` training step (forward + backward + Adam).

Usage: python benchmarks/attention.py [--threads 1] [--repeats 5] [--batches 32 64]
       [--precisions fp32 bf16] [--kinds ca ica sa icasa se eca cbam] [--no-step] [--profile]

"before" is the frozen copy of the old modules (``tests/model/_attention_reference.py``),
"after" the current ``model.attention``; both get the same weights and inputs. Each
measurement is repeated ``--repeats`` times with before and after interleaved (so machine
load hits both) and the median is printed. Shapes are the maps after Conv2..Conv5 of a
(B, 1, 39, 200) segment; batch 64 is what a batch of 32 becomes under AAM. ``bf16`` runs
under ``torch.autocast("cpu", dtype=torch.bfloat16)``. ``--profile`` prints the top operators
of one icasa training step, before and after.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model import create_model  # noqa: E402
from model.attention import build_attention  # noqa: E402
from tests.model._attention_reference import build_reference_attention, reference_model  # noqa: E402

STAGES = (("conv2", 32, 38, 199), ("conv3", 48, 19, 99), ("conv4", 64, 9, 49), ("conv5", 80, 9, 49))


def _autocast(precision: str):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")


def _block_pair(kind: str, channels: int):
    ref = build_reference_attention(kind, channels)
    new = build_attention(kind, channels)
    new.load_state_dict(ref.state_dict(), strict=True)
    return ref, new


def _time_block(block, x, g, precision) -> float:
    xi = x.detach().requires_grad_()
    t = time.perf_counter()
    with _autocast(precision):
        out = block(xi)
    out.backward(g.to(out.dtype))
    return time.perf_counter() - t


def block_times(kind, batch, precision, repeats, seed=0):
    """{stage: (before_s, after_s)} medians of forward + backward."""
    gen = torch.Generator().manual_seed(seed)
    result = {}
    for stage, c, h, w in STAGES:
        ref, new = _block_pair(kind, c)
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        x = torch.randn(batch, c, h, w, generator=gen).relu_().to(dtype)  # a post-ReLU map
        g = torch.randn(batch, c, h, w, generator=gen)
        for block in (ref, new):
            _time_block(block, x, g, precision)  # warm-up
        times = {"before": [], "after": []}
        for _ in range(repeats):
            times["before"].append(_time_block(ref, x, g, precision))
            times["after"].append(_time_block(new, x, g, precision))
        result[stage] = (statistics.median(times["before"]), statistics.median(times["after"]))
    return result


def _step(net, opt, x, y, precision):
    t = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    with _autocast(precision):
        out = net(x)
    torch.nn.functional.cross_entropy(out.float(), y).backward()
    opt.step()
    return time.perf_counter() - t


def step_times(batch, precision, repeats, name="macnn_icasa", seed=0):
    """(before_s, after_s) medians of one training step of ``name``."""
    torch.manual_seed(seed)
    new = create_model(name, 8)
    ref = reference_model(new)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, 39, 200, generator=gen) * 10.0
    y = torch.randint(0, 8, (batch,), generator=gen)
    opts = {id(m): torch.optim.Adam(m.parameters(), lr=1e-3, weight_decay=1e-6) for m in (ref, new)}
    for m in (ref, new):
        _step(m, opts[id(m)], x, y, precision)
    times = {"before": [], "after": []}
    for _ in range(repeats):
        times["before"].append(_step(ref, opts[id(ref)], x, y, precision))
        times["after"].append(_step(new, opts[id(new)], x, y, precision))
    return statistics.median(times["before"]), statistics.median(times["after"])


def profile_step(batch, precision, rows=12):
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    new = create_model("macnn_icasa", 8)
    ref = reference_model(new)
    x = torch.randn(batch, 1, 39, 200) * 10.0
    y = torch.randint(0, 8, (batch,))
    for label, net in (("before", ref), ("after", new)):
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        _step(net, opt, x, y, precision)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            _step(net, opt, x, y, precision)
        total = sum(e.self_cpu_time_total for e in prof.key_averages())
        print(f"\nprofile of one macnn_icasa step, batch {batch}, {precision}, {label}: "
              f"self CPU total {total / 1e3:.0f} ms")
        for e in sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)[:rows]:
            print(f"  {e.key:<40s} {e.self_cpu_time_total / 1e3:8.1f} ms {100 * e.self_cpu_time_total / total:5.1f} %"
                  f"  {e.count:5d} calls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 64])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"])
    parser.add_argument("--kinds", nargs="+", default=["ca", "ica", "sa", "icasa", "se", "eca", "cbam"])
    parser.add_argument("--no-step", action="store_true", help="skip the whole-model training step")
    parser.add_argument("--profile", action="store_true", help="profile one icasa step before/after")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}, median of {args.repeats} interleaved repeats")
    if args.profile:
        for precision in args.precisions:
            profile_step(args.batches[0], precision)
        return
    head = " | ".join(f"{s} before → after ms" for s, *_ in STAGES)
    print(f"\n| block | precision | batch | {head} | sum before → after ms | speed-up |")
    print("|---|---|---|" + "---|" * (len(STAGES) + 2))
    for precision in args.precisions:
        for batch in args.batches:
            for kind in args.kinds:
                res = block_times(kind, batch, precision, args.repeats)
                cells = " | ".join(f"{1e3 * b:.1f} → {1e3 * a:.1f}" for b, a in res.values())
                tb, ta = sum(b for b, _ in res.values()), sum(a for _, a in res.values())
                print(f"| {kind} | {precision} | {batch} | {cells} | {1e3 * tb:.0f} → {1e3 * ta:.0f} | "
                      f"{tb / ta:.2f}× |", flush=True)
    if args.no_step:
        return
    print("\n| macnn_icasa training step | precision | batch | before ms | after ms | speed-up | samples/s after |")
    print("|---|---|---|---|---|---|---|")
    for precision in args.precisions:
        for batch in args.batches:
            b, a = step_times(batch, precision, args.repeats)
            print(f"| forward + backward + Adam | {precision} | {batch} | {1e3 * b:.0f} | {1e3 * a:.0f} | "
                  f"{b / a:.2f}× | {batch / a:.1f} |", flush=True)


if __name__ == "__main__":
    main()
