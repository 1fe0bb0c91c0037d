"""The model seam: every adapter's predictor satisfies ``audit.models.Predictor`` (checked
members and types), ``check_predictor`` refuses one that does not, and a composite made of plain
attributes (an ensemble averaging two fold models) runs through the engine like any model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audit.errors import AuditError
from audit.models import (PRECISIONS, ModelSet, Predictor, cache_identity, check_predictor,
                          feature_key, load_model)

from _engine_helpers import CLASSES, export_onnx, export_torchscript, save_untrained


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return save_untrained(tmp_path_factory.mktemp("one") / "model", fold=None, seed=7)


def _sidecar(path: Path) -> None:
    from model import FeatureConfig

    (path.parent / (path.name + ".json")).write_text(json.dumps(
        {"classes": CLASSES, "feature_config": FeatureConfig().to_dict()}))


def _torchscript(checkpoint, tmp_path) -> str:
    path = export_torchscript(load_model(str(checkpoint)).predictors[None].model.eval(), tmp_path / "m.pt")
    _sidecar(path)
    return str(path)


def _onnx(checkpoint, tmp_path) -> str:
    pytest.importorskip("onnxruntime")
    path = export_onnx(load_model(str(checkpoint)).predictors[None].model.eval(), tmp_path / "m.onnx")
    _sidecar(path)
    return str(path)


def _entry(checkpoint, tmp_path) -> str:
    (tmp_path / "proto_ep.py").write_text("import numpy as np\n"
                                          "def fn(waveforms):\n    return np.full((len(waveforms), 4), 0.25)\n"
                                          f"fn.classes = {CLASSES!r}\n")
    return "proto_ep:fn"


def _hf(checkpoint, tmp_path) -> str:
    pytest.importorskip("transformers")
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
    from _hf_helpers import tiny_wav2vec2

    return "hf:" + str(tiny_wav2vec2(tmp_path / "w2v2"))


def _folder(checkpoint, tmp_path) -> str:
    root = tmp_path / "folds"
    for k in (0, 1):
        save_untrained(root / f"fold{k}", fold=k, seed=20 + k)
    return str(root)


SOURCES = {"checkpoint": lambda c, t: str(c), "folder": _folder, "torchscript": _torchscript,
           "onnx": _onnx, "entrypoint": _entry, "hf": _hf}


@pytest.mark.parametrize("kind", sorted(SOURCES))
def test_every_adapter_satisfies_the_protocol(kind, checkpoint, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    ms = load_model(SOURCES[kind](checkpoint, tmp_path))
    assert ms.predictors
    for fold, pred in ms.predictors.items():
        assert isinstance(pred, Predictor)
        assert check_predictor(pred, kind) is pred
        assert isinstance(pred.name, str) and pred.fold == fold
        assert pred.precision in PRECISIONS and isinstance(pred.meta, dict)
        assert len(pred.sha256) == 64 and int(pred.sha256, 16) >= 0
        assert cache_identity(pred) == (pred.sha256, feature_key(pred))
        probs = pred.predict_proba([np.zeros(16000, np.float32) + 0.01 * np.sin(np.arange(16000))])
        assert probs.shape == (1, len(pred.classes))
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_the_label_map_projection_satisfies_the_protocol(checkpoint):
    from audit.data import load_label_map
    from audit.workflows import MappedPredictor

    inner = load_model(str(checkpoint)).predictors[None]
    mapping = load_label_map("synonyms").resolve(inner.classes, ["angry", "happy", "neutral", "sad"])
    pred = MappedPredictor(inner, mapping)
    assert isinstance(pred, Predictor) and check_predictor(pred, "mapped") is pred
    assert pred.sha256 != inner.sha256 and pred.precision == inner.precision


class _Bare:
    name, classes, fold, meta, sha256, feature_config, precision = "m", ["a", "b"], None, {}, "f" * 64, None, "fp32"

    def predict_proba(self, waveforms, *, batch_size=None):
        return np.full((len(waveforms), 2), 0.5)


@pytest.mark.parametrize("change, needle", [
    ({"precision": "int8"}, "precision 'int8' is not one of fp32, bf16, fp16"),
    ({"classes": []}, "classes must be a non-empty list"),
    ({"classes": ["a", "a"]}, "classes repeat a name"),
    ({"sha256": ""}, "no cache identity"),
    ({"fold": "1"}, "fold must be an integer or None"),
    ({"meta": None}, "meta must be a dict"),
    ({"predict_proba": 3}, "predict_proba is not callable"),
])
def test_check_predictor_refuses_a_broken_predictor(change, needle):
    pred = _Bare()
    for k, v in change.items():
        setattr(pred, k, v)
    with pytest.raises(AuditError, match=f"^m: {needle}"):
        check_predictor(pred, "m")


def test_a_predictor_without_a_member_is_named():
    class NoPrecision:
        name, classes, fold, meta, sha256, feature_config = "m", ["a"], None, {}, "f", None

        def predict_proba(self, waveforms, *, batch_size=None):
            return np.ones((len(waveforms), 1))

    assert not isinstance(NoPrecision(), Predictor)
    with pytest.raises(AuditError, match="^m: the model lacks precision"):
        check_predictor(NoPrecision(), "m")


def test_feature_key_keeps_the_historic_fp32_key():
    pred = _Bare()
    assert feature_key(pred) == "none"
    pred.precision = "bf16"
    assert feature_key(pred) == "none|precision=bf16"

    class Cfg:
        def to_dict(self):
            return {"b": 1, "a": 2}

    pred.feature_config, pred.precision = Cfg(), "fp32"
    assert feature_key(pred) == '{"a": 2, "b": 1}'


class _Ensemble:
    """A composite: the mean of its members' probabilities, with plain attributes."""

    def __init__(self, members, fold):
        import hashlib

        self.members, self.fold = members, fold
        self.name, self.classes = "ensemble", list(members[0].classes)
        self.precision, self.feature_config = members[0].precision, None
        self.sha256 = hashlib.sha256(("mean:" + ",".join(m.sha256 for m in members)).encode()).hexdigest()
        self.meta = {"training_speakers": sorted({s for m in members for s in m.meta.get("train_speakers", [])})}

    def predict_proba(self, waveforms, *, batch_size=None):
        return np.mean([m.predict_proba(waveforms) for m in self.members], axis=0)


def test_a_composite_runs_through_the_engine(manifest, fold_models, tmp_path):
    from audit.engine import MemoryCache, evaluate

    single = load_model(str(fold_models))
    twin = load_model(str(fold_models))  # same weights: the mean must equal the single model
    ens = ModelSet("ensemble", "mean of two", "ensemble",
                   {k: check_predictor(_Ensemble([single.predictors[k], twin.predictors[k]], k), "ensemble")
                    for k in single.predictors})
    a = evaluate(manifest, [single], ["awgn:snr_db=10"], seed=1, cache=MemoryCache())
    b = evaluate(manifest, [ens], ["awgn:snr_db=10"], seed=1, cache=MemoryCache())
    probs = [c for c in a.columns if c.startswith("p_")]
    np.testing.assert_allclose(b[probs].to_numpy(float), a[probs].to_numpy(float), atol=1e-6)
    assert (b["prediction"] == a["prediction"]).all() and len(b) == len(manifest) * 2
