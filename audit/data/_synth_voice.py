"""Source-filter voice synthesis for the synthetic corpus (pure functions, explicit rng).

A glottal pulse train (Rosenberg pulse, with jitter, shimmer and aspiration noise) drives a
cascade of formant resonators, one vowel per syllable, with syllable amplitude envelopes,
fricative bursts between syllables, a spectral-tilt shelf and a faint noise floor.
Emotion acts only through prosody and voice quality, so it overlaps with speaker variation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

__all__ = ["VoiceParams", "synthesize"]

# Male-reference vowel formants (Hz), Peterson & Barney style averages: /a/ /i/ /u/ /e/ /o/.
_VOWELS = np.array([[730, 1090, 2440, 3400], [270, 2290, 3010, 3700], [300, 870, 2240, 3300],
                    [530, 1840, 2480, 3500], [570, 840, 2410, 3400]], dtype=float)
_BANDWIDTHS = np.array([80.0, 100.0, 140.0, 200.0])


@dataclass(frozen=True)
class VoiceParams:
    """Everything that shapes one utterance (speaker traits already combined with emotion)."""

    f0_hz: float            # mean F0 before accents and declination
    range_st: float         # accent excursion in semitones
    tempo: float            # syllable-rate multiplier (1 = 5 syllables per second)
    level_db: float         # output RMS relative to -26 dBFS
    tilt_db: float          # high-shelf gain above 1 kHz (positive = brighter, pressed)
    jitter: float           # cycle-to-cycle relative F0 perturbation (std)
    shimmer: float          # cycle-to-cycle relative amplitude perturbation (std)
    breath: float           # aspiration noise relative to the pulse
    open_quotient: float    # glottal open phase as a fraction of the period
    formant_scale: float    # vocal-tract length scaling (about 1.17 for female voices)
    duration_s: float       # target duration (the result lies in [2, 5] s)
    pause_s: float          # mean pause between words


def _resonator(freq: float, bw: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * freq / sr
    a = np.array([1.0, -2 * r * np.cos(theta), r * r])
    return np.array([a.sum()]), a  # unity gain at DC keeps vowels at comparable levels


def _glottal_source(f0: np.ndarray, p: VoiceParams, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Glottal flow derivative (time,) for the F0 track ``f0`` (time,) in Hz."""
    n_max = int(np.ceil(f0.sum() / sr)) + 2
    jitter = 1.0 + p.jitter * rng.standard_normal(n_max)
    shimmer = np.clip(1.0 + p.shimmer * rng.standard_normal(n_max), 0.3, None)
    period = np.floor(np.cumsum(f0) / sr).astype(int)
    phase = np.cumsum(f0 * jitter[np.minimum(period, n_max - 1)]) / sr
    k = np.minimum(phase.astype(int), n_max - 1)
    u = phase - np.floor(phase)
    oq = p.open_quotient
    rise, fall = 0.6 * oq, 0.4 * oq
    flow = np.zeros_like(u)
    opening, closing = u < rise, (u >= rise) & (u < oq)
    flow[opening] = 0.5 * (1 - np.cos(np.pi / rise * u[opening]))
    flow[closing] = np.cos(0.5 * np.pi / fall * (u[closing] - rise))
    flow *= shimmer[k]
    deriv = np.diff(flow, prepend=0.0) * sr / (f0.mean() * 4.0)
    aspiration = rng.standard_normal(len(f0)) * (0.25 + flow) * p.breath
    return deriv + aspiration


def _tilt(x: np.ndarray, tilt_db: float, sr: int) -> np.ndarray:
    """First-order high shelf at 1 kHz: low band unchanged, high band scaled by ``tilt_db``."""
    c = np.exp(-2 * np.pi * 1000.0 / sr)
    low = lfilter([1 - c], [1, -c], x)
    return low + (x - low) * 10 ** (tilt_db / 20)


