"""Label maps: put a model's classes and a corpus's emotions on one shared class list.

A :class:`LabelMap` is declared (built in, or read from TOML); :meth:`LabelMap.resolve` turns it,
for one model's class list and one data set's emotions, into a :class:`LabelMapping` that says
which model classes and data emotions map to which shared class, which are dropped, and projects
probabilities ``(N, K_model)`` onto the shared classes ``(N, K_shared)``: the columns of model
classes that map to the same shared class are summed, dropped columns are removed, and each row
is renormalised to sum to 1 (the model's decision restricted to the shared classes).

Resolution of one class (model side; the data side is the same with ``data``/``drop_data``):
an explicit entry of ``model`` wins; else a class listed in ``drop_model`` is dropped; else the
class maps to its synonym-merged spelling (``ang``/``anger`` -> ``angry``, ``hap`` -> ``happy``,
``neu`` -> ``neutral`` ...). The shared classes are the targets reached from both sides; the
rest is dropped. A strict map (built-ins, TOML files) refuses a class that would be dropped
without being listed; every map refuses two classes that reach one target through synonyms only
(``hap`` and ``happy``): merging needs an explicit entry.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from audit.data._labels import _EMOTION_ALIASES, canonical_emotion
from audit.data.corpora import cremad, emodb, iemocap, ravdess, tess
from audit.errors import AuditError

__all__ = ["LabelMap", "LabelMapping", "CORPUS_EMOTIONS", "load_label_map", "list_label_maps",
           "synonym", "known_emotions"]

# Each corpus's emotion names as its adapter writes them into the manifest.
CORPUS_EMOTIONS: dict[str, tuple[str, ...]] = {
    "ravdess": tuple(ravdess.EMOTIONS.values()),
    "cremad": tuple(cremad.EMOTIONS.values()),
    "emodb": tuple(emodb.EMOTIONS.values()),
    "tess": tuple(tess.EMOTIONS.values()),
    # every categorical IEMOCAP label ("other" and "no agreement" are not emotions)
    "iemocap": tuple(v for v in iemocap.LABELS.values() if v not in ("other", "no agreement")),
}
# IEMOCAP's usual 4-class setting counts excited as happy; the built-in maps do the same.
_MERGES = {"iemocap": {"excited": "happy"}}
_TOML_KEYS = {"name", "description", "model", "data", "drop_model", "drop_data"}


def synonym(label: str) -> str:
    """The merged spelling of an emotion name (``'Anger'``, ``'ang'`` -> ``'angry'``)."""
    return canonical_emotion(label)


def known_emotions() -> tuple[str, ...]:
    """Every emotion a corpus adapter writes and every target of the synonym table, sorted."""
    return tuple(sorted({synonym(e) for names in CORPUS_EMOTIONS.values() for e in names}
                        | set(_EMOTION_ALIASES.values())))


@dataclass(frozen=True)
class LabelMapping:
    """A label map resolved for one model and one data set.

    ``model_classes`` is the model's probability-column order; ``shared`` the output order.
    """

    name: str
    model_classes: tuple[str, ...]
    shared: tuple[str, ...]
    model_to_shared: dict[str, str]
    data_to_shared: dict[str, str]
    dropped_model: tuple[str, ...]
    dropped_data: tuple[str, ...]

    @property
    def matrix(self) -> np.ndarray:
        """``(K_model, K_shared)`` 0/1 matrix: column ``j`` sums the model classes of ``shared[j]``."""
        m = np.zeros((len(self.model_classes), len(self.shared)), dtype=np.float64)
        for i, c in enumerate(self.model_classes):
            if c in self.model_to_shared:
                m[i, self.shared.index(self.model_to_shared[c])] = 1.0
        return m

    def project(self, probs: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, K_model)`` -> ``(N, K_shared)``, each row renormalised to sum 1."""
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != len(self.model_classes):
            raise AuditError(f"label map {self.name!r}: probabilities of shape {probs.shape}, "
                             f"expected (N, {len(self.model_classes)})")
        kept = probs @ self.matrix
        total = kept.sum(axis=1, keepdims=True)
        if (total <= 0).any():
            n = int((total <= 0).sum())
            raise AuditError(f"label map {self.name!r}: {n} row(s) put no probability on any "
                             f"shared class ({', '.join(self.shared)}); cannot renormalise")
        return kept / total

    def dropped_mass(self, probs: np.ndarray) -> np.ndarray:
        """``(N,)`` share of each row's probability on dropped model classes (before renormalising)."""
        probs = np.asarray(probs, dtype=np.float64)
        return 1.0 - (probs @ self.matrix).sum(axis=1) / probs.sum(axis=1)

    def select(self, manifest: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Split a manifest into (kept rows relabelled to shared names, removed rows)."""
        target = manifest["emotion"].astype(str).map(self.data_to_shared)
        keep = target.notna()
        kept = manifest[keep].copy()
        kept["emotion"] = target[keep]
        return kept.reset_index(drop=True), manifest[~keep].reset_index(drop=True)

    def describe(self) -> dict:
        """JSON-ready record for run.json."""
        return {"name": self.name, "shared_classes": list(self.shared),
                "model_to_shared": dict(self.model_to_shared),
                "data_to_shared": dict(self.data_to_shared),
                "dropped_model_classes": list(self.dropped_model),
                "dropped_data_classes": list(self.dropped_data)}

    @property
    def digest(self) -> str:
        """sha256 of the mapping (part of a mapped model's cache identity)."""
        blob = json.dumps([self.model_classes, self.describe()], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass(frozen=True)
class LabelMap:
    """A declared label map (see the module docstring for how a class resolves).

    ``model_labels`` / ``data_labels``: the labels a side may hold (a corpus's emotion set),
    checked after synonyms; ``None`` accepts any. ``strict``: an unlisted class that finds no
    shared target is an error instead of a silent drop.
    """

    name: str
    model: dict[str, str] = field(default_factory=dict)
    data: dict[str, str] = field(default_factory=dict)
    drop_model: frozenset[str] = frozenset()
    drop_data: frozenset[str] = frozenset()
    model_labels: frozenset[str] | None = None
    data_labels: frozenset[str] | None = None
    strict: bool = True
    source: str = "built-in"

    def resolve(self, model_classes: Sequence[str], data_emotions: Iterable[str]) -> LabelMapping:
        """Resolve for a model's class list (column order) and the emotions of a data set."""
        model_classes = tuple(str(c) for c in model_classes)
        emotions = tuple(sorted({str(e) for e in data_emotions}))
        where = f"label map {self.name!r}" + ("" if self.source == "built-in" else f" ({self.source})")
        if self.strict:  # a user's entries must name real classes (typos are errors)
            self._check_keys(where, "model", self.model, self.drop_model, model_classes)
            self._check_keys(where, "data", self.data, self.drop_data, emotions)
        m_target = self._side(where, "model", model_classes, self.model, self.drop_model,
                              self.model_labels, self.strict)
        d_target = self._side(where, "data", emotions, self.data, self.drop_data, self.data_labels,
                              self.strict)
        shared = tuple(sorted(set(m_target.values()) & set(d_target.values())))
        if self.strict:
            for side, targets, table in (("model", m_target, "model"), ("data", d_target, "data")):
                lost = [c for c, t in targets.items() if t not in shared]
                if lost:
                    raise AuditError(
                        f"{where}: {side} class {lost[0]!r} has no counterpart on the other side; "
                        f"map it under [{table}] or list it in drop_{side}")
        if len(shared) < 2:
            raise AuditError(f"{where}: model classes ({', '.join(model_classes)}) and data "
                             f"emotions ({', '.join(emotions)}) share {len(shared)} class(es); "
                             "need at least 2")
        m_kept = {c: t for c, t in m_target.items() if t in shared}
        d_kept = {e: t for e, t in d_target.items() if t in shared}
        return LabelMapping(
            self.name, model_classes, shared, m_kept, d_kept,
            tuple(c for c in model_classes if c not in m_kept),
            tuple(e for e in emotions if e not in d_kept))

    @staticmethod
    def _check_keys(where, side, table, drop, present) -> None:
        for key in sorted(set(table) | set(drop)):
            if key not in present:
                raise AuditError(f"{where}: {side} class {key!r} is not among the {side} classes "
                                 f"({', '.join(present)})")
        both = sorted(set(table) & set(drop))
        if both:
            raise AuditError(f"{where}: {side} class {both[0]!r} is both mapped and in drop_{side}")

    @staticmethod
    def _side(where, side, labels, table, drop, allowed, strict) -> dict[str, str]:
        out: dict[str, str] = {}
        implicit: dict[str, str] = {}
        for label in labels:
            # built-in entries are written in merged spellings, so they also match 'exc' etc.
            key = label if strict or label in table or label in drop else synonym(label)
            if key in table:
                out[label] = table[key]
                continue
            if key in drop:
                continue
            target = synonym(label)
            if allowed is not None and target not in allowed:
                raise AuditError(f"{where}: {side} class {label!r} is not one of "
                                 f"{', '.join(sorted(allowed))}")
            if target in implicit:
                raise AuditError(f"{where}: ambiguous: {side} classes {implicit[target]!r} and "
                                 f"{label!r} both mean {target!r}; merge them explicitly under "
                                 f"[{side}] or drop one")
            implicit[target] = label
            out[label] = target
        return out


def _builtin(src: str, dst: str) -> LabelMap:
    a, b = set(CORPUS_EMOTIONS[src]), set(CORPUS_EMOTIONS[dst])
    model = dict(_MERGES.get(src, {}))
    data = dict(_MERGES.get(dst, {}))
    reach_a = {model.get(x, x) for x in a}
    reach_b = {data.get(x, x) for x in b}
    shared = reach_a & reach_b
    return LabelMap(
        f"{src}-{dst}",
        model={k: v for k, v in model.items() if v in shared},
        data={k: v for k, v in data.items() if v in shared},
        drop_model=frozenset(x for x in a if model.get(x, x) not in shared),
        drop_data=frozenset(x for x in b if data.get(x, x) not in shared),
        model_labels=frozenset(a), data_labels=frozenset(b), strict=False)


def list_label_maps() -> list[str]:
    """Names of the built-in maps: ``synonyms`` and ``<train corpus>-<test corpus>``."""
    names = [f"{a}-{b}" for a in CORPUS_EMOTIONS for b in CORPUS_EMOTIONS if a != b]
    return ["synonyms", *sorted(names)]


def _from_toml(path: Path) -> LabelMap:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise AuditError(f"{path}: cannot read label map ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AuditError(f"{path}: invalid TOML ({exc})") from None
    unknown = sorted(set(raw) - _TOML_KEYS)
    if unknown:
        raise AuditError(f"{path}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_TOML_KEYS))})")

    def table(key: str) -> dict[str, str]:
        value = raw.get(key, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip()
                                                  for v in value.values()):
            raise AuditError(f"{path}: [{key}] must map class names to non-empty class names")
        return {str(k): v.strip() for k, v in value.items()}

    def names(key: str) -> frozenset[str]:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AuditError(f"{path}: {key} must be a list of class names")
        return frozenset(value)

    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise AuditError(f"{path}: name must be a non-empty string")
    return LabelMap(name, model=table("model"), data=table("data"), drop_model=names("drop_model"),
                    drop_data=names("drop_data"), strict=True, source=str(path))


def load_label_map(spec: str) -> LabelMap:
    """A built-in map by name (:func:`list_label_maps`) or a user map from a ``.toml`` file.

    ``synonyms`` maps names through synonyms only and drops (and reports) what does not match;
    ``ravdess-emodb`` (train corpus - test corpus) checks both sides against the corpora's
    emotion sets and drops what one corpus lacks (IEMOCAP's ``excited`` counts as ``happy``).
    """
    text = str(spec).strip()
    if text == "synonyms":
        return LabelMap("synonyms", strict=False)
    src, _, dst = text.partition("-")
    if src in CORPUS_EMOTIONS and dst in CORPUS_EMOTIONS and src != dst:
        return _builtin(src, dst)
    path = Path(text)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise AuditError(f"{path}: label map file not found")
        return _from_toml(path)
    raise AuditError(f"unknown label map {text!r} (built-in: synonyms, <corpus>-<corpus> with "
                     f"corpora {', '.join(CORPUS_EMOTIONS)}; or a .toml file)")
