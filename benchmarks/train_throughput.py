"""Training and prediction throughput: segments/s with the trainer's own loop, in one run.

Usage: python benchmarks/train_throughput.py [--steps 20] [--models macnn:none macnn_icasa:aam]
       [--eval-batches 20] [--markdown]

For each model/augmentation it measures, each in a fresh process (threads, denormal flushing
and the malloc setting of ``audit._malloc`` set before the first torch op, as ``audit train``
does):

- training, fp32 and bf16 autocast, 1 and 2 torch threads;
- training as ``--jobs 2``: two 1-thread processes at once, the aggregate segments/s;
- prediction (eval forward of batch-32 segments, the predictor's CPU batch), fp32 and bf16.

Inputs are MFCC segments (N, 1, 39, 200) of coloured noise: they give the timing, not the
accuracy. Original segments per second are reported (AAM adds up to B mixed samples per batch
plus a no-grad difficulty pass). Run it on a quiet machine: other load moves every figure.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

# the project first: benchmarks/audit.py would otherwise shadow the ``audit`` package
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

__all__ = ["measure_train", "measure_eval"]


def _setup(threads: int) -> None:
    import torch

    from audit import keep_freed_memory

    keep_freed_memory()  # as `audit train` and its workers do (SER_AUDIT_MALLOC=system: not)
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)


def noise_segments(n: int, seed: int = 0):
    """``(n, 1, 39, 200)`` MFCC segments of 2 s random-walk-coloured noise at 16 kHz."""
    import torch

    from model import MFCCExtractor

    gen = torch.Generator().manual_seed(seed)
    white = torch.randn(n, 32000, generator=gen)
    tilt = torch.rand(n, 1, generator=gen)
    wav = white + tilt * torch.cumsum(white, dim=1) / 50.0  # some low-frequency emphasis
    return MFCCExtractor()(wav)[..., :200][:, None]


def measure_train(name: str, aug: str, precision: str, threads: int, steps: int, batch: int = 32,
                  start_barrier=None) -> float:
    """Original segments/s of ``steps`` training batches after two warm-up batches."""
    _setup(threads)
    import torch

    from model import TrainConfig, create_model
    from model.train import train_epoch

    config = TrainConfig(model=name, aug=aug, batch_size=batch, device="cpu", progress=False)
    gen = torch.Generator().manual_seed(0)
    n = batch * steps
    x = noise_segments(n + 2 * batch)
    y = torch.randint(0, 8, (n + 2 * batch,), generator=gen)
    net = create_model(name, 8)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    aam = config.effective_aam()
    device = torch.device("cpu")
    train_epoch(net, opt, scaler, x[: 2 * batch], y[: 2 * batch], config, aam, 0, device, precision)
    if start_barrier is not None:
        start_barrier.wait()
    t = time.perf_counter()
    train_epoch(net, opt, scaler, x[2 * batch:], y[2 * batch:], config, aam, 1, device, precision)
    return n / (time.perf_counter() - t)


def measure_eval(name: str, precision: str, threads: int, batches: int, batch: int = 32) -> float:
    """Segments/s of the eval forward (what the predictor runs) after a warm-up batch."""
    _setup(threads)
    import torch

    from model import create_model
    from model.precision import autocast_context

    net = create_model(name, 8).eval()
    x = noise_segments(batch * (batches + 1))
    with torch.no_grad(), autocast_context(precision, "cpu"):
        net(x[:batch])
        t = time.perf_counter()
        for i in range(1, batches + 1):
            torch.softmax(net(x[i * batch:(i + 1) * batch]).float(), dim=1)
    return batches * batch / (time.perf_counter() - t)


def _in_fresh_process(fn, *args):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(fn, args)


def _jobs2(name: str, aug: str, precision: str, steps: int) -> float:
    """Aggregate segments/s of two 1-thread training processes started together."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(2)
    with ctx.Pool(2) as pool:
        runs = [pool.apply_async(measure_train, (name, aug, precision, 1, steps, 32, barrier)) for _ in range(2)]
        return sum(r.get() for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="training batches per measurement")
    parser.add_argument("--eval-batches", type=int, default=40)
    parser.add_argument("--models", nargs="+", default=["macnn:none", "macnn_icasa:aam"])
    parser.add_argument("--markdown", action="store_true", help="also print the README table")
    args = parser.parse_args()
    import torch

    from model.precision import cpu_capability, cpu_has_native_bf16

    precisions = ["fp32", "bf16"] if cpu_has_native_bf16() else ["fp32"]
    print(f"torch {torch.__version__}, CPU kernels {cpu_capability()}, native bf16 {cpu_has_native_bf16()}, "
          f"batch 32, {args.steps} training steps / {args.eval_batches} eval batches per figure")
    table = []
    for spec in args.models:
        name, aug = spec.split(":")
        row = {"model": f"{name} / {aug}"}
        for prec in precisions:
            for threads in (1, 2):
                row[f"train {prec} {threads}t"] = _in_fresh_process(measure_train, name, aug, prec, threads,
                                                                    args.steps)
            row[f"train {prec} jobs2"] = _jobs2(name, aug, prec, args.steps)
            row[f"eval {prec} 2t"] = _in_fresh_process(measure_eval, name, prec, 2, args.eval_batches)
        table.append(row)
        print(row["model"])
        for key, value in row.items():
            if key != "model":
                print(f"  {key:<18} {value:8.1f} segments/s")
        base = row["train fp32 2t"]
        for prec in precisions[1:]:
            print(f"  ratios vs fp32 2 threads: {prec} 2t {row[f'train {prec} 2t'] / base:.2f}x, "
                  f"{prec} jobs2 {row[f'train {prec} jobs2'] / base:.2f}x; eval {prec} vs fp32 "
                  f"{row[f'eval {prec} 2t'] / row['eval fp32 2t']:.2f}x")
    if args.markdown:
        keys = [k for k in table[0] if k != "model"]
        print("\n| model / aug | " + " | ".join(keys) + " |")
        print("|---|" + "---|" * len(keys))
        for row in table:
            print(f"| {row['model']} | " + " | ".join(f"{row[k]:.1f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