def synthesize(p: VoiceParams, sr: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Render one utterance.

    Returns
    -------
    waveform : np.ndarray float32 (time,), 2–5 s at ``sr``, peak below 0.99.
    mean_f0 : float, the mean F0 (Hz) over voiced samples.
    """
    syl_mean = 0.2 / p.tempo
    lead, trail = rng.uniform(0.08, 0.25, size=2)
    pieces: list[tuple[float, float, int]] = []   # (start_s, duration_s, vowel)
    t = lead
    while t + syl_mean < min(p.duration_s, 4.6) - trail:
        dur = syl_mean * rng.uniform(0.7, 1.35)
        pieces.append((t, dur, int(rng.integers(len(_VOWELS)))))
        t += dur
        if rng.random() < 0.4:  # word boundary
            t += p.pause_s * rng.uniform(0.5, 1.5)
    total = float(np.clip(t + trail, 2.0, 5.0))
    n = int(round(total * sr))
    time = np.arange(n) / sr

    # F0: declination plus accents on about half the syllables, a slow drift, all in semitones.
    st = -1.5 * time / total
    for start, dur, _ in pieces:
        if rng.random() < 0.5:
            i0, i1 = int(start * sr), min(n, int((start + dur) * sr))
            bump = (time[i0:i1] - start) / dur
            st[i0:i1] += p.range_st * rng.uniform(0.4, 1.0) * np.sin(np.pi * bump) ** 2
    drift = np.cumsum(rng.standard_normal(n // 160 + 2)) * 0.08
    st += np.interp(time, np.arange(len(drift)) * 0.01, drift - drift.mean())
    f0 = p.f0_hz * 2 ** (st / 12)
    source = _glottal_source(f0, p, sr, rng)

    out = np.zeros(n)
    voiced = np.zeros(n, dtype=bool)
    for start, dur, vowel in pieces:
        i0, i1 = int(start * sr), min(n, int((start + dur) * sr))
        if i1 - i0 < 32:
            continue
        seg = source[i0:i1]
        formants = _VOWELS[vowel] * p.formant_scale * rng.uniform(0.96, 1.04, 4)
        for f, bw in zip(formants, _BANDWIDTHS * np.sqrt(p.formant_scale)):
            if f < 0.45 * sr:
                seg = lfilter(*_resonator(f, bw, sr), seg)
        m = i1 - i0
        attack = max(1, int(0.02 * sr))
        env = np.ones(m)
        env[:attack] = np.sin(0.5 * np.pi * np.arange(min(attack, m)) / attack) ** 2
        decay = np.linspace(0, 1, m) ** 2
        env *= 1 - 0.7 * decay
        out[i0:i1] += seg * env * rng.uniform(0.6, 1.0)
        voiced[i0:i1] = True
        if rng.random() < 0.6:  # fricative before the syllable
            fl = int(rng.uniform(0.03, 0.08) * sr)
            j0 = max(0, i0 - fl)
            centre = rng.uniform(2500, 5500) * min(1.0, 0.42 * sr / 5500)
            b, a = _resonator(centre, 1500, sr)
            hiss = lfilter(b, a, rng.standard_normal(i0 - j0))
            if len(hiss):
                out[j0:i0] += hiss * np.hanning(len(hiss)) * 0.04 * np.abs(seg).max() / (np.abs(hiss).max() + 1e-9)

    # A cascade of unity-gain resonators falls too steeply above F4; a first-order
    # pre-emphasis (+6 dB/octave) brings the long-term spectrum near that of real speech.
    out = _tilt(lfilter([1.0, -0.9], [1.0], out), p.tilt_db, sr)
    rms = np.sqrt(np.mean(out[voiced] ** 2)) if voiced.any() else 1.0
    out *= 10 ** ((p.level_db - 26.0) / 20) / max(rms, 1e-12)
    out += rng.standard_normal(n) * 10 ** ((p.level_db - 26.0 - 50.0) / 20)  # room tone, -50 dB
    peak = np.abs(out).max()
    if peak > 0.98:
        out *= 0.98 / peak
    return out.astype(np.float32), float(f0[voiced].mean() if voiced.any() else p.f0_hz)
