"""A predictor around any network that maps MFCC segments to logits (TorchScript, ONNX).

It reproduces our checkpoints' prediction path with ``model.features``: 16 kHz waveform ->
39 x frames MFCC (+ optional standardisation) -> 200-frame segments at the test stride ->
network logits -> softmax -> utterance = mean of its segment probabilities.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["SegmentPredictor"]


class SegmentPredictor:
    """A :class:`audit.models.Predictor` for a segment network (runs as exported: fp32).

    Parameters
    ----------
    forward : callable taking float32 ``(B, 1, 39, 200)`` numpy segments and returning
        ``(B, n_classes)`` logits.
    classes : class names in the network's output order.
    feature_config : ``model.FeatureConfig``; ``stats`` optional ``model.features.FeatureStats``.
    """

    def __init__(self, forward: Callable[[np.ndarray], np.ndarray], classes: Sequence[str], *,
                 name: str, sha256: str, feature_config: Any, stats: Any = None,
                 fixed_batch: int | None = None, meta: dict | None = None) -> None:
        from model.features import MFCCExtractor

        self._forward = forward
        self.classes = list(classes)
        self.name = name
        self.sha256 = sha256
        self.fold = None
        self.meta = dict(meta or {})
        self.feature_config = feature_config
        self.precision = "fp32"
        self._stats = stats
        self._fixed_batch = fixed_batch
        self._extractor = MFCCExtractor(feature_config).eval()

    @property
    def min_samples(self) -> int:
        """The shortest utterance (samples at 16 kHz) the MFCC front end takes."""
        return self.feature_config.min_samples

    def _logits(self, segments: np.ndarray) -> np.ndarray:
        if self._fixed_batch is None:
            return np.asarray(self._forward(segments), dtype=np.float32)
        # A graph exported with a fixed batch dimension: pad the last chunk with zeros.
        b, n = self._fixed_batch, len(segments)
        pad = (-n) % b
        if pad:
            segments = np.concatenate([segments, np.zeros((pad, *segments.shape[1:]), segments.dtype)])
        outs = [np.asarray(self._forward(segments[i:i + b]), dtype=np.float32)
                for i in range(0, len(segments), b)]
        return np.concatenate(outs)[:n]

    def predict_proba(self, waveforms: Sequence[np.ndarray], *, batch_size: int | None = None) -> np.ndarray:
        """``waveforms``: each ``(time,)`` float32 at 16 kHz -> ``(n_utt, n_classes)``."""
        from model.features import utterance_segments

        batch_size = batch_size or 256
        stride = self.feature_config.test_stride
        out = np.zeros((len(waveforms), len(self.classes)), dtype=np.float32)
        segs: list[np.ndarray] = []
        owner: list[int] = []
        for i, s in utterance_segments(waveforms, self._extractor, stride, stats=self._stats):
            segs.append(s.numpy())
            owner.extend([i] * len(s))
        if not segs:
            return out
        allsegs = np.concatenate(segs).astype(np.float32, copy=False)  # (n_seg, 1, 39, 200)
        logits = np.concatenate([self._logits(allsegs[i:i + batch_size])
                                 for i in range(0, len(allsegs), batch_size)])
        if logits.shape[1] != len(self.classes):
            from audit.errors import AuditError

            raise AuditError(f"{self.name}: the network returns {logits.shape[1]} logits but "
                             f"{len(self.classes)} classes were declared ({self.classes})")
        z = logits - logits.max(axis=1, keepdims=True)
        probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        owner_arr = np.asarray(owner)
        counts = np.bincount(owner_arr, minlength=len(waveforms)).astype(np.float32)
        np.add.at(out, owner_arr, probs)
        return out / counts[:, None]
