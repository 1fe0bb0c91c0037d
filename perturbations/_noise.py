"""Shared base for additive noise at an exact SNR (AWGN, pink, brown, recorded noise)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perturbations import functional as F
from perturbations.base import Perturbation, check_waveform
from perturbations.errors import PerturbationError

__all__ = ["NoiseAtSNR", "SNR_RANGE_DB", "check_snr_level", "add_noise_at_snr", "measure_snr"]

# Below -30 dB the speech is gone; above 80 dB float32 rounding of the sum is no longer far
# below the noise, so the achieved SNR could not be held to 0.01 dB.
SNR_RANGE_DB = (-30.0, 80.0)


@dataclass(frozen=True)
class NoiseAtSNR(Perturbation):
    """Adds noise scaled so that the achieved SNR equals ``snr_db`` exactly.

    The speech level is the whole-utterance mean power (``level="whole"``, the paper's
    definition), the mean over active 20 ms frames (``level="active"``) or the ITU-T P.56
    active speech level (``level="p56"``); the noise level is its mean power. The noise vector
    is drawn from ``noise_seed`` (sampled per item), and its realised power sets the gain.
    ``power=`` is the older spelling of ``level=`` (still parsed).
    """

    snr_db: float
    level: str = "whole"

    def _validate(self) -> None:
        check_snr_level(self.name, self.snr_db, self.level)

    def sample_params(self, rng: np.random.Generator, sample_rate: int, *,
                      context: dict | None = None) -> dict:
        """Fixed params plus ``noise_seed`` (int) for the noise vector."""
        return {**self.fixed_params(), "noise_seed": int(rng.integers(0, 2**63))}

    def make_noise(self, n: int, sample_rate: int, params: dict) -> np.ndarray:
        """Unscaled noise of shape (n,), float64, from ``params["noise_seed"]``."""
        raise NotImplementedError

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> waveform + noise (time,) at ``params["snr_db"]``, same dtype."""
        return add_noise_at_snr(self, waveform, sample_rate, params)

    def measure(self, before: np.ndarray, after: np.ndarray, sample_rate: int,
                params: dict) -> dict:
        """Achieved SNR of the output against the input: see :func:`measure_snr`."""
        return measure_snr(before, after, sample_rate, params)


def check_snr_level(name: str, snr_db: float, level: str) -> None:
    """Raise ``PerturbationError`` for an SNR outside the range or an unknown level definition."""
    lo, hi = SNR_RANGE_DB
    if not lo <= snr_db <= hi:
        raise PerturbationError(f"{name}:snr_db={snr_db} is outside [{lo}, {hi}] dB")
    if level not in F.POWER_MODES:
        raise PerturbationError(f"{name}:level={level!r} must be one of {', '.join(F.POWER_MODES)}")


def add_noise_at_snr(p: Perturbation, waveform: np.ndarray, sample_rate: int,
                     params: dict) -> np.ndarray:
    """Shared apply of every additive noise: ``p.make_noise`` scaled to ``params["snr_db"]``.

    waveform (time,) -> (time,), same dtype; errors name the perturbation ``p``.
    """
    x = check_waveform(waveform, p.name)
    try:
        power = F.signal_power(x, sample_rate, params["level"])
    except PerturbationError as exc:
        raise type(exc)(f"{p.name}: {exc}") from None
    noise = p.make_noise(x.size, sample_rate, params)
    if not F.noise_power(noise) > 0:
        raise PerturbationError(f"{p.name}: the noise is silent (all zeros); no gain reaches the SNR")
    return F.add_at_snr(x, noise, params["snr_db"], sample_rate, params["level"], power)


def measure_snr(before: np.ndarray, after: np.ndarray, sample_rate: int, params: dict) -> dict:
    """Achieved SNR of ``after`` against ``before`` under the condition's level definition
    (``achieved_snr_db``, exact) and under the two others worth comparing: the whole-signal
    power (``achieved_snr_whole_db``) and the P.56 active speech level (``achieved_snr_p56_db``)."""
    noise = F.noise_power(np.asarray(after) - np.asarray(before))
    out = {}
    for key, mode in (("achieved_snr_db", params["level"]), ("achieved_snr_whole_db", "whole"),
                      ("achieved_snr_p56_db", "p56")):
        out[key] = 10.0 * np.log10(F.signal_power(before, sample_rate, mode) / noise)
    return out
