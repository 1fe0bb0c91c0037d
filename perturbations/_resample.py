"""Polyphase resampling of any rate pair in bounded time and memory.

torchaudio's resampler builds one dense kernel row per output phase, each spanning a whole
input period: ``new' x (orig' + 2 width)`` values for the reduced ratio ``orig' : new'``. That
is tiny for 48 kHz -> 16 kHz (3 : 1) but, for 24,414 Hz -> 16 kHz (12,207 : 8,000), about 98
million values (computed in float64: gigabytes) and a convolution that multiplies almost all of
them by zero. Only ``2 width + 1`` taps of each row are non-zero (the Hann-windowed sinc of
``lowpass_filter_width`` zero crossings), so this module keeps just those: a table of
``new' x (2 width + 1)`` weights, computed with torchaudio's formula (same filter: rolloff
0.99, 6 zero crossings, Hann window), and gathers the input samples each output needs.

Memory is the table plus one block of outputs at a time, whatever the ratio's gcd and the
input's length; time is ``(2 width + 1)`` multiply-adds per output sample. Each output sample
is accumulated tap by tap with elementwise float32 operations, so it does not depend on the
block it falls in (a long input gives the same samples in any number of blocks).
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["polyphase_resample", "reduced_ratio", "output_length", "LOWPASS_WIDTH", "ROLLOFF"]

LOWPASS_WIDTH = 6  # torchaudio's default: zero crossings of the sinc on each side
ROLLOFF = 0.99  # torchaudio's default: cutoff as a fraction of the lower Nyquist rate
_BLOCK = 1 << 16  # output samples per block: (2 width + 1) x 64 Ki gathered floats at a time


def reduced_ratio(orig_sr: int, new_sr: int) -> tuple[int, int]:
    """``(orig', new')``: the rates divided by their gcd."""
    g = math.gcd(int(orig_sr), int(new_sr))
    return int(orig_sr) // g, int(new_sr) // g


def output_length(n: int, orig_sr: int, new_sr: int) -> int:
    """Samples out for ``n`` in: ``ceil(n * new / orig)`` (torchaudio's length)."""
    o, m = reduced_ratio(orig_sr, new_sr)
    return -(-int(n) * m // o)


@functools.lru_cache(maxsize=16)
def _table(orig: int, new: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Weights ``(taps, new)`` float32, first tap offset per phase ``(new,)`` int64, ``width``.

    Phase ``i`` (output ``f * new + i``) reads inputs ``f * orig + start[i] + k``,
    ``k = 0 .. taps - 1``; ``start[i] = ceil(i * orig / new) - width``.
    """
    import torch

    base = min(orig, new) * ROLLOFF
    width = math.ceil(LOWPASS_WIDTH * orig / base)
    taps = 2 * width + 1
    phases = torch.arange(new, dtype=torch.int64)
    start = -((-phases * orig) // new) - width  # (new,)
    idx = (start[:, None] + torch.arange(taps)[None, :]).to(torch.float64) / orig  # (new, taps)
    # torchaudio: t = float32(-i) / new + idx / orig, scaled by base_freq, clamped to the window
    t = (torch.arange(0, -new, -1, dtype=torch.float32)[:, None] / new) + idx
    t = (t * base).clamp_(-LOWPASS_WIDTH, LOWPASS_WIDTH)
    window = torch.cos(t * math.pi / LOWPASS_WIDTH / 2) ** 2
    t = t * math.pi
    kernel = torch.where(t == 0, torch.tensor(1.0, dtype=t.dtype), t.sin() / t)
    kernel = (kernel * (window * (base / orig))).to(torch.float32)
    weights = np.ascontiguousarray(kernel.numpy().T)  # (taps, new)
    weights.setflags(write=False)
    offsets = start.numpy()
    offsets.setflags(write=False)
    return weights, offsets, width


def polyphase_resample(waveform: np.ndarray, orig_sr: int, new_sr: int) -> np.ndarray:
    """Resample ``waveform (time,)`` from ``orig_sr`` to ``new_sr`` -> float32 ``(time',)``,
    ``time' = ceil(time * new_sr / orig_sr)``, with torchaudio's windowed-sinc filter.

    Samples beyond both ends count as zeros (as in torchaudio). Equal to torchaudio's output
    to float32 rounding (the sum runs in another order); bounded memory for any ratio.
    """
    x = np.ascontiguousarray(waveform, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"polyphase_resample expects (time,), got shape {x.shape}")
    o, m = reduced_ratio(orig_sr, new_sr)
    if o == m:
        return x.copy()
    weights, offsets, width = _table(o, m)
    taps = weights.shape[0]
    n_out = output_length(x.size, o, m)
    # zeros around the signal: the first output reads from -width, the last up to orig + width
    pad_left, pad_right = width, width + o + taps
    xp = np.zeros(x.size + pad_left + pad_right, dtype=np.float32)
    xp[pad_left:pad_left + x.size] = x
    out = np.empty(n_out, dtype=np.float32)
    for b0 in range(0, n_out, _BLOCK):
        j = np.arange(b0, min(b0 + _BLOCK, n_out), dtype=np.int64)
        phase = j % m
        first = (j // m) * o + offsets[phase] + pad_left  # (B,) index into xp of tap 0
        acc = xp[first] * weights[0, phase]
        for t in range(1, taps):
            first += 1
            acc += xp[first] * weights[t, phase]
        out[b0:b0 + j.size] = acc
    return out
