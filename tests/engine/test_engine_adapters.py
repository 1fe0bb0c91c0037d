"""Model adapters: TorchScript, ONNX and entry points match the checkpoint they came from."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit.errors import AuditError
from audit.models import load_model

from _engine_helpers import CLASSES, export_onnx, export_torchscript, save_untrained


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return save_untrained(tmp_path_factory.mktemp("one") / "model", fold=None, seed=7,
                          name="macnn_icasa")


@pytest.fixture(scope="module")
def waves():
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    # a short, a 2 s and a longer utterance: one and several segments
    return [(0.3 * np.sin(2 * np.pi * 220 * t[:n]) + 0.05 * rng.standard_normal(n)).astype(np.float32)
            for n in (9000, 32000, 48000)]


def _reference(checkpoint, waves):
    return load_model(str(checkpoint)).predictors[None].predict_proba(waves)


def _sidecar(path, classes=CLASSES):
    from model import FeatureConfig

    (path.parent / (path.name + ".json")).write_text(json.dumps(
        {"classes": classes, "feature_config": FeatureConfig().to_dict()}))


def test_torchscript_matches_checkpoint(checkpoint, waves, tmp_path):
    net = load_model(str(checkpoint)).predictors[None].model.eval()
    path = export_torchscript(net, tmp_path / "m.pt")
    _sidecar(path)
    ms = load_model(str(path))
    assert ms.kind == "torchscript" and ms.classes == CLASSES
    np.testing.assert_allclose(ms.predictors[None].predict_proba(waves),
                               _reference(checkpoint, waves), atol=1e-5)


def test_onnx_matches_checkpoint(checkpoint, waves, tmp_path):
    pytest.importorskip("onnxruntime")
    net = load_model(str(checkpoint)).predictors[None].model.eval()
    path = export_onnx(net, tmp_path / "m.onnx")
    _sidecar(path)
    ms = load_model(str(path))
    assert ms.kind == "onnx"
    np.testing.assert_allclose(ms.predictors[None].predict_proba(waves, batch_size=3),
                               _reference(checkpoint, waves), atol=1e-5)


def test_entry_point_matches_checkpoint(checkpoint, waves, tmp_path, monkeypatch):
    (tmp_path / "ep_mod.py").write_text(
        "from model import load_checkpoint\n"
        f"_P = load_checkpoint({str(checkpoint)!r})\n"
        "def fn(waveforms):\n    return _P.predict_proba(waveforms)\n"
        "fn.classes = _P.classes\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ms = load_model("ep_mod:fn")
    assert ms.kind == "entrypoint" and not ms.per_fold
    np.testing.assert_allclose(ms.predictors[None].predict_proba(waves),
                               _reference(checkpoint, waves), atol=1e-6)


def test_missing_classes_and_bad_sources(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"not onnx")
    with pytest.raises(AuditError, match="no class list"):
        load_model(str(path))
    with pytest.raises(AuditError, match="cannot load ONNX"):
        load_model(str(path), classes=CLASSES)
    with pytest.raises(AuditError, match="model not found"):
        load_model(str(tmp_path / "nothing"))
    with pytest.raises(AuditError, match="cannot import"):
        load_model("no_such_pkg.mod:fn")
    (tmp_path / "bad_ep.py").write_text("import numpy as np\n"
                                        "def fn(w):\n    return np.ones((len(w), 3))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    ms = load_model("bad_ep:fn", classes=CLASSES)
    with pytest.raises(AuditError, match=r"returned shape \(1, 3\), expected \(1, 4\)"):
        ms.predictors[None].predict_proba([np.ones(100, np.float32)])


def test_empty_checkpoint_folder(tmp_path):
    with pytest.raises(AuditError, match="no fold"):
        load_model(str(tmp_path))
