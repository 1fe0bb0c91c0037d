"""Additive white Gaussian noise at an exact SNR (the paper's 20 / 10 / 0 dB conditions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations import functional as F
from perturbations._noise import NoiseAtSNR
from perturbations.base import register

__all__ = ["AWGN"]


@register
@dataclass(frozen=True)
class AWGN(NoiseAtSNR):
    """White Gaussian noise at ``snr_db`` (``awgn:snr_db=10``; ``level=p56`` option).

    Parameters
    ----------
    snr_db : float
        Target SNR in dB, in [-30, 80]; achieved exactly (recorded as ``achieved_snr_db``).
    level : str
        Speech-level definition: ``whole`` (default), ``active`` (20 ms gate) or ``p56``.
    """

    name: ClassVar[str] = "awgn"

    def make_noise(self, n: int, sample_rate: int, params: dict) -> np.ndarray:
        """Standard normal noise (n,) from ``params["noise_seed"]``."""
        return F.white_noise(n, np.random.default_rng(params["noise_seed"]))
