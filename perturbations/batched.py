"""Many items at once: torch ops over padded batches (noise, reverb) and a CPU process pool.

``render_batch`` gives the same waveforms and records as ``render`` item by item (within
float32 tolerance): parameters are drawn per item from each item's own generator, exactly as
``render`` does, and only the application is batched.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from perturbations import functional as F
from perturbations._noise import NoiseAtSNR
from perturbations.base import Chain, Perturbation, check_waveform
from perturbations.render import render
from perturbations.reverb import Reverb

if TYPE_CHECKING:  # torch is imported where it is used, to keep the CPU path light
    import torch

__all__ = ["render_batch", "map_render"]


def _device(device):
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def _pad(arrays: Sequence[np.ndarray], device) -> "torch.Tensor":
    """List of (time_i,) arrays -> (batch, max_time) float32 tensor, zero-padded."""
    import torch

    out = np.zeros((len(arrays), max(a.size for a in arrays)), dtype=np.float32)
    for i, a in enumerate(arrays):
        out[i, : a.size] = a
    return torch.from_numpy(out).to(device)


def _noise_batch(stage: NoiseAtSNR, xs: list[np.ndarray], params: list[dict], sample_rate: int,
                 device) -> list[np.ndarray]:
    """Additive noise at exact SNR over a padded batch with ``torchaudio.functional.add_noise``."""
    import torch
    import torchaudio.functional as AF

    snrs = []
    for x, p in zip(xs, params):
        try:  # the same silent-input error as the per-item path
            p_ref = F.signal_power(x, sample_rate, p["level"])
        except F.SilentInputError as exc:
            raise type(exc)(f"{stage.name}: {exc}") from None
        # add_noise sets the whole-utterance SNR; shift the target so the SNR against the
        # reference level (whole, active or P.56) is the requested one.
        snrs.append(p["snr_db"] + 10 * np.log10(F.signal_power(x, sample_rate, "whole") / p_ref))
    noises = [stage.make_noise(x.size, sample_rate, p) for x, p in zip(xs, params)]
    lengths = torch.tensor([x.size for x in xs], device=device)
    with torch.no_grad():
        y = AF.add_noise(_pad(xs, device), _pad(noises, device),
                         torch.tensor(snrs, dtype=torch.float32, device=device), lengths)
    y = y.cpu().numpy()
    return [y[i, : x.size].astype(x.dtype, copy=False) for i, x in enumerate(xs)]


def _reverb_batch(stage: Reverb, xs: list[np.ndarray], params: list[dict], sample_rate: int,
                  device) -> list[np.ndarray]:
    """Convolution with each item's RIR over a padded batch (``torchaudio.functional.fftconvolve``)."""
    import torch
    import torchaudio.functional as AF

    rirs = [stage.rir(sample_rate, p) for p in params]
    with torch.no_grad():
        y = AF.fftconvolve(_pad(xs, device), _pad(rirs, device)).cpu().numpy()  # (B, T + K - 1)
    return [y[i, : x.size].astype(x.dtype, copy=False) for i, x in enumerate(xs)]


def render_batch(perturbation: Perturbation, waveforms: Sequence[np.ndarray], sample_rate: int,
                 rngs: Sequence[np.random.Generator], *, device="cpu",
                 contexts: Sequence[dict | None] | None = None) -> list[tuple[np.ndarray, dict]]:
    """Render a list of waveforms; noise and reverb stages run as torch ops on ``device``.

    Parameters
    ----------
    perturbation : Perturbation
    waveforms : sequence of np.ndarray, each (time_i,) float32, all at ``sample_rate``
    sample_rate : int
    rngs : sequence of numpy.random.Generator
        One per waveform (``derive_rng(seed, utt_id, condition)``).
    device : str or torch.device
        ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
    contexts : sequence of dict, optional
        Per-item metadata, as for ``render``.

    Returns
    -------
    list of (np.ndarray (time_i,), dict)
        As ``render`` returns for each item.
    """
    n = len(waveforms)
    if len(rngs) != n:
        raise ValueError(f"render_batch: {n} waveforms but {len(rngs)} generators")
    if n == 0:
        return []
    contexts = list(contexts) if contexts is not None else [None] * n
    xs = [check_waveform(w, str(perturbation)) for w in waveforms]
    params = [perturbation.sample_params(r, int(sample_rate), context=c)
              for r, c in zip(rngs, contexts)]
    if isinstance(perturbation, Chain):
        stages = list(perturbation.stages)
        stage_params = [[p["stages"][i] for p in params] for i in range(len(stages))]
        prefixes = [f"{i}." for i in range(len(stages))]
    else:
        stages, stage_params, prefixes = [perturbation], [params], [""]
    records: list[dict] = [{} for _ in range(n)]
    dev = None
    # Only the trailing run of torch-able stages is batched: a codec (MP3 ...) after a torch
    # stage would turn float32 rounding differences into different quantisation decisions,
    # so everything up to the last per-item stage runs on the reference path.
    batchable = [isinstance(s, (NoiseAtSNR, Reverb)) for s in stages]
    first_batched = max((i + 1 for i, b in enumerate(batchable) if not b), default=0)
    for k, (stage, sp, prefix) in enumerate(zip(stages, stage_params, prefixes)):
        if k >= first_batched:
            dev = dev or _device(device)
            batch = _noise_batch if isinstance(stage, NoiseAtSNR) else _reverb_batch
            ys = batch(stage, xs, sp, int(sample_rate), dev)
        else:
            ys = [stage.apply(x, int(sample_rate), p) for x, p in zip(xs, sp)]
        for i in range(n):
            measured = stage.measure(xs[i], ys[i], int(sample_rate), sp[i])
            records[i].update(stage.record(sp[i], measured, prefix))
        xs = ys
    return list(zip(xs, records))


def _render_one(args):
    perturbation, waveform, sample_rate, rng, context = args
    return render(perturbation, waveform, sample_rate, rng, context=context)


def map_render(perturbation: Perturbation, waveforms: Sequence[np.ndarray], sample_rate: int,
               rngs: Sequence[np.random.Generator], *, contexts: Sequence[dict | None] | None = None,
               workers: int | None = None, chunksize: int = 4) -> list[tuple[np.ndarray, dict]]:
    """``render`` over items in a CPU process pool (for MP3 and other CPU-bound codecs).

    Results are identical to the serial loop and in input order: each item carries its own
    generator, so which worker runs it does not matter. ``workers`` <= 1 runs serially.

    Parameters
    ----------
    waveforms : sequence of np.ndarray, each (time_i,)
    rngs : sequence of numpy.random.Generator, one per waveform
    workers : int, optional
        Processes (default: CPU count, at most 8).
    """
    n = len(waveforms)
    if len(rngs) != n:
        raise ValueError(f"map_render: {n} waveforms but {len(rngs)} generators")
    contexts = list(contexts) if contexts is not None else [None] * n
    jobs = [(perturbation, w, int(sample_rate), r, c)
            for w, r, c in zip(waveforms, rngs, contexts)]
    workers = min(8, multiprocessing.cpu_count()) if workers is None else int(workers)
    if workers <= 1 or n <= 1:
        return [_render_one(j) for j in jobs]
    # spawn, not fork: a forked copy of a process that has started torch threads can hang.
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(max_workers=min(workers, n), mp_context=ctx) as pool:
        return list(pool.map(_render_one, jobs, chunksize=max(1, chunksize)))
