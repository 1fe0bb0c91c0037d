"""Batched utterance-level prediction from a trained network."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from torch import nn

from model.errors import ModelError
from model.features import FeatureConfig, FeatureStats, utterance_segments
from model.checkpoint import load_model, sha256_file
from model.onnx_forward import OnnxForward
from model.precision import autocast_context, resolve_precision
from model.registry import input_shape
from model.streams import StreamExtractor

__all__ = ["Predictor", "load_checkpoint", "resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; anything else is checked and returned."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ModelError(f"device={device!r}: expected auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device={device!r}: CUDA is not available on this machine")
    return dev


class Predictor:
    """A trained network with its feature pipeline and class order.

    Attributes: ``name``, ``classes``, ``fold``, ``meta`` (the sidecar), ``feature_config``,
    ``feature_stats`` (or None), ``sha256`` (weights file), ``device``, ``model``.
    ``feature_config.streams`` says which feature streams the network reads (MFCC alone for
    MACNN, the stacked IFN streams otherwise); their rows must match the network's input.
    ``pooling``: ``prob`` (mean of segment probabilities, the default) or ``logit`` (softmax
    of the mean segment logits). ``precision``: ``fp32`` (default: audits reproduce on any
    CPU), ``bf16``, ``auto`` or ``onnx`` (float32 in ONNX Runtime; see ``model.precision``);
    ``self.precision`` is what runs.
    """

    def __init__(
        self,
        model: nn.Module,
        classes: Sequence[str],
        feature_config: FeatureConfig,
        *,
        feature_stats: FeatureStats | None = None,
        name: str = "",
        fold: int | None = None,
        meta: dict | None = None,
        sha256: str = "",
        device: str | torch.device = "cpu",
        pooling: str = "prob",
        precision: str = "fp32",
    ) -> None:
        if pooling not in ("prob", "logit"):
            raise ModelError(f"pooling={pooling!r}: choose prob or logit")
        if len(classes) != model.config.num_classes:
            raise ModelError(f"{len(classes)} classes given for a model with {model.config.num_classes} outputs")
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.model = model.to(self.device).eval()
        self._forward = OnnxForward(self.model, name or "model") if self.precision == "onnx" else self.model
        self.classes = list(classes)
        self.feature_config = feature_config
        self.feature_stats = feature_stats
        self.name = name
        self.fold = fold
        self.meta = meta or {}
        self.sha256 = sha256
        self.pooling = pooling
        self._extractor = StreamExtractor(feature_config).to(self.device)
        rows = input_shape(model.config)[2]
        if self._extractor.n_features != rows:
            raise ModelError(f"{name or 'model'}: feature streams {list(feature_config.streams)} give "
                             f"{self._extractor.n_features} rows but the network reads {rows}")
        if feature_stats is not None and len(feature_stats.mean) != rows:
            raise ModelError(f"{name or 'model'}: feature_stats has {len(feature_stats.mean)} "
                             f"coefficients for {rows} feature rows")

    @property
    def min_samples(self) -> int:
        """The shortest utterance (samples at 16 kHz) it scores; shorter ones raise ``ModelError``."""
        return self.feature_config.min_samples

    def __repr__(self) -> str:
        return f"Predictor(name={self.name!r}, fold={self.fold}, classes={self.classes}, device={self.device})"

    @torch.no_grad()
    def predict_proba(self, waveforms: Sequence[np.ndarray], *,
                      batch_size: int | None = None) -> np.ndarray:
        """Class probabilities per utterance.

        ``waveforms``: each ``(time,)`` float at ``feature_config.sample_rate`` (16 kHz) ->
        ``(n_utt, n_classes)`` float64, columns in ``classes`` order. Segments (test stride)
        of many utterances stream through the network in batches of ``batch_size``; each
        segment's output depends only on itself. Every forward sees exactly ``batch_size``
        segments (the last one padded with zeros), so the result does not depend on how the
        utterances are grouped into calls nor on the torch thread count (tested); another
        ``batch_size`` may round differently. Default batch: 32 segments on the CPU, 256 on a GPU (measured on 2
        CPU cores: 256-segment batches ran 2-3x slower than 16-32, their activations falling
        out of cache).
        """
        if batch_size is None:
            batch_size = 32 if self.device.type == "cpu" else 256
        if batch_size < 1:
            raise ModelError(f"batch_size={batch_size}: must be >= 1")
        self.model.eval()
        n, k = len(waveforms), len(self.classes)
        sums = np.zeros((n, k), dtype=np.float64)
        counts = np.zeros(n, dtype=np.int64)
        pending: list[torch.Tensor] = []
        owners: list[np.ndarray] = []
        size = 0

        def flush(limit: int) -> None:
            nonlocal pending, owners, size
            x = torch.cat(pending)
            who = np.concatenate(owners)
            for start in range(0, limit, batch_size):
                stop = min(start + batch_size, limit)
                xb = x[start:stop]
                if xb.shape[0] < batch_size:
                    # oneDNN chooses its convolution kernels by batch size: a short batch would
                    # get other rounding than a full one (1e-7 here), so a segment's output
                    # would depend on its neighbours and the thread count; padded, it does not
                    xb = torch.cat([xb, xb.new_zeros((batch_size - xb.shape[0], *xb.shape[1:]))])
                with autocast_context(self.precision, self.device):
                    out = self._forward(xb).float()[:stop - start]  # (b, K)
                out = torch.softmax(out, dim=1) if self.pooling == "prob" else out
                np.add.at(sums, who[start:stop], out.double().cpu().numpy())
                np.add.at(counts, who[start:stop], 1)
            pending, owners, size = ([x[limit:]], [who[limit:]], x.shape[0] - limit)

        stride = self.feature_config.test_stride
        for i, segs in utterance_segments(waveforms, self._extractor, stride,
                                          stats=self.feature_stats, device=self.device):
            pending.append(segs)
            owners.append(np.full(segs.shape[0], i))
            size += segs.shape[0]
            if size >= batch_size:
                flush(size - size % batch_size)
        if size:
            flush(size)
        mean = sums / counts[:, None]
        if self.pooling == "logit":
            mean = torch.softmax(torch.from_numpy(mean), dim=1).numpy()
        return mean


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu", *,
                    precision: str = "fp32") -> Predictor:
    """A ``Predictor`` from ``<stem>.safetensors`` / ``.pt`` / ``.json`` (sidecar beside it).

    The sidecar's ``feature_config`` names the streams (and, for ssl, the encoder folder) the
    network needs; a stream that cannot be built (ssl without transformers or its folder) is a
    one-line ``ModelError``. An ensemble sidecar (``model.ensemble``) gives an
    ``EnsemblePredictor`` of its members.
    """
    from model.ensemble import is_ensemble, load_ensemble

    if is_ensemble(path):
        return load_ensemble(path, device, precision=precision)
    model, doc, weights = load_model(path)

    stats = doc.get("feature_stats")
    return Predictor(
        model,
        doc["classes"],
        FeatureConfig.from_dict(doc["feature_config"]),
        feature_stats=FeatureStats.from_dict(stats) if stats else None,
        name=doc.get("name", ""),
        fold=doc.get("fold"),
        meta=doc,
        sha256=sha256_file(weights),
        device=device,
        precision=precision,
    )
