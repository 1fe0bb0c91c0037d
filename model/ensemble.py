"""Seed ensembles: a sidecar that names K member checkpoints; its predictor averages their
utterance probabilities.

``<stem>.json`` (format ``ser-audit-ensemble/1``) lists each member's sidecar (relative to
itself), weights sha256 and seed, with the union of the speakers the members trained and
validated on (so an audit refuses test speakers any member saw). ``load_checkpoint`` returns an
``EnsemblePredictor`` for such a sidecar, so a folder of ``fold<k>.json`` ensembles is audited
like any checkpoint folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.checkpoint import _atomic_write_bytes, read_sidecar
from model.errors import ModelError
from model.feature_share import shared_features

__all__ = ["ENSEMBLE_FORMAT", "EnsemblePredictor", "is_ensemble", "write_ensemble", "load_ensemble"]

ENSEMBLE_FORMAT = "ser-audit-ensemble/1"


def is_ensemble(path: str | Path) -> bool:
    """Whether ``path`` is an ensemble sidecar (a ``.json`` of format ``ser-audit-ensemble/1``)."""
    path = Path(path)
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        return json.loads(path.read_text()).get("format") == ENSEMBLE_FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def write_ensemble(stem: str | Path, members: Sequence[str | Path], *, name: str | None = None) -> Path:
    """Write ``<stem>.json`` naming the member checkpoints (their ``.json`` sidecars); they must
    share classes and fold. Returns the sidecar path."""
    stem = Path(stem)
    path = stem.with_name(stem.name + ".json")
    if len(members) < 2:
        raise ModelError(f"{path}: an ensemble needs at least 2 members, got {len(members)}")
    docs = [read_sidecar(Path(m)) for m in members]
    if len({tuple(d["classes"]) for d in docs}) > 1 or len({d.get("fold") for d in docs}) > 1:
        raise ModelError(f"{path}: members disagree on classes or fold")
    trained = sorted({str(s) for d in docs for s in d.get("training_speakers") or []})
    validated = sorted({str(s) for d in docs for s in (d.get("validation") or {}).get("speakers") or []})
    hashes = {d.get("manifest_hash") for d in docs}
    doc = {
        "format": ENSEMBLE_FORMAT, "name": name or docs[0].get("name", stem.name), "fold": docs[0].get("fold"),
        "classes": list(docs[0]["classes"]),
        "members": [{"sidecar": os.path.relpath(Path(m).resolve(), path.parent.resolve()),
                     "weights_sha256": d["weights_sha256"], "seed": d.get("seed")} for m, d in zip(members, docs)],
        "training_speakers": trained, "validation": {"speakers": validated} if validated else None,
        "manifest_hash": hashes.pop() if len(hashes) == 1 else None,
        "metadata": {"test_speakers": (docs[0].get("metadata") or {}).get("test_speakers")},
    }
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    _atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text))
    return path


class EnsemblePredictor:
    """The mean of its ``members``' ``predict_proba`` (each a ``model.Predictor``).

    ``sha256`` hashes the members' weight hashes in order (the cache identity); ``meta`` is
    the ensemble sidecar; ``precision`` and ``feature_config`` are the members' (shared)."""

    def __init__(self, members: Sequence, meta: dict, *, name: str = "") -> None:
        if not members:
            raise ModelError("an ensemble needs members")
        classes = [list(m.classes) for m in members]
        if any(c != classes[0] for c in classes):
            raise ModelError(f"{name or 'ensemble'}: members disagree on the class order")
        self.members = list(members)
        self.meta = meta
        self.name = name or meta.get("name", "")
        self.fold = meta.get("fold")
        self.classes = classes[0]
        self.precision = members[0].precision
        configs = {json.dumps(m.feature_config.to_dict(), sort_keys=True) if hasattr(m.feature_config, "to_dict")
                   else repr(m.feature_config) for m in members}
        self.feature_config = members[0].feature_config if len(configs) == 1 else None
        digest = hashlib.sha256(b"ser-audit-ensemble/1\n")
        for m in members:
            digest.update(f"{m.sha256}\n".encode())
        self.sha256 = digest.hexdigest()

    def __repr__(self) -> str:
        return f"EnsemblePredictor(name={self.name!r}, fold={self.fold}, members={len(self.members)})"

    @property
    def min_samples(self) -> int:
        """The shortest utterance (samples at 16 kHz) every member scores."""
        return max(m.min_samples for m in self.members)

    def member_records(self) -> list[dict]:
        """Per member: its sidecar (relative), weights sha256 and seed (for run.json)."""
        return [dict(m) for m in self.meta.get("members", [])]

    def predict_proba(self, waveforms: Sequence[np.ndarray], *, batch_size: int | None = None) -> np.ndarray:
        """``(n_utt, n_classes)`` float64: the members' probabilities averaged (each member
        pools its own segments; see ``model.Predictor.predict_proba``)."""
        total = None
        with shared_features():  # the members read the same streams of the same audio
            for m in self.members:
                p = m.predict_proba(waveforms, batch_size=batch_size)
                total = p if total is None else total + p
        return total / len(self.members)


def load_ensemble(path: str | Path, device="cpu", *, precision: str = "fp32") -> EnsemblePredictor:
    """The ``EnsemblePredictor`` of an ensemble sidecar; each member's weights are checked
    against the sha256 the ensemble recorded."""
    from model.predict import load_checkpoint

    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable ensemble sidecar ({exc})") from None
    members = []
    for rec in doc.get("members") or []:
        member_path = path.parent / rec["sidecar"]
        pred = load_checkpoint(member_path, device=device, precision=precision)
        if pred.sha256 != rec.get("weights_sha256"):
            raise ModelError(f"{path}: member {rec['sidecar']} has other weights than the ensemble recorded")
        members.append(pred)
    if len(members) < 2:
        raise ModelError(f"{path}: an ensemble sidecar needs at least 2 members")
    return EnsemblePredictor(members, doc, name=doc.get("name", path.stem))
