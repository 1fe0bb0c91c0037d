"""Load any supported model into a :class:`ModelSet` (a name plus per-fold predictors).

Supported sources (see ``docs/engine.md``, "Any model"):

* a folder of our checkpoints ``fold{k}.safetensors`` + ``fold{k}.json`` (per-fold models);
* one checkpoint (``.safetensors`` / ``.json``) - evaluates every utterance;
* a TorchScript file (``.pt``/``.ts``/``.torchscript``) or an ONNX file (``.onnx``) taking
  ``(B, 1, 39, 200)`` MFCC segments and returning logits, classes from the sidecar
  ``<file>.json`` ``{"classes": [...], "feature_config": {...}}`` or ``classes=``;
* a Python entry point ``pkg.module:fn`` with ``fn(waveforms) -> (n, n_classes)``
  probabilities, waveforms a list of float32 ``(time,)`` arrays at 16 kHz; classes from
  ``fn.classes`` or ``classes=``;
* ``hf:FOLDER``, a local Hugging Face audio-classification ``save_pretrained`` folder
  (:mod:`audit.models._hf`), and ``speechbrain:FOLDER``, a local SpeechBrain classifier folder
  (:mod:`audit.models._speechbrain`); classes from the model, mapped onto emotion names.

Class-order contract: probability column ``j`` is the class ``classes[j]``. Every predictor
satisfies :class:`audit.models.protocol.Predictor` (checked here, when it is loaded).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audit.errors import AuditError
from audit.models._segments import SegmentPredictor
from audit.models.protocol import Predictor, check_predictor

__all__ = ["ModelSet", "load_models", "load_model", "check_classes"]

_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
_SCRIPT_EXT = {".pt", ".pth", ".ts", ".torchscript", ".jit"}


@dataclass
class ModelSet:
    """A named model: ``predictors[k]`` evaluates fold ``k``; ``predictors[None]`` everything."""

    name: str
    source: str
    kind: str
    predictors: dict[int | None, Predictor] = field(default_factory=dict)

    @property
    def per_fold(self) -> bool:
        """True when each fold has its own model (fold ``k`` evaluates only its test speakers)."""
        return None not in self.predictors

    @property
    def classes(self) -> list[str]:
        """Class names in probability-column order (the same for every fold)."""
        return list(next(iter(self.predictors.values())).classes)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for run.json (hashes, folds, scope)."""
        return {
            "name": self.name, "source": self.source, "kind": self.kind, "classes": self.classes,
            "scope": "fold k evaluates fold k's test speakers" if self.per_fold
            else "one model evaluates all utterances (not fold-specific)",
            "checkpoints": {("all" if k is None else str(k)): {
                "sha256": p.sha256, "name": p.name, "fold": p.fold, "precision": p.precision,
                "trained": _training_record(p.meta),
                **({"members": p.member_records()} if hasattr(p, "member_records") else {})} for k, p in sorted(
                    self.predictors.items(), key=lambda kv: -1 if kv[0] is None else kv[0])},
        }


def _training_record(meta: Any) -> dict[str, Any] | None:
    """How a checkpoint was trained (precision, threads, CPU kernels), from its sidecar."""
    if not isinstance(meta, dict) or not ({"train_config", "bn_recalibrated"} & set(meta)):
        return None
    record = {k: meta.get(k) for k in ("precision", "threads", "cpu_capability", "epochs", "device")}
    recal = meta.get("bn_recalibrated")
    if isinstance(recal, dict):  # BatchNorm statistics recomputed after training (audit model recalibrate)
        record["bn_recalibrated"] = {k: recal.get(k) for k in ("source_weights_sha256", "n_segments",
                                                             "batch_size", "threads", "cpu_capability")}
    return record


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _sidecar(path: Path, classes: Sequence[str] | None) -> dict[str, Any]:
    for cand in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if cand.is_file():
            try:
                meta = json.loads(cand.read_text())
            except json.JSONDecodeError as exc:
                raise AuditError(f"{cand}: invalid JSON sidecar ({exc})") from None
            break
    else:
        meta = {}
    if classes:
        meta["classes"] = list(classes)
    if not meta.get("classes"):
        raise AuditError(f"{path}: no class list: write {path.name}.json with "
                         '{"classes": [...]} or pass --classes')
    return meta


def _features(meta: dict[str, Any], path: Path) -> tuple[Any, Any]:
    from model import FeatureConfig
    from model.features import FeatureStats

    cfg = dict(meta.get("feature_config") or {})
    stats = cfg.pop("stats", None) or meta.get("feature_stats")
    try:
        config = FeatureConfig.from_dict(cfg)
    except Exception as exc:  # ModelError or TypeError from a bad sidecar
        raise AuditError(f"{path}: bad feature_config in sidecar ({exc})") from None
    if config.standardize and not stats:
        raise AuditError(f"{path}: feature_config.standardize is true but the sidecar has no stats")
    return config, (FeatureStats.from_dict(stats) if stats else None)


