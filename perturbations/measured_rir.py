"""Measured room impulse responses: a seeded choice from a folder of recorded IRs, convolved."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from perturbations import functional as F
from perturbations._folder import FolderSource, load_recording
from perturbations._iso3382 import decay_times
from perturbations.base import Perturbation, check_waveform, register

__all__ = ["MeasuredRIR", "align_ir"]


def align_ir(ir: np.ndarray) -> tuple[np.ndarray, int]:
    """Cut an impulse response (taps,) at its direct path (the largest tap) and scale it to unit
    energy: ``(aligned (taps',) float64, samples removed)``."""
    h = np.asarray(ir, dtype=np.float64)
    start = int(np.argmax(np.abs(h)))
    h = h[start:]
    return h / np.sqrt(np.sum(h * h)), start


@functools.lru_cache(maxsize=256)
def _file_decay(path: str, sha256: str, who: str) -> dict:
    """ISO 3382-1 decay times of a file's first channel at its own rate (cached per file)."""
    import soundfile as sf

    rate = sf.info(path).samplerate
    ir, removed = align_ir(load_recording(path, sha256, rate, "first", who))
    return {**decay_times(ir, rate), "direct_delay_s": removed / rate}


@register
@dataclass(frozen=True)
class MeasuredRIR(FolderSource, Perturbation):
    """Convolve with a recorded impulse response from a folder (``rir:dir=PATH``).

    Per utterance the generator picks a file. Its first channel is resampled to the
    utterance's rate, cut at the direct path (the largest tap: the output stays aligned with
    the input, as for ``reverb``), scaled to unit energy (the reverberant speech keeps about the
    input's level) and convolved causally; the output keeps the input length. The record holds
    ``file``, ``sha256`` and the file's ISO 3382-1 decay times measured at its own rate:
    ``edt_s``, ``t20_s``, ``t30_s`` (None when the response does not decay far enough above its
    noise floor), ``noise_floor_db``, ``direct_delay_s``; ``measured_rt60_s`` is T30, else T20,
    so an audit can be grouped by measured RT60.

    Parameters
    ----------
    dir : str
        Folder of impulse responses (``.wav .flac ...``, any rate and channel count; searched
        recursively). The path cannot contain ``,`` or ``+``.
    """

    name: ClassVar[str] = "rir"
    dir: str

    def _validate(self) -> None:
        self.folder()

    def sample_params(self, rng: np.random.Generator, sample_rate: int, *,
                      context: dict | None = None) -> dict:
        """Fixed params plus the chosen ``file``, its ``sha256`` and measured decay times."""
        f = self.pick_file(rng)
        decay = _file_decay(self.folder().path(f.name), f.sha256, self.who)
        rt60 = decay["t30_s"] if decay["t30_s"] is not None else decay["t20_s"]
        return {**self.fixed_params(), "file": f.name, "sha256": f.sha256,
                "file_sample_rate": f.sample_rate, "file_channels": f.channels,
                **{k: decay[k] for k in ("edt_s", "t20_s", "t30_s", "noise_floor_db",
                                         "direct_delay_s")},
                "measured_rt60_s": rt60}

    def rir(self, sample_rate: int, params: dict) -> np.ndarray:
        """The aligned, unit-energy impulse response (taps,) at ``sample_rate``."""
        ir = load_recording(self.folder().path(params["file"]), params["sha256"], int(sample_rate),
                            "first", self.who)
        return align_ir(ir)[0]

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> reverberant waveform (time,), same dtype, aligned."""
        x = check_waveform(waveform, self.name)
        return F.convolve_same(x, self.rir(sample_rate, params))
