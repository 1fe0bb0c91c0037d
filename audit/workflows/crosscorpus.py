"""How each model meets the data: fold routing on its own corpus, every utterance on another.

:func:`plan_evaluation` runs before :func:`audit.engine.evaluate` and decides, per model, from
its checkpoint sidecars (``manifest_hash``, ``training_speakers``):

* ``same``: trained on this manifest (same hash), or a per-fold model whose training speakers
  are in the data - fold ``k``'s model sees fold ``k`` (the runner refuses any leak);
* ``cross``: trained on another manifest and none of its training speakers is in the data -
  no fold routing: a single checkpoint evaluates every utterance, and each model of a per-fold
  folder does too, as a model of its own named ``<name>-fold<k>`` (``fold`` in predictions.csv
  stays the data's fold);
* ``unknown``: nothing recorded (TorchScript, ONNX, entry points): as before.

A single checkpoint whose training speakers are in the data is refused, on its own corpus too:
the same speakers could be on both sides (``--folds k`` keeps only its test fold). A label map (:mod:`audit.data.labelmap`) restricts the data to the shared
classes (relabelled), wraps every predictor so its probabilities are projected onto them, and
records each removed utterance in problems.csv (stage ``label_map``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit.errors import AuditError
from audit.models import ModelSet, Predictor

__all__ = ["EvaluationPlan", "MappedPredictor", "plan_evaluation", "corpus_relation"]


class MappedPredictor:
    """A :class:`audit.models.Predictor` whose probabilities are projected onto a label map's
    shared classes.

    ``predict_proba(waveforms) -> (n_utt, K_shared)``; its own ``classes`` and cache identity,
    the wrapped predictor's name, fold, meta, feature settings and precision.
    """

    def __init__(self, inner: Predictor, mapping: Any) -> None:
        self._inner, self.mapping = inner, mapping
        self.classes = list(mapping.shared)
        # a distinct identity: the cache must not hand these probabilities to the bare model
        import hashlib

        self.sha256 = hashlib.sha256(f"{inner.sha256}:{mapping.digest}".encode()).hexdigest()

    name = property(lambda self: self._inner.name)
    fold = property(lambda self: self._inner.fold)
    meta = property(lambda self: self._inner.meta)
    feature_config = property(lambda self: self._inner.feature_config)
    precision = property(lambda self: self._inner.precision)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # unpickling looks these up before _inner exists
            raise AttributeError(name)
        return getattr(self._inner, name)

    def predict_proba(self, waveforms: Sequence[np.ndarray], **kw: Any) -> np.ndarray:
        return self.mapping.project(self._inner.predict_proba(waveforms, **kw)).astype(np.float32)


def _meta(pred: Predictor) -> dict:
    return pred.meta or {}


def _trained_speakers(ms: ModelSet) -> set[str]:
    from model import speakers_seen

    out: set[str] = set()
    for p in ms.predictors.values():
        meta = _meta(p)
        out |= set(speakers_seen(meta))
    return out


def corpus_relation(ms: ModelSet, speakers: set[str], data_hash: str, source: str) -> str:
    """``same`` | ``cross`` | ``unknown`` for one model and the data (see the module docstring)."""
    hashes = {_meta(p).get("manifest_hash") for p in ms.predictors.values()} - {None}
    trained = _trained_speakers(ms)
    overlap = sorted(trained & speakers)
    if overlap and not ms.per_fold:
        shown = ", ".join(overlap[:3]) + (f" and {len(overlap) - 3} more" if len(overlap) > 3 else "")
        raise AuditError(
            f"model {ms.name!r} ({ms.source}) was trained on speaker(s) {shown} that are also in "
            f"{source}: the same speakers could be on both sides; evaluate it on another corpus, "
            "give the folder of fold checkpoints (fold routing), or --folds with its test fold")
    if data_hash in hashes or overlap:
        return "same"  # per-fold: routed; the runner refuses a fold model that saw its test speakers
    return "cross" if (hashes or trained) else "unknown"


@dataclass
class EvaluationPlan:
    """What :func:`audit.engine.evaluate` gets: the rows, the model sets, the run.json record."""

    manifest: pd.DataFrame
    model_sets: list[ModelSet]
    record: dict[str, Any]
    mapping: Any = None


def _split_folds(ms: ModelSet, taken: set[str]) -> list[ModelSet]:
    out = []
    for fold in sorted(ms.predictors):
        name = f"{ms.name}-fold{fold}"
        if name in taken:
            raise AuditError(f"model name {name!r} is taken; rename the model {name!r}")
        out.append(ModelSet(name, ms.source, ms.kind, {None: ms.predictors[fold]}))
    return out


def _ensemble_of_folds(ms: ModelSet) -> ModelSet:
    """One model whose probabilities are the mean of the folder's fold models' (``--ensemble``)."""
    from model import EnsemblePredictor, speakers_seen

    folds = sorted(ms.predictors)
    members = [ms.predictors[k] for k in folds]
    meta = {"name": ms.name, "fold": None,
            "members": [{"sidecar": f"fold{k}", "weights_sha256": p.sha256, "seed": _meta(p).get("seed")}
                        for k, p in zip(folds, members)],
            "training_speakers": sorted({s for p in members for s in speakers_seen(_meta(p))})}
    return ModelSet(ms.name, ms.source, "fold-ensemble", {None: EnsemblePredictor(members, meta, name=ms.name)})


def plan_evaluation(manifest: pd.DataFrame, model_sets: Sequence[ModelSet], *, data_hash: str,
                    source: str, label_map: Any = None, problems: Any = None,
                    ensemble: bool = False) -> EvaluationPlan:
    """Decide routing per model and apply ``label_map`` (a :class:`audit.data.LabelMap` or None).

    Parameters
    ----------
    manifest : the rows to evaluate (after any ``--folds`` selection).
    data_hash : ``manifest_hash`` of the whole data manifest (compared with the sidecars').
    source : the data's name for messages.
    problems : ``ProblemLog`` receiving one ``label_map`` row per removed utterance.
    ensemble : a per-fold folder on another corpus is evaluated as ONE model whose
        probabilities are the mean of its fold models' (instead of one ``<name>-fold<k>`` model
        per fold).
    """
    speakers = set(manifest["speaker"].astype(str))
    relations = {ms.name: corpus_relation(ms, speakers, data_hash, source) for ms in model_sets}
    record: dict[str, Any] = {"models": {}}
    for ms in model_sets:
        metas = [_meta(p) for p in ms.predictors.values()]
        record["models"][ms.name] = {
            "relation": relations[ms.name],
            "fold_routing": ms.per_fold and relations[ms.name] == "same",
            "training_manifest_sha256": sorted({m["manifest_hash"] for m in metas
                                                if m.get("manifest_hash")}),
            "training_data_source": sorted({str(m["data_source"]) for m in metas
                                            if m.get("data_source")})}
    mapping = None
    if label_map is not None:
        emotions = manifest["emotion"].astype(str)
        mappings = [label_map.resolve(ms.classes, emotions) for ms in model_sets]
        for ms, other in zip(model_sets[1:], mappings[1:], strict=True):
            if (other.shared, other.data_to_shared) != (mappings[0].shared, mappings[0].data_to_shared):
                raise AuditError(f"label map {label_map.name!r}: models {model_sets[0].name!r} and "
                                 f"{ms.name!r} map to different shared classes "
                                 f"({', '.join(mappings[0].shared)} vs {', '.join(other.shared)}); "
                                 "audit them in separate runs")
        mapping = mappings[0]
        manifest, removed = mapping.select(manifest)
        if manifest.empty:
            raise AuditError(f"label map {label_map.name!r}: no utterance of {source} has a shared class")
        for r in removed.itertuples(index=False):
            if problems is not None:
                problems.add("label_map", f"emotion {r.emotion!r} has no shared class under label "
                             f"map {mapping.name!r}; utterance not evaluated",
                             utt_id=str(r.utt_id), path=str(r.path))
        record["label_map"] = {
            **mapping.describe(),
            "per_model": {ms.name: {"model_to_shared": m.model_to_shared,
                                    "dropped_model_classes": list(m.dropped_model)}
                          for ms, m in zip(model_sets, mappings, strict=True)},
            "removed_utterances": int(len(removed)),
            "removed_by_emotion": {str(k): int(v) for k, v in
                                   removed["emotion"].astype(str).value_counts().sort_index().items()},
            "evaluated_utterances": int(len(manifest))}
        model_sets = [ModelSet(ms.name, ms.source, ms.kind,
                               {k: MappedPredictor(p, m) for k, p in ms.predictors.items()})
                      for ms, m in zip(model_sets, mappings, strict=True)]
    planned: list[ModelSet] = []
    taken = {ms.name for ms in model_sets}
    for ms in model_sets:
        if relations[ms.name] == "cross" and ms.per_fold and ensemble:
            planned.append(_ensemble_of_folds(ms))
            record["models"][ms.name]["evaluated_as"] = f"mean probabilities of folds {sorted(ms.predictors)}"
        elif relations[ms.name] == "cross" and ms.per_fold:
            planned += _split_folds(ms, taken)
            record["models"][ms.name]["evaluated_as"] = [m.name for m in planned[-len(ms.predictors):]]
        else:
            planned.append(ms)
    return EvaluationPlan(manifest, planned, record, mapping)
