"""Active speech level, ITU-T P.56 method B (the speech voltmeter of ITU-T G.191's ``actlev``).

The envelope of |x| is smoothed twice by a first-order filter of time constant T = 0.03 s; a
sample is *active* for threshold c_j when the envelope is at or above c_j, or was so within the
last H = 0.2 s (hangover). With a_j active samples, the active-level estimate for threshold j is
A_j = 10 log10(sum x^2 / a_j); the active speech level is where A_j - 20 log10(c_j) falls to the
margin M = 15.9 dB, interpolated linearly between the two thresholds around it (the G.191 code
bisects the same interpolation). Thresholds are c_j = 2^(j-15) x the signal's peak, j = 0..14:
P.56 places them below a calibrated full scale; relative to the peak the level scales exactly
with the signal (level(a x) = level(x) + 20 log10 a), which is what an SNR needs.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy import signal as sps

__all__ = ["SpeechLevel", "active_speech_level", "TIME_CONSTANT_S", "HANGOVER_S", "MARGIN_DB",
           "N_THRESHOLDS"]

TIME_CONSTANT_S = 0.03
HANGOVER_S = 0.2
MARGIN_DB = 15.9
N_THRESHOLDS = 15


@dataclass(frozen=True)
class SpeechLevel:
    """``power``: active mean square (linear); ``level_db``: 10 log10(power); ``activity``:
    active fraction of the samples; ``long_term_power``: mean square over all samples."""

    power: float
    level_db: float
    activity: float
    long_term_power: float


def _envelope(x_abs: np.ndarray, sample_rate: int) -> np.ndarray:
    """Two first-order smoothings of |x| (the voltmeter's p then q), shape (time,)."""
    g = np.exp(-1.0 / (sample_rate * TIME_CONSTANT_S))
    b, a = [1.0 - g], [1.0, -g]
    return sps.lfilter(b, a, sps.lfilter(b, a, x_abs))


def _active_counts(q: np.ndarray, thresholds: np.ndarray, hangover: int) -> np.ndarray:
    """Active samples per threshold: envelope >= c_j now or within ``hangover`` samples.

    The voltmeter starts with its hangover counters at 0, so the first ``hangover`` samples
    count as active (as in G.191). A later sample i is active for c_j exactly when the largest
    envelope value of samples i - hangover .. i is >= c_j: one running maximum serves every
    threshold (a tenth of the time of a pass per threshold; the counts are integers, so the
    level is the same to the bit: tested against that pass). q: (time,), thresholds: (n,) ->
    counts (n,).
    """
    n = q.size
    head = min(hangover, n)
    if n <= hangover:
        return np.full(thresholds.size, head, dtype=np.int64)
    width = hangover + 1
    # maximum_filter1d centres its window: index i + shift covers samples i - hangover .. i
    centred = ndimage.maximum_filter1d(q, size=width, mode="nearest")
    shift = hangover - width // 2
    running = centred[width // 2:n - shift]  # (n - hangover,): samples hangover .. n - 1
    return np.array([head + int(np.count_nonzero(running >= c)) for c in thresholds], dtype=np.int64)


# The levels of the last waveforms measured, keyed by their content: an audit measures each clean
# utterance once per noise condition (every noise record carries its P.56 SNR), one condition
# over a whole load of utterances at a time, and the level is a pure function of the samples and
# the rate. An entry is a digest, a few key fields and four floats.
_RECENT = 1024
_recent: OrderedDict[tuple, SpeechLevel] = OrderedDict()
_lock = threading.Lock()


def _content_key(x: np.ndarray, sample_rate: int) -> tuple:
    """The samples' bytes (blake2b), dtype, shape and rate."""
    data = np.ascontiguousarray(x)
    return (hashlib.blake2b(data.reshape(-1).view(np.uint8)).digest(), x.dtype.str, x.shape,
            float(sample_rate))


def _new_lock() -> None:
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # a child forked while another thread held the lock
    os.register_at_fork(after_in_child=_new_lock)


def active_speech_level(waveform: np.ndarray, sample_rate: int) -> SpeechLevel:
    """P.56 method B active speech level of a waveform.

    Parameters
    ----------
    waveform : np.ndarray, shape (time,)
    sample_rate : int

    Returns
    -------
    SpeechLevel
        ``power`` is the active mean square; all-zero input gives power 0 (the caller decides).
        The levels of the last 1,024 distinct waveforms are kept by content, so measuring the same
        samples again (one clean utterance under several SNRs) costs a hash, not a pass.
    """
    x = np.asarray(waveform)
    if x.dtype.kind not in "biuf":  # objects and the like: what the level reads
        x = np.asarray(x, dtype=np.float64)
    key = _content_key(x, sample_rate)
    with _lock:
        if key in _recent:
            _recent.move_to_end(key)
            return _recent[key]
    level = _measure_level(x, sample_rate)
    with _lock:
        _recent[key] = level
        while len(_recent) > _RECENT:
            _recent.popitem(last=False)
    return level


def _measure_level(waveform: np.ndarray, sample_rate: int) -> SpeechLevel:
    """The level of :func:`active_speech_level`, computed."""
    x = np.asarray(waveform, dtype=np.float64)
    sq = float(np.dot(x, x))
    if x.size == 0 or not sq > 0:
        return SpeechLevel(0.0, float("-inf"), 0.0, 0.0)
    x_abs = np.abs(x)
    peak = float(x_abs.max())
    thresholds = peak * 2.0 ** (np.arange(N_THRESHOLDS) - N_THRESHOLDS)
    q = _envelope(x_abs, sample_rate)
    counts = _active_counts(q, thresholds, int(np.floor(HANGOVER_S * sample_rate + 0.5)))
    valid = counts > 0
    a_db = np.full(N_THRESHOLDS, np.inf)
    a_db[valid] = 10.0 * np.log10(sq / counts[valid])
    c_db = 20.0 * np.log10(thresholds)
    delta = a_db - c_db  # falls as the threshold rises
    below = np.flatnonzero(valid & (delta <= MARGIN_DB))
    if below.size == 0:  # every threshold is far under the signal: all of it is active
        level = a_db[valid][-1]
    elif below[0] == 0:  # already within the margin at the lowest threshold
        level = a_db[0]
    else:
        j = int(below[0])
        frac = (delta[j - 1] - MARGIN_DB) / (delta[j - 1] - delta[j])
        level = a_db[j - 1] + frac * (a_db[j] - a_db[j - 1])
    power = 10.0 ** (level / 10.0)
    long_term = sq / x.size
    return SpeechLevel(float(power), float(level), float(min(1.0, long_term / power)), long_term)