def _torchscript(path: Path, classes: Sequence[str] | None, device: str) -> SegmentPredictor:
    import torch

    meta = _sidecar(path, classes)
    config, stats = _features(meta, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # jit.load is deprecated, still works
            net = torch.jit.load(str(path), map_location=device).eval()
    except RuntimeError as exc:
        raise AuditError(f"{path}: not a TorchScript file ({str(exc).splitlines()[0]})") from None

    def forward(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return net(torch.from_numpy(x).to(device)).float().cpu().numpy()

    return SegmentPredictor(forward, meta["classes"], name=path.stem, sha256=_sha256(path),
                            feature_config=config, stats=stats, meta=meta)


def _onnx(path: Path, classes: Sequence[str] | None) -> SegmentPredictor:
    try:
        import onnxruntime as ort
    except ImportError:
        raise AuditError(f"{path}: ONNX models need onnxruntime: pip install 'ser-audit[onnx]'") from None
    meta = _sidecar(path, classes)
    config, stats = _features(meta, path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1  # determinism and fair sharing of the CPU
    try:
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise AuditError(f"{path}: cannot load ONNX model ({str(exc).splitlines()[0]})") from None
    inp = sess.get_inputs()[0]
    batch_dim = inp.shape[0] if inp.shape else None
    fixed = batch_dim if isinstance(batch_dim, int) else None

    def forward(x: np.ndarray) -> np.ndarray:
        return sess.run(None, {inp.name: x})[0]

    return SegmentPredictor(forward, meta["classes"], name=path.stem, sha256=_sha256(path),
                            feature_config=config, stats=stats, fixed_batch=fixed, meta=meta)


class _EntryPointPredictor:
    """Wrap ``fn(waveforms) -> (n, n_classes)`` probabilities as a :class:`Predictor`."""

    def __init__(self, spec: str, classes: Sequence[str] | None) -> None:
        module_name, attr = spec.split(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise AuditError(f"entry point {spec!r}: cannot import {module_name!r} ({exc})") from None
        fn = getattr(module, attr, None)
        if not callable(fn):
            raise AuditError(f"entry point {spec!r}: {module_name} has no callable {attr!r}")
        cls = list(classes) if classes else list(getattr(fn, "classes", None) or [])
        if not cls:
            raise AuditError(f"entry point {spec!r}: no class list: set {attr}.classes or pass --classes")
        self._fn, self.classes, self.name, self.fold = fn, cls, spec, None
        self.meta = {"entry_point": spec}
        self.feature_config = None
        self.precision = "fp32"  # the function runs as it is written
        src = getattr(module, "__file__", None)
        # The function's code identifies the model: hash its module's source with its name.
        digest = hashlib.sha256(spec.encode())
        if src and Path(src).is_file():
            digest.update(Path(src).read_bytes())
        self.sha256 = digest.hexdigest()

    def predict_proba(self, waveforms: Sequence[np.ndarray], *, batch_size: int | None = None) -> np.ndarray:
        out = np.asarray(self._fn(list(waveforms)), dtype=np.float32)
        if out.shape != (len(waveforms), len(self.classes)):
            raise AuditError(f"entry point {self.name!r} returned shape {out.shape}, expected "
                             f"({len(waveforms)}, {len(self.classes)})")
        return out


def _checkpoint(path: Path, device: str, precision: str = "fp32") -> Any:
    import model
    from model.smile import is_smile_checkpoint, load_smile

    if is_smile_checkpoint(path):  # an openSMILE baseline (sidecar kind "smile"): numpy, any device
        return load_smile(path)
    try:
        return model.load_checkpoint(path, device=device, precision=precision)
    except FileNotFoundError:
        raise AuditError(f"{path}: checkpoint not found") from None


def _load_hf(text: str, **kw: Any) -> Any:
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise AuditError(f"hf:{text}: Hugging Face models need transformers: "
                         "pip install 'ser-audit[hf]'") from None
    from audit.models._hf import load_hf

    return load_hf(text, **kw)


def _load_speechbrain(text: str, **kw: Any) -> Any:
    try:
        import speechbrain  # noqa: F401
    except ImportError:
        raise AuditError(f"speechbrain:{text}: SpeechBrain models need speechbrain: "
                         "pip install 'ser-audit[speechbrain]'") from None
    from audit.models._speechbrain import load_speechbrain

    return load_speechbrain(text, **kw)


_FOLDER_ADAPTERS = {"hf": ("huggingface", _load_hf), "speechbrain": ("speechbrain", _load_speechbrain)}


def load_model(source: str | Path, *, classes: Sequence[str] | None = None,
               device: str = "cpu", precision: str = "fp32") -> ModelSet:
    """Load one model source (folder, checkpoint, TorchScript, ONNX, ``pkg.module:fn``,
    ``hf:FOLDER`` or ``speechbrain:FOLDER``).

    ``precision`` applies to our checkpoints and the ``hf:`` / ``speechbrain:`` folders
    (``model.precision``); the other kinds run as they were exported."""
    text = str(source)
    scheme, _, rest = text.partition(":")
    if scheme in _FOLDER_ADAPTERS and rest:
        kind, loader = _FOLDER_ADAPTERS[scheme]
        pred = check_predictor(loader(rest, device=str(device), classes=classes, precision=precision), text)
        return ModelSet(pred.name, text, kind, {None: pred})
    path = Path(text)
    if not path.exists() and _ENTRY.match(text):
        return ModelSet(text.split(":")[-1], text, "entrypoint",
                        {None: check_predictor(_EntryPointPredictor(text, classes), text)})
    if not path.exists():
        raise AuditError(f"{path}: model not found (expected a checkpoint folder, a .safetensors/"
                         ".json checkpoint, .pt/.ts TorchScript, .onnx, or pkg.module:fn)")
    if path.is_dir():
        sidecars = sorted(path.glob("fold*.json"), key=lambda p: (len(p.stem), p.stem))
        sidecars = [p for p in sidecars if re.fullmatch(r"fold\d+", p.stem)]
        if not sidecars:
            raise AuditError(f"{path}: no fold*.json checkpoints in this folder")
        preds: dict[int | None, Predictor] = {}
        claimed: dict[int, str] = {}
        for sc in sidecars:
            pred = _checkpoint(sc, device, precision)
            fold = _fold_claim(sc, pred.fold, claimed)
            preds[fold] = pred
        ms = ModelSet(path.name, str(path), "checkpoints", preds)
    elif path.suffix in (".safetensors", ".json"):
        ms = ModelSet(path.stem, str(path), "checkpoint", {None: _checkpoint(path, device, precision)})
    elif path.suffix in _SCRIPT_EXT:
        ms = ModelSet(path.stem, str(path), "torchscript", {None: _torchscript(path, classes, device)})
    elif path.suffix == ".onnx":
        ms = ModelSet(path.stem, str(path), "onnx", {None: _onnx(path, classes)})
    else:
        raise AuditError(f"{path}: unknown model file type {path.suffix!r}")
    if len({tuple(p.classes) for p in ms.predictors.values()}) > 1:
        raise AuditError(f"{path}: fold checkpoints disagree on the class list")
    for pred in ms.predictors.values():
        check_predictor(pred, str(path))
    return ms


def _fold_claim(sidecar: Path, fold: Any, claimed: dict[int, str]) -> int:
    """The fold ``fold{k}.json`` evaluates: its name and its sidecar's ``fold`` must agree, and no
    two files may claim one fold (a copied sidecar would otherwise silently replace a fold)."""
    named = int(sidecar.stem[4:])
    if fold is not None and int(fold) != named:
        raise AuditError(f"{sidecar}: the sidecar says fold {fold} but the file is named fold "
                         f"{named}; a copied or renamed checkpoint? (rename it fold{fold}.* or "
                         "remove it)")
    if named in claimed:
        raise AuditError(f"{sidecar.parent}: fold {named} is claimed by both {claimed[named]} and "
                         f"{sidecar.name}; keep one of them")
    claimed[named] = sidecar.name
    return named


def load_models(paths: Sequence[str | Path], *, classes: Sequence[str] | None = None,
                device: str = "cpu", precision: str = "fp32") -> list[ModelSet]:
    """Load several model sources; names are made unique (``name``, ``name-2`` ...)."""
    if not paths:
        raise AuditError("no models given (--models DIR|FILE|pkg.module:fn ...)")
    out: list[ModelSet] = []
    for src in paths:
        ms = load_model(src, classes=classes, device=device, precision=precision)
        base, n = ms.name, 2
        while ms.name in {m.name for m in out}:
            ms.name, n = f"{base}-{n}", n + 1
        out.append(ms)
    return out


def check_classes(model_set: ModelSet, emotions: Sequence[str]) -> None:
    """Raise :class:`AuditError` unless the model can name every emotion in the data."""
    missing = sorted(set(emotions) - set(model_set.classes))
    if missing:
        raise AuditError(f"model {model_set.name!r} ({model_set.source}): classes "
                         f"{model_set.classes} do not match the data: no class for {missing}")
