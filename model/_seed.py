"""Seeds and determinism without touching global random state for longer than needed."""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["derive_seed", "torch_generator", "numpy_rng", "seeded_init", "seeded_global", "deterministic"]


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 63-bit seed derived from ``seed`` and ``keys`` (strings hashed with crc32)."""
    parts = [int(seed)] + [zlib.crc32(k.encode()) if isinstance(k, str) else int(k) for k in keys]
    # SeedSequence mixes the words properly; one 64-bit draw is enough for torch.
    return int(np.random.SeedSequence(parts).generate_state(1, dtype=np.uint64)[0] >> 1)


def torch_generator(seed: int, *keys: int | str) -> torch.Generator:
    """A CPU ``torch.Generator`` for (seed, keys): results do not depend on the device."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(derive_seed(seed, *keys))
    return gen


def numpy_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """``numpy.random.default_rng([seed, *keys])`` with string keys hashed."""
    return np.random.default_rng(derive_seed(seed, *keys))


@contextlib.contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Seed torch's global CPU generator inside the block, restore it afterwards.

    ``nn.Module`` constructors draw from the global generator; forking keeps the caller's
    random state untouched while making weight initialisation a function of ``seed``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, "init"))
        yield


@contextlib.contextmanager
def seeded_global(seed: int, *keys: int | str, device: torch.device | None = None) -> Iterator[None]:
    """Seed torch's global generators (CPU, and ``device`` when CUDA) from ``(seed, keys)``
    inside the block, restore them afterwards.

    Layers such as ``nn.Dropout`` draw from the global generator during training; seeding it
    here makes a training run a function of its seed without leaving global state changed.
    """
    cuda = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device is not None and device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(derive_seed(seed, *keys))
        yield


@contextlib.contextmanager
def deterministic(enabled: bool = True) -> Iterator[None]:
    """Turn on ``torch.use_deterministic_algorithms`` inside the block, restore afterwards."""
    # cuBLAS needs this set before its first use to be deterministic.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    previous = torch.are_deterministic_algorithms_enabled()
    prev_cudnn = torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic
    torch.use_deterministic_algorithms(enabled)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = enabled
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = prev_cudnn
