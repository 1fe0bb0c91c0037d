"""``write_synthetic_corpus``: a small, deterministic, speech-like emotional corpus.

Speakers differ in F0, vocal-tract length, tempo, loudness, brightness and voice quality by
about as much as emotions do, so emotion is learnable across speakers but not trivially; the
happy/angry contrast rests partly on subtle cues (spectral tilt, jitter, breathiness) that
additive noise masks. Everything derives from one seed: a speaker from
``default_rng([seed, 0, speaker])``, an utterance from ``default_rng([seed, 1, speaker,
emotion, k])``, so any subset is reproducible on its own.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from audit.data._synth_voice import VoiceParams, synthesize
from audit.data.audio import write_audio
from audit.data.folds import assign_folds
from audit.data.manifest import write_manifest
from audit.errors import AuditError

__all__ = ["write_synthetic_corpus", "SYNTH_EMOTIONS"]

# Emotion offsets: F0 (semitones), F0 range (x), tempo (x), level (dB), tilt (dB),
# jitter (x), breathiness (x), open quotient, pause (x). Chosen from the usual direction of
# acoustic correlates (Scherer 2003; Banse & Scherer 1996), with magnitudes kept near speaker spread.
_PROFILES = {
    "neutral": dict(f0_st=0.0, range=1.0, tempo=1.0, level=0.0, tilt=0.0, jitter=1.0, breath=1.0, oq=0.60, pause=1.0),
    "happy": dict(f0_st=2.0, range=1.5, tempo=1.07, level=2.5, tilt=1.0, jitter=1.0, breath=1.0, oq=0.56, pause=0.9),
    "sad": dict(f0_st=-1.5, range=0.6, tempo=0.85, level=-3.5, tilt=-3.0, jitter=1.4, breath=1.7, oq=0.68, pause=1.5),
    "angry": dict(f0_st=1.5, range=1.2, tempo=1.1, level=4.0, tilt=3.0, jitter=1.9, breath=0.7, oq=0.48, pause=0.8),
}
SYNTH_EMOTIONS = tuple(_PROFILES)


def _speaker_traits(seed: int, index: int, female: bool) -> dict[str, float]:
    rng = np.random.default_rng([seed, 0, index])
    return dict(
        f0_hz=rng.uniform(175, 235) if female else rng.uniform(95, 140),
        formant_scale=(1.17 if female else 1.0) * rng.uniform(0.94, 1.06),
        tempo=rng.uniform(0.85, 1.15), level=rng.uniform(-4, 4), tilt=rng.uniform(-2.5, 2.5),
        jitter=rng.uniform(0.004, 0.012), breath=rng.uniform(0.02, 0.08),
        range_st=rng.uniform(1.5, 3.5), oq=rng.uniform(-0.05, 0.05), pause=rng.uniform(0.06, 0.14),
    )


_ADDITIVE = ("f0_st", "level", "tilt")  # offsets from neutral; the rest are factors (and oq)


def _profile(emotion: str, separation: float) -> dict[str, float]:
    """The emotion's offsets from neutral scaled by ``separation`` (1: the profile as written;
    additive offsets x s, factors ** s, open quotient moved s times as far from neutral's)."""
    e = _PROFILES[emotion]
    if separation == 1.0:
        return e
    n = _PROFILES["neutral"]
    return {k: (v * separation if k in _ADDITIVE else n[k] + (v - n[k]) * separation if k == "oq"
                else v ** separation) for k, v in e.items()}


def _voice(traits: dict[str, float], emotion: str, rng: np.random.Generator,
           separation: float = 1.0) -> VoiceParams:
    e = _profile(emotion, separation)
    return VoiceParams(
        f0_hz=traits["f0_hz"] * 2 ** ((e["f0_st"] + rng.normal(0, 1.0)) / 12),
        range_st=traits["range_st"] * e["range"] * rng.uniform(0.8, 1.2),
        tempo=traits["tempo"] * e["tempo"] * rng.uniform(0.92, 1.08),
        level_db=traits["level"] + e["level"] + rng.normal(0, 1.5),
        tilt_db=traits["tilt"] + e["tilt"] + rng.normal(0, 1.0),
        jitter=traits["jitter"] * e["jitter"] * rng.uniform(0.8, 1.2),
        shimmer=0.04 * e["jitter"] * rng.uniform(0.8, 1.2),
        breath=traits["breath"] * e["breath"] * rng.uniform(0.8, 1.2),
        open_quotient=float(np.clip(e["oq"] + traits["oq"] + rng.normal(0, 0.02), 0.35, 0.8)),
        formant_scale=traits["formant_scale"],
        duration_s=rng.uniform(2.2, 4.6),
        pause_s=traits["pause"] * e["pause"],
    )


