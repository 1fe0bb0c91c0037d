"""Recorded noise: a seeded file and offset from a folder of recordings, at an exact SNR."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations._folder import FolderSource, load_recording
from perturbations._noise import add_noise_at_snr, check_snr_level, measure_snr
from perturbations.base import Perturbation, register

__all__ = ["RecordedNoise"]


@register
@dataclass(frozen=True)
class RecordedNoise(FolderSource, Perturbation):
    """Background recordings from a folder, mixed at ``snr_db`` (``noise:dir=PATH,snr_db=10``).

    Per utterance the generator picks a file and a start sample; the file (any rate, channels
    averaged) is resampled to the utterance's rate and read from that start, looped when the
    utterance is longer than what remains, cropped otherwise. The gain comes from the realised
    power of the segment used, so the SNR is exact under the chosen ``level`` definition. The
    record holds ``file`` (relative to the folder), its ``sha256``, ``offset_s``, ``looped``
    and the achieved SNRs; the folder's hash is the condition's ``source`` (run.json, cache).

    Parameters
    ----------
    dir : str
        Folder of recordings (``.wav .flac .ogg .mp3 .aif .aiff``, searched recursively).
        The path cannot contain ``,`` or ``+`` (the condition grammar's separators).
    snr_db : float
        Target SNR in dB, in [-30, 80].
    level : str
        Speech-level definition: ``whole`` (default), ``active`` or ``p56``.
    """

    name: ClassVar[str] = "noise"
    dir: str
    snr_db: float
    level: str = "whole"

    def _validate(self) -> None:
        check_snr_level(self.name, self.snr_db, self.level)
        self.folder()  # a missing folder, an empty one or a bad file: one error, now

    def sample_params(self, rng: np.random.Generator, sample_rate: int, *,
                      context: dict | None = None) -> dict:
        """Fixed params plus the chosen ``file``, its ``sha256`` and the start ``offset_s``."""
        f = self.pick_file(rng)
        start = int(rng.integers(f.frames))  # native-rate sample
        return {**self.fixed_params(), "file": f.name, "sha256": f.sha256,
                "offset_s": start / f.sample_rate, "file_seconds": f.seconds}

    def _recording(self, sample_rate: int, params: dict) -> np.ndarray:
        return load_recording(self.folder().path(params["file"]), params["sha256"],
                              int(sample_rate), "mean", self.who)

    def make_noise(self, n: int, sample_rate: int, params: dict) -> np.ndarray:
        """(n,) float32: the recording from ``offset_s``, looped as needed."""
        rec = self._recording(sample_rate, params)
        start = int(round(params["offset_s"] * sample_rate)) % rec.size
        return np.take(rec, (start + np.arange(n)) % rec.size)

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> waveform + recorded noise (time,) at ``params["snr_db"]``."""
        return add_noise_at_snr(self, waveform, sample_rate, params)

    def measure(self, before: np.ndarray, after: np.ndarray, sample_rate: int,
                params: dict) -> dict:
        """The achieved SNRs, and ``looped``: whether the file's end was reached and wrapped."""
        rec = self._recording(sample_rate, params)
        start = int(round(params["offset_s"] * sample_rate)) % rec.size
        return {**measure_snr(before, after, sample_rate, params),
                "looped": bool(start + before.size > rec.size)}
