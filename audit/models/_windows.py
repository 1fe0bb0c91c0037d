"""Waveform models scored in windows: the segment-mean rule of our MACNN predictor, in seconds.

An utterance no longer than ``window_s`` is one input, whole and unpadded (exactly what the
library's own pipeline feeds the model). A longer one is cut into ``window_s`` windows every
``hop_s``, plus one last window aligned to the end when the grid leaves a tail uncovered
(:func:`model.features.segment_starts`, the rule MACNN applies to its 2 s MFCC segments); its
probability vector is the mean of the windows' softmax outputs. The windows of one utterance run
as one batch (they share a length, so nothing is padded); utterances are never batched together,
so an utterance's probabilities depend on its own audio only, never on which other utterances
the engine happened to pass in the same call (a padded batch changes float reduction order, and
group-normalised wav2vec2 models see the padding).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from audit._malloc import GrowthCap
from audit.errors import AuditError

__all__ = ["WindowConfig", "WindowedPredictor", "window_starts", "resolve_adapter_precision",
           "shortest_input"]


@dataclass(frozen=True)
class WindowConfig:
    """How a waveform model sees audio; part of every cache key (``to_dict``)."""

    adapter: str
    sample_rate: int
    window_s: float = 10.0
    hop_s: float = 5.0
    # audio per forward pass: a long utterance's windows run in passes of at most this many
    # seconds (at least one window). A pass's activations grow with its audio, and a longer
    # pass was not faster (benchmarks/README.md, Memory: a wav2vec 2.0 base model).
    pass_s: float = 20.0

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and 0 < self.hop_s <= self.window_s):
            raise AuditError(f"window_s={self.window_s}, hop_s={self.hop_s}: need "
                             "0 < hop_s <= window_s")
        if not self.pass_s > 0:
            raise AuditError(f"pass_s={self.pass_s}: need a positive number of seconds")

    @property
    def windows_per_pass(self) -> int:
        """Windows of one utterance per forward pass: whole windows in ``pass_s``, at least 1."""
        return max(1, int(self.pass_s / self.window_s + 1e-9))  # 0.3 / 0.1 is 2.999...

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (the engine hashes them into the cache key)."""
        return asdict(self)


def resolve_adapter_precision(precision: str, device: Any, label: str) -> str:
    """``model.precision.resolve_precision`` with its error as an AuditError naming the model."""
    from model.errors import ModelError
    from model.precision import resolve_precision

    if precision == "onnx":
        raise AuditError(f"{label}: precision=onnx applies to this toolkit's checkpoints; "
                         f"run this model with fp32, bf16 or auto")
    try:
        return resolve_precision(precision, device)
    except ModelError as exc:
        raise AuditError(f"{label}: {exc}") from None


def window_starts(n_samples: int, window: int, hop: int) -> list[int]:
    """Start samples of the windows of an ``n_samples`` utterance (``[0]`` when it fits one)."""
    from model.features import segment_starts

    return segment_starts(n_samples, hop, window)


def shortest_input(accepts: Callable[[int], bool], limit: int) -> int | None:
    """The smallest ``n`` in ``1..limit`` with ``accepts(n)``, or None when ``limit`` fails too.

    Doubling then bisection (about ``2 log2(n)`` calls, all on inputs shorter than ``2 n``);
    it assumes what a stack of convolutions gives: once a length is accepted, longer ones are.
    """
    hi = 1
    while not accepts(hi):
        if hi >= limit:
            return None
        hi = min(2 * hi, limit)
    lo = hi // 2  # rejected (or 0)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if accepts(mid) else (mid, hi)
    return hi