def write_synthetic_corpus(dest: str | os.PathLike, *, seed: int = 0, n_speakers: int = 8,
                           utterances_per_emotion: int = 12,
                           emotions: tuple[str, ...] | list[str] = SYNTH_EMOTIONS,
                           n_folds: int | None = None, sample_rate: int = 16000,
                           name: str = "synth", separation: float = 1.0) -> Path:
    """Write ``dest/wav/<utt_id>.wav`` (16-bit mono) and ``dest/manifest.csv``; return the latter.

    Parameters
    ----------
    dest : output folder (created; existing files of the same name are overwritten).
    seed : the one seed everything derives from; the same seed gives identical files.
    n_speakers : speakers ``spk01..``, odd-numbered female (half female, rounded up).
    utterances_per_emotion : utterances per speaker and emotion.
    emotions : subset of ``neutral, happy, sad, angry``.
    n_folds : folds (default ``n_speakers // 2``: one female + one male speaker per fold).
    sample_rate : output rate in Hz (16000 unless testing resampling).
    name : corpus name; another name also prefixes the speaker IDs (``synthb-spk01``), so two
        corpora of different seeds are two sets of speakers (a cross-corpus test).
    separation : how far the emotions sit from neutral, as a multiple of the written profiles
        (1: as written, emotions about as far apart as speakers; 2: twice as far, which a small
        model learns in a few minutes); speakers are unchanged.
    """
    if not 0.0 < float(separation) <= 4.0:
        raise AuditError(f"synthetic corpus: separation must be in (0, 4], got {separation}")
    unknown = [e for e in emotions if e not in _PROFILES]
    if unknown:
        raise AuditError(f"synthetic corpus: unknown emotion(s) {', '.join(unknown)} "
                         f"(available: {', '.join(SYNTH_EMOTIONS)})")
    if n_speakers < 2 or utterances_per_emotion < 1 or not emotions:
        raise AuditError(f"synthetic corpus needs >= 2 speakers, >= 1 utterance per emotion and "
                         f">= 1 emotion (got {n_speakers}, {utterances_per_emotion}, {len(emotions)})")
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise AuditError(f"synthetic corpus: name must be letters, digits, '-' or '_', got {name!r}")
    if int(seed) < 0:
        raise AuditError(f"synthetic corpus: seed must be a non-negative integer, got {seed}")
    dest = Path(dest)
    wav_dir = dest / "wav"
    try:
        wav_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AuditError(f"{dest}: cannot create folder ({exc.strerror})") from None
    rows = []
    for s in range(n_speakers):
        female = s % 2 == 0
        speaker = f"spk{s + 1:02d}" if name == "synth" else f"{name}-spk{s + 1:02d}"
        traits = _speaker_traits(seed, s, female)
        for e_idx, emotion in enumerate(emotions):
            e_code = SYNTH_EMOTIONS.index(emotion)  # stable per emotion, whatever subset is asked
            for k in range(utterances_per_emotion):
                rng = np.random.default_rng([seed, 1, s, e_code, k])
                wave, f0 = synthesize(_voice(traits, emotion, rng, float(separation)), sample_rate, rng)
                utt = f"{speaker}_{emotion}_{k + 1:02d}"
                path = wav_dir / f"{utt}.wav"
                write_audio(path, wave, sample_rate, subtype="PCM_16")
                rows.append(dict(utt_id=utt, path=str(path.resolve()), corpus=name,
                                 speaker=speaker, gender="female" if female else "male",
                                 emotion=emotion, duration_s=len(wave) / sample_rate,
                                 sample_rate=sample_rate, channels=1, f0_hz=round(f0, 1)))
    df = pd.DataFrame(rows)
    n_f = (n_speakers + 1) // 2
    folds = n_folds if n_folds is not None else max(2, min(n_f, n_speakers - n_f))
    df = assign_folds(df, folds)
    return write_manifest(df, dest / "manifest.csv")
