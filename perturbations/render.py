"""Render one perturbation on one waveform: draw params, apply, measure, flat record."""

from __future__ import annotations

import numpy as np

from perturbations.base import Perturbation, check_waveform
from perturbations.errors import PerturbationError

__all__ = ["render"]


def render(perturbation: Perturbation, waveform: np.ndarray, sample_rate: int,
           rng: np.random.Generator, *, context: dict | None = None) -> tuple[np.ndarray, dict]:
    """Apply ``perturbation`` with parameters drawn from ``rng``.

    Parameters
    ----------
    perturbation : Perturbation
    waveform : np.ndarray, shape (time,), float32
        At its native rate.
    sample_rate : int
    rng : numpy.random.Generator
        The item's generator (``derive_rng(seed, utt_id, str(perturbation))``).
    context : dict, optional
        Item metadata (``utt_id``, ``speaker``) for perturbations that use it (babble).

    Returns
    -------
    (np.ndarray (time,), dict)
        The perturbed waveform (same dtype and length) and the flat record
        ``{"<name>.<key>": value}`` (chains: ``"<i>.<name>.<key>"``) of the sampled
        parameters and what was measured (``achieved_snr_db``, ``measured_rt60_s``, ...).
    """
    if not isinstance(perturbation, Perturbation):
        raise PerturbationError(f"render: expected a Perturbation, got {type(perturbation).__name__}")
    if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise PerturbationError(f"render: sample_rate must be a positive integer, got {sample_rate!r}")
    check_waveform(waveform, str(perturbation))
    params = perturbation.sample_params(rng, int(sample_rate), context=context)
    out, record = perturbation.render_params(waveform, int(sample_rate), params)
    if out.shape != waveform.shape or out.dtype != waveform.dtype:  # the contract, enforced
        raise AssertionError(f"{perturbation}: output {out.shape} {out.dtype} differs from input "
                             f"{waveform.shape} {waveform.dtype}")
    return out, record
