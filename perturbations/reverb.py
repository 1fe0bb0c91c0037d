"""Reverberation at a target RT60: a calibrated shoebox room, RT60 measured and recorded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations import _room
from perturbations import functional as F
from perturbations.base import Perturbation, check_waveform, register
from perturbations.errors import PerturbationError

__all__ = ["Reverb", "RT60_RANGE_S"]

# Above 1.2 s the image-source count (and memory) grows past a few million images per room.
RT60_RANGE_S = (0.1, 1.2)


@register
@dataclass(frozen=True)
class Reverb(Perturbation):
    """Convolve with a shoebox-room RIR whose measured RT60 is within 2 % of ``rt60_s``.

    Rooms (dims 4-8 x 3-6 x 2.5-3.5 m; source and microphone 1.2-1.9 m high, >= 0.5 m from
    the walls, 1-3 m apart) are drawn, then their common wall absorption is bisected until
    the RT60 measured (Schroeder, T20) from the RIR is on target. The direct path is at tap
    0 (no added delay), the RIR has unit energy, the output keeps the input length.

    Parameters
    ----------
    rt60_s : float
        Target RT60 in seconds, in [0.1, 1.2].
    bank_size : int
        Rooms per condition (default 16), built lazily and cached in memory; each utterance
        picks one with its own generator. 0: a fresh room per utterance (slow).
    bank_seed : int
        Seed of the bank's rooms (independent of the audit seed, so conditions and runs share
        rooms).
    """

    name: ClassVar[str] = "reverb"
    rt60_s: float
    bank_size: int = 16
    bank_seed: int = 0

    def _validate(self) -> None:
        lo, hi = RT60_RANGE_S
        if not lo <= self.rt60_s <= hi:
            raise PerturbationError(f"reverb:rt60_s={self.rt60_s} is outside [{lo}, {hi}] s")
        if not 0 <= self.bank_size <= 1024:
            raise PerturbationError(f"reverb:bank_size={self.bank_size} must be in 0..1024")
        if self.bank_seed < 0:
            raise PerturbationError(f"reverb:bank_seed={self.bank_seed} must be >= 0")

    def sample_params(self, rng: np.random.Generator, sample_rate: int, *,
                      context: dict | None = None) -> dict:
        """Pick a room of the bank (or draw one): geometry, absorption, ``measured_rt60_s``."""
        if self.bank_size:
            index = int(rng.integers(self.bank_size))
            room = _room.bank_room(self.rt60_s, int(sample_rate), self.bank_seed, index)
        else:
            index = -1
            room = _room.calibrated_room(np.random.default_rng(int(rng.integers(0, 2**63))),
                                         self.rt60_s, int(sample_rate))
        g = room.geometry
        return {
            **self.fixed_params(), "room": index,
            **{f"room_{a}_m": v for a, v in zip("xyz", g.dims)},
            **{f"source_{a}_m": v for a, v in zip("xyz", g.source)},
            **{f"mic_{a}_m": v for a, v in zip("xyz", g.mic)},
            "absorption": room.absorption, "measured_rt60_s": room.measured_rt60_s,
        }

    def rir(self, sample_rate: int, params: dict) -> np.ndarray:
        """The room impulse response (taps,) float64 for ``params``, direct path at tap 0."""
        geom = _room.Geometry(tuple(float(params[f"room_{a}_m"]) for a in "xyz"),
                              tuple(float(params[f"source_{a}_m"]) for a in "xyz"),
                              tuple(float(params[f"mic_{a}_m"]) for a in "xyz"))
        return _room.room_rir(geom, float(params["absorption"]), int(sample_rate),
                              float(params["rt60_s"]))

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> reverberant waveform (time,), same dtype, aligned."""
        x = check_waveform(waveform, self.name)
        return F.convolve_same(x, self.rir(sample_rate, params))
