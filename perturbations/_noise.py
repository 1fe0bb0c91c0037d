"""Shared base for additive noise at an exact SNR (AWGN, pink, brown)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perturbations import functional as F
from perturbations.base import Perturbation, check_waveform
from perturbations.errors import PerturbationError

__all__ = ["NoiseAtSNR", "SNR_RANGE_DB"]

# Below -30 dB the speech is gone; above 80 dB float32 rounding of the sum is no longer far
# below the noise, so the achieved SNR could not be held to 0.01 dB.
SNR_RANGE_DB = (-30.0, 80.0)


@dataclass(frozen=True)
class NoiseAtSNR(Perturbation):
    """Adds noise scaled so that the achieved SNR equals ``snr_db`` exactly.

    Signal power is the whole-utterance mean power (``power="whole"``, the paper's definition)
    or the mean over active 20 ms frames (``power="active"``). The noise vector is drawn from
    ``noise_seed`` (sampled per item), and its realised power sets the gain.
    """

    snr_db: float
    power: str = "whole"

    def _validate(self) -> None:
        lo, hi = SNR_RANGE_DB
        if not lo <= self.snr_db <= hi:
            raise PerturbationError(f"{self.name}:snr_db={self.snr_db} is outside [{lo}, {hi}] dB")
        if self.power not in F.POWER_MODES:
            raise PerturbationError(f"{self.name}:power={self.power!r} must be one of "
                                    f"{', '.join(F.POWER_MODES)}")

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
        """``achieved_snr_db`` of the output against the input (same power definition)."""
        return measure_snr(before, after, sample_rate, params)


def add_noise_at_snr(p: Perturbation, waveform: np.ndarray, sample_rate: int,
                     params: dict) -> np.ndarray:
    """Shared apply of every additive noise: ``p.make_noise`` scaled to ``params["snr_db"]``.

    waveform (time,) -> (time,), same dtype; errors name the perturbation ``p``.
    """
    x = check_waveform(waveform, p.name)
    try:
        power = F.signal_power(x, sample_rate, params["power"])
    except PerturbationError as exc:
        raise type(exc)(f"{p.name}: {exc}") from None
    noise = p.make_noise(x.size, sample_rate, params)
    return F.add_at_snr(x, noise, params["snr_db"], sample_rate, params["power"], power)


def measure_snr(before: np.ndarray, after: np.ndarray, sample_rate: int, params: dict) -> dict:
    """``{"achieved_snr_db": ...}`` of ``after`` against ``before`` (``params["power"]``)."""
    return {"achieved_snr_db": F.snr_db(before, after, sample_rate, params["power"])}
