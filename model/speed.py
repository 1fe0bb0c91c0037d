"""Speed perturbation: play an utterance ``factor`` times as fast (tempo and pitch together),
by resampling, as Kaldi's and ESPnet's speed perturbation do."""

from __future__ import annotations

import numpy as np
import torch
import torchaudio

from model.errors import ModelError

__all__ = ["change_speed"]


def change_speed(waveform: np.ndarray, factor: float, sample_rate: int = 16000) -> np.ndarray:
    """``waveform: (time,)`` float -> ``(round(time / factor),)`` float32 (about): the samples are
    read as if recorded at ``factor * sample_rate`` and resampled to ``sample_rate``.
    ``factor`` 1 returns the input as float32; factors are rounded to 1/10 Hz of rate."""
    if not 0.5 <= factor <= 2.0:
        raise ModelError(f"speed factor {factor}: must lie in [0.5, 2.0]")
    x = np.asarray(waveform, dtype=np.float32)
    if factor == 1.0:
        return x
    orig = int(round(sample_rate * factor * 10))  # tenths of Hz keep 0.9 / 1.1 exact ratios
    out = torchaudio.functional.resample(torch.from_numpy(x), orig, sample_rate * 10)
    return out.numpy()
