"""Fixtures for the model tests: one torch thread (shared CPU), tiny synthetic waveforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tone_waveforms(n: int, *, seed: int = 0, sr: int = 16000) -> tuple[list[np.ndarray], list[str]]:
    """``n`` waveforms ``(time,)`` of 1.2-3.3 s: class ``low`` = 200 Hz tone, ``high`` = 1.5 kHz,
    plus a little noise; labels alternate low/high."""
    rng = np.random.default_rng(seed)
    waves, labels = [], []
    for i in range(n):
        label = ("low", "high")[i % 2]
        t = np.arange(int(sr * rng.uniform(1.2, 3.3))) / sr
        f = 200.0 if label == "low" else 1500.0
        wav = 0.3 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(t.size)
        waves.append(wav.astype(np.float32))
        labels.append(label)
    return waves, labels


@pytest.fixture
def make_tones():
    """The ``tone_waveforms`` factory (tests import nothing from conftest)."""
    return tone_waveforms
