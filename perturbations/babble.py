"""Babble: other speakers of the corpus talking at once, added at an exact SNR."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from perturbations import functional as F
from perturbations._noise import add_noise_at_snr, check_snr_level, measure_snr
from perturbations.base import Perturbation, register
from perturbations.errors import PerturbationError

__all__ = ["Babble", "load_mono"]


@functools.lru_cache(maxsize=128)
def load_mono(path: str, sample_rate: int) -> np.ndarray:
    """A corpus file as mono float32 (time,) at ``sample_rate`` (soundfile + torchaudio)."""
    import soundfile as sf

    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types; the message is what matters
        raise PerturbationError(f"babble: cannot read talker file {path}: {exc}") from None
    mono = data.mean(axis=1)
    if mono.size == 0 or not np.any(mono):
        raise PerturbationError(f"babble: talker file {path} is empty or silent")
    return F.resample(mono, int(sr), int(sample_rate))


@register
@dataclass(frozen=True)
class Babble(Perturbation):
    """Sum of ``talkers`` utterances by other speakers, at ``snr_db`` (``babble:snr_db=5``).

    ``bind_corpus(manifest)`` gives the pool (columns ``path, speaker, utt_id``; the audit engine
    calls it). ``sample_params`` picks distinct speakers other than ``context["speaker"]``, one
    utterance each and a random start offset; every talker is looped to the target length and
    normalised to unit power before summing, so talkers are equally loud.

    Parameters
    ----------
    snr_db : float
        Target SNR in dB, in [-30, 80], achieved exactly (``achieved_snr_db``).
    talkers : int
        Number of simultaneous talkers, 1..16 (default 4).
    level : str
        ``whole``, ``active`` or ``p56`` speech level, as for AWGN.
    """

    name: ClassVar[str] = "babble"
    snr_db: float
    talkers: int = 4
    level: str = "whole"

    def _validate(self) -> None:
        check_snr_level("babble", self.snr_db, self.level)
        if not 1 <= self.talkers <= 16:
            raise PerturbationError(f"babble:talkers={self.talkers} must be in 1..16")

    def bind_corpus(self, manifest: Any) -> None:
        """Keep the talker pool: rows (utt_id, path, speaker) of ``manifest``, sorted by utt_id."""
        missing = [c for c in ("path", "speaker", "utt_id") if c not in getattr(manifest, "columns", ())]
        if missing:
            raise PerturbationError(f"babble.bind_corpus: the manifest lacks column(s) "
                                    f"{', '.join(missing)}")
        rows = sorted(zip(manifest["utt_id"].astype(str), manifest["path"].astype(str),
                          manifest["speaker"].astype(str)))
        object.__setattr__(self, "_pool", tuple(rows))  # not a field: not part of the condition

    def corpus_key(self) -> str | None:
        """sha256 of the talker pool's (utt_id, speaker) rows, which decide the picks; None unbound."""
        pool = getattr(self, "_pool", None)
        if pool is None:
            return None
        text = "\n".join(f"{utt}\t{spk}" for utt, _, spk in pool)
        return hashlib.sha256(text.encode()).hexdigest()

    def sample_params(self, rng: np.random.Generator, sample_rate: int, *,
                      context: dict | None = None) -> dict:
        """Pick talkers (``talker_ids``, ``talker_paths``, ``offsets``, ';'-joined) from the pool."""
        pool = getattr(self, "_pool", None)
        if not pool:
            raise PerturbationError("babble needs a corpus: call bind_corpus(manifest) first "
                                    "(the audit engine does; `audit perturb` needs --data)")
        ctx = context or {}
        own_speaker, own_utt = str(ctx.get("speaker", "")), str(ctx.get("utt_id", ""))
        by_speaker: dict[str, list[tuple[str, str]]] = {}
        for utt, path, spk in pool:
            if utt != own_utt and (not own_speaker or spk != own_speaker):
                by_speaker.setdefault(spk, []).append((utt, path))
        speakers = sorted(by_speaker)
        if len(speakers) < self.talkers:
            raise PerturbationError(f"babble:talkers={self.talkers} but the corpus has only "
                                    f"{len(speakers)} other speaker(s)")
        chosen = rng.choice(len(speakers), size=self.talkers, replace=False)
        picks = [by_speaker[speakers[i]][int(rng.integers(len(by_speaker[speakers[i]])))]
                 for i in sorted(chosen)]
        offsets = rng.uniform(0.0, 1.0, size=self.talkers)
        return {**self.fixed_params(),
                "talker_ids": ";".join(u for u, _ in picks),
                "talker_paths": ";".join(p for _, p in picks),
                "offsets": ";".join(repr(float(o)) for o in offsets)}

    def make_noise(self, n: int, sample_rate: int, params: dict) -> np.ndarray:
        """The babble (n,) float64: each talker looped from its offset, unit power, summed."""
        out = np.zeros(n)
        offsets = [float(o) for o in params["offsets"].split(";")]
        for path, offset in zip(params["talker_paths"].split(";"), offsets):
            talk = load_mono(path, int(sample_rate)).astype(np.float64)
            start = int(offset * talk.size)
            reps = -(-(n + start) // talk.size)
            seg = np.tile(talk, reps)[start: start + n]
            out += seg / np.sqrt(F.noise_power(seg) or 1.0)
        return out

    def apply(self, waveform: np.ndarray, sample_rate: int, params: dict) -> np.ndarray:
        """waveform (time,) -> waveform + babble (time,) at ``params["snr_db"]``, same dtype."""
        return add_noise_at_snr(self, waveform, sample_rate, params)

    def measure(self, before: np.ndarray, after: np.ndarray, sample_rate: int,
                params: dict) -> dict:
        """Achieved SNR of the output against the input (``measure_snr``)."""
        return measure_snr(before, after, sample_rate, params)
