"""Undo a codec's delay: find the lag that best aligns a decoded signal with its input."""

from __future__ import annotations

import numpy as np
from scipy import signal as sps

from perturbations.functional import fit_length

__all__ = ["align_to"]


def align_to(reference: np.ndarray, decoded: np.ndarray, max_lag: int) -> tuple[np.ndarray, int]:
    """Shift ``decoded`` so it lines up with ``reference`` and crop/pad to its length.

    Parameters
    ----------
    reference : np.ndarray, shape (time,)
    decoded : np.ndarray, shape (time',)
        Decoder output, delayed by an unknown 0..max_lag samples (encoder + decoder delay).
    max_lag : int

    Returns
    -------
    (np.ndarray (time,), int)
        The aligned signal and the delay removed, in samples.
    """
    n = min(reference.size, max(0, decoded.size - max_lag))
    if n < 16:
        return fit_length(decoded, reference.size), 0
    # Cross-correlation over lags 0..max_lag only (codecs delay, they never advance).
    xc = sps.correlate(decoded[: n + max_lag].astype(np.float64),
                       reference[:n].astype(np.float64), mode="valid", method="fft")
    lag = int(np.argmax(xc))
    return fit_length(decoded[lag:], reference.size), lag
