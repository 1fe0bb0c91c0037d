import json
from pathlib import Path

import numpy as np
import pytest
import torch

from model import FeatureConfig, ModelError, Predictor, TrainConfig, create_model, load_checkpoint, train_model


@pytest.fixture
def ckpt(tmp_path, make_tones):
    waves, labels = make_tones(4)
    cfg = TrainConfig(model="macnn_sa", epochs=1, batch_size=8, progress=False, device="cpu")
    weights = train_model(waves, labels, ["high", "low"], cfg, out_stem=tmp_path / "fold0", metadata={"fold": 0})
    return weights, waves


def test_round_trip_same_predictions(ckpt):
    weights, waves = ckpt
    a = load_checkpoint(weights)
    b = load_checkpoint(weights.with_suffix(".json"))
    assert isinstance(a, Predictor) and a.name == "macnn_sa" and a.fold == 0
    assert a.classes == ["high", "low"] and len(a.sha256) == 64
    np.testing.assert_array_equal(a.predict_proba(waves), b.predict_proba(waves))
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k])


def test_pt_state_dict_loads_with_weights_only(ckpt, tmp_path):
    weights, waves = ckpt
    ref = load_checkpoint(weights)
    pt = weights.with_suffix(".pt")
    torch.save(ref.model.state_dict(), pt)
    np.testing.assert_allclose(load_checkpoint(pt).predict_proba(waves), ref.predict_proba(waves), rtol=0, atol=0)


class _Evil:
    """Unpickling this would write a file: a code-running pickle."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, "pwned"))


def test_malicious_pickle_refused_and_not_executed(ckpt, tmp_path):
    weights, _ = ckpt
    target = tmp_path / "pwned.txt"
    evil = weights.with_suffix(".pth")
    torch.save({"conv1a.0.weight": _Evil(target)}, evil)
    # json sidecar is fold0.json (same stem); the pickle must be refused before any code runs
    with pytest.raises(ModelError, match="refused to load a pickle"):
        load_checkpoint(evil)
    assert not target.exists()


def test_bad_checkpoints_give_clear_errors(ckpt, tmp_path):
    weights, _ = ckpt
    with pytest.raises(ModelError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")
    with pytest.raises(ModelError, match="expected a .safetensors"):
        load_checkpoint(tmp_path / "x.bin")
    doc = json.loads(weights.with_suffix(".json").read_text())
    # classes that disagree with the network's outputs
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "fold0.safetensors").write_bytes(weights.read_bytes())
    (bad / "fold0.json").write_text(json.dumps({**doc, "classes": ["a", "b", "c"]}))
    with pytest.raises(ModelError, match="3 classes listed but the model has 2 outputs"):
        load_checkpoint(bad / "fold0.safetensors")
    # weights of another architecture
    (bad / "fold0.json").write_text(json.dumps({**doc, "model_config": {**doc["model_config"], "attention": "se"}}))
    with pytest.raises(ModelError, match="do not match"):
        load_checkpoint(bad / "fold0.safetensors")
    (bad / "fold0.json").write_text(json.dumps({**doc, "model_config": {**doc["model_config"], "hidden": 32}}))
    with pytest.raises(ModelError, match="shapes do not match"):
        load_checkpoint(bad / "fold0.safetensors")
    (bad / "fold0.safetensors").write_bytes(b"garbage")
    (bad / "fold0.json").write_text(json.dumps(doc))
    with pytest.raises(ModelError, match="unreadable safetensors"):
        load_checkpoint(bad / "fold0.safetensors")
    (bad / "fold0.json").write_text("{}")
    with pytest.raises(ModelError, match="not a ser-audit checkpoint sidecar"):
        load_checkpoint(bad / "fold0.safetensors")


def test_predictor_validates_classes():
    with pytest.raises(ModelError, match="3 classes given"):
        Predictor(create_model("macnn", 2), ["a", "b", "c"], FeatureConfig())
