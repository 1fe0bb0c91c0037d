"""The model seam: what the engine needs of a model, and nothing more.

Every adapter (our checkpoints, TorchScript/ONNX segment networks, entry points, ``hf:`` and
``speechbrain:`` folders, the label-map projection of cross-corpus runs) returns objects that
satisfy :class:`Predictor`; :func:`check_predictor` verifies one when it is loaded, and
:func:`feature_key` / :func:`cache_identity` are the only way the engine turns a predictor into
a cache key.

A composite (an ensemble whose ``predict_proba`` averages K members) satisfies the protocol
with plain attributes: ``classes`` in its output order, ``sha256`` a digest of the members'
``sha256`` and of the combination rule, ``feature_config`` ``None`` or any object with a
``to_dict()`` that names the members' settings, ``precision`` the members' (reduced precision
keys the cache apart), ``meta`` with the union of the members' ``training_speakers`` (the
engine refuses a fold model trained on a speaker it would test), ``fold`` as for one model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from audit.errors import AuditError

__all__ = ["Predictor", "FeatureSettings", "PRECISIONS", "check_predictor", "feature_key",
           "cache_identity"]

# The arithmetic a predictor may run in (``model.precision.resolve_precision``'s results).
PRECISIONS = ("fp32", "bf16", "fp16", "onnx")


@runtime_checkable
class FeatureSettings(Protocol):
    """The input settings of a model (MFCC config, window config): hashed into every cache key."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings; equal dicts mean equal inputs to the network."""
        ...


@runtime_checkable
class Predictor(Protocol):
    """One model as the engine sees it.

    Attributes
    ----------
    name : a display name (the checkpoint's, the folder's).
    classes : canonical lowercase emotion names; column ``j`` of every output is ``classes[j]``.
    fold : the fold whose held-out speakers it evaluates, ``None`` = every utterance.
    meta : JSON-ready facts for run.json; ``training_speakers`` / ``train_speakers`` (if known)
        let the engine refuse a model tested on a speaker it was trained on.
    sha256 : the cache identity of the weights and of every file that changes the outputs
        (hashed content, never a path).
    feature_config : :class:`FeatureSettings` or ``None``; part of the cache key.
    precision : the resolved arithmetic (one of :data:`PRECISIONS`); a reduced one keys the
        cache apart.
    """

    name: str
    classes: list[str]
    fold: int | None
    meta: dict[str, Any]
    sha256: str
    feature_config: Any
    precision: str

    def predict_proba(self, waveforms: Sequence[np.ndarray], *,
                      batch_size: int | None = None) -> np.ndarray:
        """``waveforms``: each ``(time,)`` float32 at 16 kHz -> ``(n_utt, n_classes)``
        probabilities, rows summing to 1. A row depends on its own audio only (not on which
        utterances share the call), so results do not change with the batching."""
        ...


def check_predictor(pred: Any, label: str) -> Predictor:
    """Return ``pred`` when it satisfies :class:`Predictor`; one :class:`AuditError` naming
    ``label`` and the first broken member otherwise."""
    missing = [m for m in ("name", "classes", "fold", "meta", "sha256", "feature_config",
                           "precision", "predict_proba") if not hasattr(pred, m)]
    if missing:
        raise AuditError(f"{label}: the model lacks {', '.join(missing)} (see the adapter contract "
                         "in docs/engine.md)")
    if not callable(pred.predict_proba):
        raise AuditError(f"{label}: predict_proba is not callable")
    classes = pred.classes
    if (not isinstance(classes, list | tuple) or not classes
            or not all(isinstance(c, str) and c for c in classes)):
        raise AuditError(f"{label}: classes must be a non-empty list of names, got {classes!r}")
    if len(set(classes)) != len(classes):
        raise AuditError(f"{label}: classes repeat a name ({list(classes)})")
    if not isinstance(pred.sha256, str) or not pred.sha256:
        raise AuditError(f"{label}: no cache identity (sha256 must be a non-empty string)")
    if pred.precision not in PRECISIONS:
        raise AuditError(f"{label}: precision {pred.precision!r} is not one of {', '.join(PRECISIONS)}")
    if pred.fold is not None and not isinstance(pred.fold, int):
        raise AuditError(f"{label}: fold must be an integer or None, got {pred.fold!r}")
    if not isinstance(pred.meta, dict):
        raise AuditError(f"{label}: meta must be a dict, got {type(pred.meta).__name__}")
    return pred


def feature_key(pred: Predictor) -> str:
    """The feature part of a cache key: the input settings, plus the precision when reduced
    (fp32 keeps the historic key, so caches made before precisions existed still hit)."""
    cfg = pred.feature_config
    suffix = "" if pred.precision == "fp32" else f"|precision={pred.precision}"
    if cfg is None:
        return "none" + suffix
    return json.dumps(cfg.to_dict() if hasattr(cfg, "to_dict") else repr(cfg), sort_keys=True) + suffix


def cache_identity(pred: Predictor) -> tuple[str, str]:
    """``(sha256, feature_key)``: what identifies a model's outputs in the prediction cache."""
    return pred.sha256, feature_key(pred)