class WindowedPredictor:
    """A :class:`audit.models.Predictor` for a model that takes raw waveforms.

    Parameters
    ----------
    forward : callable, ``(B, T)`` float32 windows at ``config.sample_rate`` -> ``(B, K)``
        probabilities, column ``j`` = ``classes[j]``.
    classes : canonical class names in output order.
    config : window settings and the model's sample rate.
    precision : the resolved precision ``forward`` runs in (``fp32``, ``bf16``, ``fp16``); the
        engine adds it to the cache key.

    ``predict_proba`` takes 16 kHz waveforms (the engine's rate) and resamples when the model's
    rate differs.
    """

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], classes: Sequence[str],
                 config: WindowConfig, *, name: str, sha256: str, meta: dict | None = None,
                 precision: str = "fp32") -> None:
        self._forward = forward
        self.precision = precision
        self.classes = list(classes)
        self.feature_config = config
        self.name = name
        self.sha256 = sha256
        self.fold = None
        self.meta = dict(meta or {})
        self._min_samples: int | None = None

    @property
    def min_samples(self) -> int:
        """The shortest utterance (samples at 16 kHz) the model takes, measured once.

        Models differ (a wav2vec2 conv front end needs one 400-sample receptive field, an
        x-vector TDNN a few frames) and say nothing about it, so the forward pass is tried on
        seeded noise (``shortest_input``); the model-rate minimum ``m`` becomes the least 16 kHz
        length whose resampled length (``ceil(n * rate / 16000)``) reaches it.
        """
        if self._min_samples is None:
            from audit.data import TARGET_SR

            rate = self.feature_config.sample_rate
            limit = int(round(self.feature_config.window_s * rate))
            probe = (0.1 * np.random.default_rng(0).standard_normal(limit)).astype(np.float32)
            failure: list[str] = []

            def accepts(n: int) -> bool:
                try:
                    self._checked(probe[None, :n])
                except Exception as exc:  # any failure of the model's code on this length
                    text = str(exc).strip()
                    failure[:] = [type(exc).__name__ + (f": {text.splitlines()[0]}" if text else "")]
                    return False
                return True

            m = shortest_input(accepts, limit)
            if m is None:
                raise AuditError(f"{self.name}: the model fails on noise of every length up to one "
                                 f"window ({limit} samples): {failure[0]}")
            self._min_samples = (m - 1) * TARGET_SR // rate + 1
        return self._min_samples

    def predict_proba(self, waveforms: Sequence[np.ndarray], *,
                      batch_size: int | None = None) -> np.ndarray:
        """``waveforms``: each ``(time,)`` float32 at 16 kHz -> ``(n_utt, n_classes)`` float32.

        ``batch_size`` caps the windows of one utterance per forward pass (default
        ``windows_per_pass`` of the config: 2 windows of 10 s).
        """
        from audit.data import TARGET_SR, resample

        cfg = self.feature_config
        cap = batch_size or cfg.windows_per_pass
        win = int(round(cfg.window_s * cfg.sample_rate))
        hop = int(round(cfg.hop_s * cfg.sample_rate))
        out = np.zeros((len(waveforms), len(self.classes)), dtype=np.float32)
        cap_growth = GrowthCap()  # each utterance has its own length: bound the heap's growth
        for i, wav in enumerate(waveforms):
            x = np.asarray(wav, dtype=np.float32)
            if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
                raise AuditError(f"{self.name}: waveform {i} must be a non-empty finite 1-D array "
                                 f"(got shape {x.shape})")
            if x.size < self.min_samples:
                raise AuditError(f"{self.name}: waveform {i}: {x.size} samples at 16 kHz, too short "
                                 f"for {self.name}: it needs at least {self.min_samples} "
                                 f"({1000 * self.min_samples / TARGET_SR:.1f} ms)")
            if cfg.sample_rate != TARGET_SR:
                x = resample(x, TARGET_SR, cfg.sample_rate)
            starts = window_starts(len(x), win, hop)
            wins = np.stack([x[s:s + win] for s in starts])  # (n_win, min(len, win))
            probs = np.concatenate([self._checked(wins[j:j + cap])
                                    for j in range(0, len(wins), cap)])
            out[i] = probs.astype(np.float64).mean(axis=0)
            del wins, probs, x
            cap_growth()
        return out

    def _checked(self, batch: np.ndarray) -> np.ndarray:
        probs = np.asarray(self._forward(batch), dtype=np.float32)
        if probs.shape != (len(batch), len(self.classes)):
            raise AuditError(f"{self.name}: the model returned shape {probs.shape}, expected "
                             f"({len(batch)}, {len(self.classes)})")
        return probs
