"""Pitch shift in semitones with the duration kept (librosa phase vocoder + resampling)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations import functional as F
from perturbations.base import Perturbation, check_waveform, register
from perturbations.errors import PerturbationError

__all__ = ["Pitch"]


@register
@dataclass(frozen=True)
class Pitch(Perturbation):
    """Shift the pitch by ``semitones`` (``pitch:semitones=2``); tempo and length unchanged.

    Parameters
    ----------
    semitones : float
        In [-12, 12].
    """

    name: ClassVar[str] = "pitch"
    semitones: float

    def _validate(self) -> None:
        if not -12.0 <= self.semitones <= 12.0:
            raise PerturbationError(f"pitch:semitones={self.semitones} is outside [-12, 12]")

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> pitch-shifted waveform (time,), same dtype."""
        import librosa

        x = check_waveform(waveform, self.name)
        if params["semitones"] == 0:
            return x.copy()
        y = librosa.effects.pitch_shift(x.astype(np.float32), sr=int(sample_rate),
                                        n_steps=float(params["semitones"]), res_type="soxr_hq")
        return F.fit_length(np.asarray(y), x.size).astype(x.dtype, copy=False)
