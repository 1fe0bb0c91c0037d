import copy
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


def test_round_trip_equals_the_network_before_saving(tmp_path, make_tones, monkeypatch):
    import model.train as train_module

    saved = {}
    real_save = train_module.save_checkpoint

    def spy(stem, net, sidecar):  # the trainer's network as it is handed to save_checkpoint
        saved["net"] = copy.deepcopy(net).cpu().eval()
        return real_save(stem, net, sidecar)

    monkeypatch.setattr(train_module, "save_checkpoint", spy)
    waves, labels = make_tones(4)
    cfg = TrainConfig(model="macnn_sa", epochs=1, batch_size=8, progress=False, device="cpu",
                      features=FeatureConfig(standardize=True))
    weights = train_model(waves, labels, ["high", "low"], cfg, out_stem=tmp_path / "fold0",
                          metadata={"fold": 0})
    before = saved["net"].state_dict()
    # trained weights and BatchNorm statistics, not the initial ones
    assert any(k.endswith("running_mean") and v.abs().sum() > 0 for k, v in before.items())
    for loaded in (load_checkpoint(weights), load_checkpoint(weights.with_suffix(".json"))):
        assert isinstance(loaded, Predictor) and loaded.name == "macnn_sa" and loaded.fold == 0
        assert loaded.classes == ["high", "low"] and len(loaded.sha256) == 64
        after = loaded.model.state_dict()
        assert after.keys() == before.keys()
        for k, v in before.items():
            assert torch.equal(after[k], v), k
        reference = Predictor(saved["net"], ["high", "low"], loaded.feature_config,
                              feature_stats=loaded.feature_stats)
        np.testing.assert_array_equal(loaded.predict_proba(waves), reference.predict_proba(waves))


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
