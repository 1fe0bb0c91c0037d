"""RT60 of an impulse response by Schroeder backward integration (ISO 3382-1 style)."""

from __future__ import annotations

import numpy as np

from perturbations.errors import PerturbationError

__all__ = ["edc_db", "measure_rt60", "fit_decay", "FIT_RANGES_DB"]

# Fit ranges on the energy decay curve, in dB below its start (ISO 3382-1): T20 is the default
# because the simulated RIR is cut where it has decayed 45 dB, which leaves T30's lower end too
# close; EDT (0 to -10 dB) is the early decay time of recorded impulse responses.
FIT_RANGES_DB = {"T20": (-5.0, -25.0), "T30": (-5.0, -35.0), "EDT": (0.0, -10.0)}


def edc_db(rir: np.ndarray) -> np.ndarray:
    """Energy decay curve in dB, 0 dB at the first sample.

    Parameters
    ----------
    rir : np.ndarray, shape (taps,)

    Returns
    -------
    np.ndarray, shape (taps,)
        ``10 log10(sum_{k >= t} h[k]^2 / sum_k h[k]^2)``; -inf after the last non-zero tap.
    """
    energy = np.cumsum((np.asarray(rir, dtype=np.float64) ** 2)[::-1])[::-1]
    if not energy[0] > 0:
        raise PerturbationError("RT60: the impulse response is all zeros")
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(energy / energy[0])


def measure_rt60(rir: np.ndarray, sample_rate: int, method: str = "T20") -> float:
    """RT60 in seconds from a least-squares line fitted to the EDC over the method's range.

    Parameters
    ----------
    rir : np.ndarray, shape (taps,)
        Impulse response starting at (or before) the direct path.
    sample_rate : int
    method : str
        ``T20`` (fit -5 to -25 dB) or ``T30`` (-5 to -35 dB); extrapolated to 60 dB.
    """
    return fit_decay(edc_db(rir), sample_rate, method)


def fit_decay(curve: np.ndarray, sample_rate: int, method: str = "T20") -> float:
    """Decay time (s, extrapolated to 60 dB) of a least-squares line fitted to an energy decay
    curve (taps,) in dB over the method's range (``T20``, ``T30``, ``EDT``)."""
    if method not in FIT_RANGES_DB:
        raise PerturbationError(f"RT60 method {method!r} must be one of {', '.join(FIT_RANGES_DB)}")
    hi, lo = FIT_RANGES_DB[method]
    idx = np.flatnonzero((curve <= hi) & (curve >= lo))
    if idx.size < 2 or curve[-1] > lo:
        raise PerturbationError(
            f"RT60 ({method}): the impulse response decays only {-curve[np.isfinite(curve)][-1]:.1f}"
            f" dB, it needs {-lo:.0f} dB")
    t = idx / float(sample_rate)
    slope = np.polyfit(t, curve[idx], 1)[0]  # dB per second, negative
    if not slope < 0:
        raise PerturbationError(f"RT60 ({method}): the energy decay curve does not decay")
    return float(-60.0 / slope)
