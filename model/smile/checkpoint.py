"""openSMILE-model checkpoints: ``<stem>.safetensors`` (scaler and linear weights) and
``<stem>.json`` (a sidecar of kind ``smile``: classes, features, classifier, training record).

No pickle: the arrays are safetensors, everything else JSON, and a predictor is rebuilt from
them with numpy (scikit-learn is needed to train only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from model.errors import ModelError
from model.smile.features import SmileFeatureConfig, SmileFeatures
from model.smile.linear import LinearModel

__all__ = ["SMILE_FORMAT", "SmilePredictor", "save_smile", "load_smile", "is_smile_checkpoint"]

SMILE_FORMAT = "ser-audit-smile/1"


class SmilePredictor:
    """openSMILE functionals + a standardised linear classifier, as an audit predictor.

    ``predict_proba(waveforms)``: each (time,) float at 16 kHz -> (n_utt, n_classes) float64,
    columns in ``classes`` order. Attributes the engine reads: ``name``, ``classes``, ``fold``,
    ``meta`` (the sidecar), ``sha256`` (weights file), ``feature_config``, ``precision``.
    """

    precision = "fp32"

    def __init__(self, model: LinearModel, feature_set: str, *, name: str = "", fold: int | None = None,
                 meta: dict | None = None, sha256: str = "") -> None:
        self.model = model
        self.classes = list(model.classes)
        self._features: SmileFeatures | None = None
        self.feature_set = feature_set
        self.name, self.fold, self.meta, self.sha256 = name, fold, meta or {}, sha256
        recorded = (self.meta.get("feature_config") or {}).get("opensmile", "")
        self.feature_config = SmileFeatureConfig(feature_set, opensmile=recorded)

    def features(self, waveforms: Sequence[np.ndarray]) -> np.ndarray:
        """(n_utt, n_features) functionals of the waveforms (opensmile loaded on first use)."""
        if self._features is None:
            self._features = SmileFeatures(self.feature_set)
            if self._features.names and self.model.mean.shape[0] != len(self._features.names):
                raise ModelError(f"{self.name}: {self.model.mean.shape[0]} weights per class but "
                                 f"{len(self._features.names)} {self.feature_set} features")
        return self._features(waveforms)

    def predict_proba(self, waveforms: Sequence[np.ndarray], **_: object) -> np.ndarray:
        return self.model.predict_proba(self.features(waveforms))

    def __getstate__(self) -> dict:  # the opensmile handle is rebuilt in another process
        return {**self.__dict__, "_features": None}


def save_smile(stem: Path, model: LinearModel, sidecar: dict) -> Path:
    """Write ``<stem>.safetensors`` and ``<stem>.json``; return the weights path."""
    from safetensors.numpy import save_file

    from model.checkpoint import _atomic_write_bytes, sha256_file

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights = stem.with_name(stem.name + ".safetensors")
    _atomic_write_bytes(weights, lambda tmp: save_file({k: np.ascontiguousarray(v) for k, v in
                                                   model.arrays().items()}, tmp))
    doc = {"format": SMILE_FORMAT, "kind": "smile", **sidecar, "classes": list(model.classes),
           "classifier": {**sidecar.get("classifier", {}), "kind": model.kind},
           "weights_file": weights.name, "weights_sha256": sha256_file(weights)}
    text = json.dumps(doc, indent=2)
    _atomic_write_bytes(stem.with_name(stem.name + ".json"), lambda tmp: Path(tmp).write_text(text + "\n"))
    return weights


def _sidecar_path(path: Path) -> Path:
    path = Path(path)
    return path if path.suffix == ".json" else path.with_suffix(".json")


def is_smile_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` (a .json sidecar or its .safetensors) is an openSMILE-model checkpoint."""
    sidecar = _sidecar_path(Path(path))
    try:
        return json.loads(sidecar.read_text()).get("kind") == "smile"
    except (OSError, ValueError, AttributeError):
        return False


def load_smile(path: str | Path) -> SmilePredictor:
    """A :class:`SmilePredictor` from a sidecar (or its weights); ModelError when malformed."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    from model.checkpoint import sha256_file

    sidecar = _sidecar_path(Path(path))
    try:
        doc = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{sidecar}: unreadable openSMILE-model sidecar ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != SMILE_FORMAT:
        raise ModelError(f"{sidecar}: not an openSMILE-model sidecar (format != {SMILE_FORMAT!r})")
    name = doc.get("weights_file", sidecar.stem + ".safetensors")
    if not isinstance(name, str) or not name or Path(name).name != name:
        raise ModelError(f"{sidecar}: weights_file must be a file name beside the sidecar")
    weights = sidecar.with_name(name)
    try:
        arrays = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(f"{weights}: unreadable safetensors file ({exc})") from None
    classes = doc.get("classes")
    if not isinstance(classes, list) or len(set(map(str, classes))) != len(classes) or len(classes) < 2:
        raise ModelError(f"{sidecar}: 'classes' must list at least 2 distinct names")
    try:
        model = LinearModel(str((doc.get("classifier") or {}).get("kind")), tuple(map(str, classes)),
                            *(np.asarray(arrays[k], dtype=np.float64)
                              for k in ("mean", "scale", "coef", "intercept")))
        features = SmileFeatureConfig.from_dict(doc.get("feature_config") or {})
    except KeyError as exc:
        raise ModelError(f"{weights}: missing array {exc}") from None
    except ModelError as exc:
        raise ModelError(f"{sidecar}: {exc}") from None
    fold = doc.get("fold")
    return SmilePredictor(model, features.feature_set, name=str(doc.get("name", sidecar.stem)),
                          fold=int(fold) if isinstance(fold, int) else None, meta=doc,
                          sha256=sha256_file(weights))
