"""Helpers shared by the reliability tests (a unique module name: tests are not packages)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, settings

CLASSES = ["angry", "happy", "neutral", "sad"]


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings for a bounded, derandomised run: the same cases on every machine."""
    return settings(max_examples=max_examples, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def save_untrained(stem: Path, *, fold: int | None, seed: int, train_speakers=()) -> Path:
    """A seeded, untrained MACNN checkpoint ``stem.safetensors`` + ``stem.json``."""
    from model import FeatureConfig, create_model
    from model.checkpoint import save_checkpoint

    torch.manual_seed(seed)
    # a narrow head (the conv trunk is fixed): prediction stays cheap on a busy CPU
    net = create_model("macnn", len(CLASSES), n_heads=1, hidden=4).eval()
    save_checkpoint(stem, net, {"name": "macnn", "classes": list(CLASSES),
                                "feature_config": FeatureConfig().to_dict(), "fold": fold,
                                "train_speakers": sorted(train_speakers)})
    return stem.with_name(stem.name + ".json")


def riff_chunks(data: bytes) -> list[bytes]:
    """The chunk ids of a RIFF/WAVE file, in order."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    ids, i = [], 12
    while i + 8 <= len(data):
        size = struct.unpack("<I", data[i + 4:i + 8])[0]
        ids.append(data[i:i + 4])
        i += 8 + size + (size & 1)
    return ids


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the ``audit`` CLI in-process: (exit code, stdout, stderr)."""
    from audit.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    cap = capsys.readouterr()
    return done.value.code, cap.out, cap.err
