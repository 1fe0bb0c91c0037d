"""Batched YIN F0 estimation in torch (de Cheveigné & Kawahara, 2002), frame-aligned with MFCC.

Why our own and not ``torchaudio.functional.detect_pitch_frequency``: that function returns a
median-smoothed NCCF peak on its own frame grid, with no voicing measure and an F0 for every
frame, silence included. YIN's cumulative-mean-normalised difference gives both the period and
an aperiodicity (1 - voicing probability) per frame, on the MFCC grid (frame t centred on
sample ``t * hop``, ``1 + time // hop`` frames), and it is a few FFTs, so it runs batched on
CPU and GPU alike.
"""

from __future__ import annotations

import math

import torch

__all__ = ["yin", "frame_signal", "SILENCE_DB"]

# A frame whose mean square is below -70 dBFS is silent: unvoiced, voicing probability 0.
SILENCE_DB = -70.0


def frame_signal(waveform: torch.Tensor, frame_length: int, hop: int) -> torch.Tensor:
    """``waveform: (..., time)`` -> ``(..., 1 + time // hop, frame_length)`` frames centred on
    ``t * hop`` (``frame_length`` even; zero padding, so any length works)."""
    half = frame_length // 2
    padded = torch.nn.functional.pad(waveform, (half, half))
    return padded.unfold(-1, frame_length, hop)


def yin(
    waveform: torch.Tensor,
    sample_rate: int,
    hop: int,
    f0_min: float,
    f0_max: float,
    *,
    threshold: float = 0.15,
) -> tuple[torch.Tensor, torch.Tensor]:
    """F0 and voicing probability per frame.

    Parameters
    ----------
    waveform : (..., time) float.
    f0_min, f0_max : search range in Hz (periods ``sample_rate / f0_max .. sample_rate / f0_min``).
    threshold : YIN's absolute threshold on the normalised difference (0.1 in the paper; 0.15
        here, a little more permissive for emotional, breathy speech).

    Returns
    -------
    f0 : (..., frames) Hz, 0 where unvoiced.
    voicing : (..., frames) in [0, 1], ``1 - d'(period)``; 0 in silent frames.
    """
    tau_min = max(2, int(math.floor(sample_rate / f0_max)))
    tau_max = int(math.ceil(sample_rate / f0_min))
    frame_length = 2 * tau_max  # integration window = tau_max samples
    span = frame_length - tau_max
    frames = frame_signal(waveform.float(), frame_length, hop)  # (..., n, W)
    head = frames[..., :span]  # (..., n, L)
    n_fft = 1 << (frame_length + span - 1).bit_length()
    # c(tau) = sum_j x_j x_{j+tau}, j < L: a cross-correlation by FFT (no wrap: n_fft >= W + L).
    corr = torch.fft.irfft(torch.fft.rfft(head, n_fft).conj() * torch.fft.rfft(frames, n_fft), n_fft)
    corr = corr[..., : tau_max + 1]  # (..., n, tau_max + 1)
    sq = torch.nn.functional.pad((frames * frames).cumsum(-1), (1, 0))  # (..., n, W + 1)
    taus = torch.arange(tau_max + 1, device=waveform.device)
    energy_0 = sq[..., span : span + 1]  # sum of x_j^2, j < L
    energy_tau = sq[..., taus + span] - sq[..., taus]  # sum of x_{j+tau}^2, j < L
    diff = (energy_0 + energy_tau - 2 * corr).clamp_min(0)  # (..., n, tau_max + 1)
    cum = diff[..., 1:].cumsum(-1)
    cmnd = torch.ones_like(diff)
    cmnd[..., 1:] = diff[..., 1:] * taus[1:] / cum.clamp_min(1e-12)
    silent = 10 * torch.log10(energy_0[..., 0] / span + 1e-20) < SILENCE_DB  # (..., n)

    search = cmnd[..., tau_min:]  # (..., n, K) for tau in [tau_min, tau_max]
    below = search < threshold
    has_dip = below.any(-1)
    # The first run of taus under the threshold, and its minimum (YIN step 4: the first dip,
    # not the global minimum, avoids picking a multiple of the period).
    first = below.to(torch.int8).argmax(-1, keepdim=True)
    run_id = (~below).cumsum(-1)
    in_run = below & (run_id == run_id.gather(-1, first))
    masked = torch.where(in_run, search, torch.full_like(search, float("inf")))
    best = torch.where(has_dip, masked.argmin(-1), search.argmin(-1))  # (..., n)
    # Parabolic interpolation on d' around the chosen lag for a sub-sample period.
    k = search.shape[-1]
    idx = torch.stack([(best - 1).clamp(0, k - 1), best, (best + 1).clamp(0, k - 1)], dim=-1)
    a, b, c = search.gather(-1, idx).unbind(-1)
    denom = a - 2 * b + c
    shift = torch.where(denom.abs() > 1e-12, 0.5 * (a - c) / denom, torch.zeros_like(denom)).clamp(-1, 1)
    period = best.to(search.dtype) + tau_min + shift
    voiced = has_dip & ~silent
    f0 = torch.where(voiced, sample_rate / period.clamp_min(1.0), torch.zeros_like(period))
    voicing = torch.where(silent, torch.zeros_like(b), (1 - b).clamp(0, 1))
    return f0, voicing
