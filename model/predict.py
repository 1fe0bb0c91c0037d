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

__all__ = ["Predictor", "SegmentStream", "load_checkpoint", "resolve_device"]


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

    def predict_proba(self, waveforms: Sequence[np.ndarray], *,
                      batch_size: int | None = None) -> np.ndarray:
        """Class probabilities per utterance.

        ``waveforms``: each ``(time,)`` float at ``feature_config.sample_rate`` (16 kHz) ->
        ``(n_utt, n_classes)`` float64, columns in ``classes`` order. Segments (test stride)
        of many utterances stream through the network in batches of ``batch_size``
        (:class:`SegmentStream`); each segment's output depends only on itself. Every forward
        sees exactly ``batch_size`` segments (the last one padded with zeros), so the result
        does not depend on how the utterances are grouped into calls nor on the torch thread
        count (tested); another ``batch_size`` may round differently. Default batch: 32
        segments on the CPU, 256 on a GPU (measured on 2 CPU cores: 256-segment batches ran
        2-3x slower than 16-32, their activations falling out of cache).
        """
        stream = self.segment_stream(batch_size=batch_size)
        got = dict(stream.add(waveforms, range(len(waveforms))) + stream.finish())
        out = np.zeros((len(waveforms), len(self.classes)), dtype=np.float64)
        for i, probs in got.items():
            out[i] = probs
        return out

    def segment_stream(self, *, batch_size: int | None = None) -> SegmentStream:
        """A :class:`SegmentStream` through this network (utterances of several calls share
        full batches; the engine uses one per model and load of audio)."""
        if batch_size is None:
            batch_size = 32 if self.device.type == "cpu" else 256
        if batch_size < 1:
            raise ModelError(f"batch_size={batch_size}: must be >= 1")
        return SegmentStream(self, batch_size)


class SegmentStream:
    """Utterances of several calls through one :class:`Predictor`, in full batches.

    ``add(waveforms, tags)`` computes each waveform's segments and forwards every full batch of
    ``batch_size`` segments; segments that do not fill a batch wait for the next ``add``;
    ``finish()`` forwards what is left in one batch padded with zeros. Both return
    ``[(tag, probs (n_classes,) float64)]`` for the utterances whose segments have all been
    through, in the order they were added. A segment's output does not depend on its
    neighbours in a batch (every forward sees exactly ``batch_size`` rows; oneDNN chooses its
    convolution kernels by batch size, so a short batch would round differently), and each
    utterance sums its segments in order, so an utterance's probabilities are the same
    whichever calls it shares batches with: utterances of several calls (an audit's conditions)
    share the padding of one last batch instead of one each.
    """

    def __init__(self, predictor: Predictor, batch_size: int) -> None:
        self._pred = predictor
        self._batch = int(batch_size)
        self._pending: list[torch.Tensor] = []
        self._owners: list[np.ndarray] = []
        self._size = 0
        self._tags: dict[int, object] = {}
        self._left: dict[int, int] = {}
        self._sums: dict[int, np.ndarray] = {}
        self._counts: dict[int, int] = {}
        self._next = 0

    def add(self, waveforms: Sequence[np.ndarray], tags: Sequence[object]) -> list[tuple[object, np.ndarray]]:
        """Add utterances (one tag each); forward every full batch; the finished ones."""
        if len(tags) != len(waveforms):
            raise ModelError(f"{len(waveforms)} waveforms but {len(tags)} tags")
        pred = self._pred
        k = len(pred.classes)
        for i, segs in utterance_segments(waveforms, pred._extractor, pred.feature_config.test_stride,
                                          stats=pred.feature_stats, device=pred.device):
            j = self._next
            self._next += 1
            self._tags[j], self._sums[j] = tags[i], np.zeros(k)
            self._left[j] = self._counts[j] = segs.shape[0]
            self._pending.append(segs)
            self._owners.append(np.full(segs.shape[0], j))
            self._size += segs.shape[0]
            if self._size >= self._batch:
                self._forward(self._size - self._size % self._batch)
        return self._take()

    def finish(self) -> list[tuple[object, np.ndarray]]:
        """Forward the segments still waiting (one padded batch); the finished utterances."""
        if self._size:
            self._forward(self._size)
        return self._take()

    @torch.no_grad()
    def _forward(self, limit: int) -> None:
        pred, bs = self._pred, self._batch
        pred.model.eval()
        x = torch.cat(self._pending)
        who = np.concatenate(self._owners)
        for start in range(0, limit, bs):
            stop = min(start + bs, limit)
            xb = x[start:stop]
            if xb.shape[0] < bs:
                # oneDNN chooses its convolution kernels by batch size: a short batch would
                # get other rounding than a full one (1e-7 here), so a segment's output
                # would depend on its neighbours and the thread count; padded, it does not
                xb = torch.cat([xb, xb.new_zeros((bs - xb.shape[0], *xb.shape[1:]))])
            with autocast_context(pred.precision, pred.device):
                out = pred._forward(xb).float()[:stop - start]  # (b, K)
            out = torch.softmax(out, dim=1) if pred.pooling == "prob" else out
            rows = out.double().cpu().numpy()
            for r, j in enumerate(who[start:stop]):
                self._sums[j] += rows[r]
                self._left[j] -= 1
        self._pending, self._owners = [x[limit:]], [who[limit:]]
        self._size = x.shape[0] - limit

    def _take(self) -> list[tuple[object, np.ndarray]]:
        done = [j for j in self._tags if self._left[j] == 0]  # in the order added
        out = []
        for j in done:
            mean = self._sums.pop(j) / self._counts.pop(j)
            if self._pred.pooling == "logit":
                mean = torch.softmax(torch.from_numpy(mean)[None], dim=1).numpy()[0]
            out.append((self._tags.pop(j), mean))
            del self._left[j]
        return out


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
