"""Training throughput: segments/s of forward + backward (+ AAM) with the trainer's own loop.

Usage: python benchmarks/train_throughput.py [--model macnn_icasa] [--steps 20] [--device cpu]
       [--threads N]

Runs ``model.train.train_epoch`` on MFCC segments (N, 1, 39, 200) of coloured noise with and
without AAM and prints original segments processed per second and the AAM pass rate (AAM adds
up to B mixed samples to each batch plus a no-grad difficulty pass; on raw MFCCs nearly every
row finds a partner, as on speech). The inputs give the timing, not the accuracy.
"""

from __future__ import annotations

import argparse
import time

import torch

from model import MFCCExtractor, TrainConfig, create_model, resolve_device
from model.train import train_epoch


def noise_segments(n: int, seed: int = 0) -> torch.Tensor:
    """``(n, 1, 39, 200)`` MFCC segments of 2 s random-walk-coloured noise at 16 kHz."""
    gen = torch.Generator().manual_seed(seed)
    white = torch.randn(n, 32000, generator=gen)
    tilt = torch.rand(n, 1, generator=gen)
    wav = white + tilt * torch.cumsum(white, dim=1) / 50.0  # some low-frequency emphasis
    return MFCCExtractor()(wav)[..., :200][:, None]


def measure(name: str, aug: str, steps: int, batch: int, device: torch.device, seed: int = 0) -> tuple[float, float]:
    """(original segments per second over ``steps`` batches after a warm-up batch, pass rate)."""
    config = TrainConfig(model=name, aug=aug, batch_size=batch, device=str(device), progress=False)
    gen = torch.Generator().manual_seed(seed)
    n = batch * steps
    x = noise_segments(n + batch, seed).to(device)
    y = torch.randint(0, 8, (n + batch,), generator=gen).to(device)
    net = create_model(name, 8).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    aam = config.effective_aam()
    train_epoch(net, opt, scaler, x[:batch], y[:batch], config, aam, 0, device, "fp32")  # warm-up
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    _, _, rate = train_epoch(net, opt, scaler, x[batch:], y[batch:], config, aam, 1, device, "fp32")
    sync()
    return n / (time.perf_counter() - t), rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="macnn_icasa")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    print(f"model {args.model}, batch {args.batch_size}, {args.steps} steps, device {device}, "
          f"torch threads {torch.get_num_threads()}")
    for aug in ("none", "aam"):
        speed, rate = measure(args.model, aug, args.steps, args.batch_size, device)
        passed = "" if aug == "none" else f"   (AAM pass rate {rate:.2f})"
        print(f"  aug={aug:<5} {speed:8.1f} segments/s{passed}")


if __name__ == "__main__":
    main()
