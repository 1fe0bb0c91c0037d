import csv
import json
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from model import AAMConfig, FeatureConfig, ModelError, TrainConfig, train_model
from model.checkpoint import checkpoint_matches

FAST = dict(epochs=1, batch_size=8, progress=False, device="cpu")


def _train(tmp_path, make_tones, name, **overrides):
    waves, labels = make_tones(6)
    cfg = TrainConfig(**{**FAST, **overrides})
    return train_model(waves, labels, ["high", "low"], cfg, out_stem=tmp_path / name,
                       metadata={"fold": 2, "training_speakers": ["s1", "s2"], "manifest_hash": "abc",
                                 "data_source": "/data"})


def test_two_runs_with_one_seed_give_identical_weights(tmp_path, make_tones):
    a = load_file(str(_train(tmp_path, make_tones, "a")))
    b = load_file(str(_train(tmp_path, make_tones, "b")))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = load_file(str(_train(tmp_path, make_tones, "c", seed=1)))
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_training_does_not_touch_global_random_state(tmp_path, make_tones):
    torch.manual_seed(123)
    before = torch.get_rng_state()
    _train(tmp_path, make_tones, "g", epochs=1)
    assert torch.equal(before, torch.get_rng_state())
    assert not torch.are_deterministic_algorithms_enabled()


def test_log_and_sidecar(tmp_path, make_tones):
    # device auto: the sidecar must name the device it resolved to, not the option
    weights = _train(tmp_path, make_tones, "fold2", epochs=2, features=FeatureConfig(standardize=True),
                     device="auto")
    rows = list(csv.DictReader(open(tmp_path / "fold2.log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert set(rows[0]) == {"epoch", "lr", "loss", "train_acc", "aam_pass_rate", "beta_att2", "beta_att3",
                            "beta_att4", "beta_att5", "seconds"}
    assert 0 <= float(rows[0]["aam_pass_rate"]) <= 1
    assert float(rows[1]["beta_att2"]) != 0.5  # beta is learned
    doc = json.loads((tmp_path / "fold2.json").read_text())
    assert doc["name"] == "macnn_icasa" and doc["classes"] == ["high", "low"]
    assert doc["fold"] == 2 and doc["training_speakers"] == ["s1", "s2"]
    assert doc["manifest_hash"] == "abc" and doc["data_source"] == "/data"
    assert doc["seed"] == 987654 and doc["epochs"] == 2
    assert doc["model_config"]["attention"] == "icasa" and doc["model_config"]["num_classes"] == 2
    assert len(doc["feature_stats"]["mean"]) == 39 and doc["feature_config"]["standardize"] is True
    assert {"loss", "train_acc", "beta_att5"} <= set(doc["final_metrics"])
    assert doc["weights_file"] == weights.name
    assert doc["train_config"]["aam"]["threshold"] == 0.7
    versions = doc["versions"]
    assert versions.pop("python") == platform.python_version()
    assert {"torch", "torchaudio", "numpy"} <= set(versions)
    for name, version in versions.items():
        assert version == metadata.version(name), name
    head = _head_commit()
    if head is None:
        assert doc["git_commit"] is None
    else:
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", doc["git_commit"])
        assert doc["git_commit"].split("-")[0] == head
    assert doc["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert doc["wall_time_s"] > 0
    assert all(float(r["seconds"]) > 0 for r in rows)


def _head_commit() -> str | None:
    """HEAD of this checkout, asked of git directly; None outside a git checkout."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def test_git_commit_is_null_outside_a_git_checkout(monkeypatch, tmp_path):
    from model.checkpoint import git_commit

    monkeypatch.setenv("GIT_DIR", str(tmp_path / "not-a-repository"))
    assert git_commit() is None


@pytest.mark.parametrize("aug", ["none", "aam_nodiff", "aam_random", "mixup", "aam+mixup"])
def test_every_augmentation_trains(tmp_path, make_tones, aug):
    _train(tmp_path, make_tones, "m", aug=aug, model="macnn")
    row = next(csv.DictReader(open(tmp_path / "m.log.csv")))
    assert float(row["loss"]) > 0
    assert (row["aam_pass_rate"] == "") == (aug in ("none", "mixup"))


def test_effective_aam_ablations():
    assert TrainConfig(aug="none").effective_aam() is None
    assert TrainConfig(aug="aam_nodiff").effective_aam().weighting == "beta"
    assert TrainConfig(aug="aam_nodiff", aam=AAMConfig(weighting="half")).effective_aam().weighting == "half"
    assert TrainConfig(aug="aam_random").effective_aam().pairing == "random"
    cfg = TrainConfig(aug="aam+mixup", epochs=3)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_checkpoint_matches(tmp_path, make_tones):
    _train(tmp_path, make_tones, "k")
    cfg = TrainConfig(**FAST).to_dict()
    assert checkpoint_matches(tmp_path / "k", cfg, "abc") is True
    assert checkpoint_matches(tmp_path / "k", {**cfg, "device": "cuda"}, "abc") is True
    assert checkpoint_matches(tmp_path / "k", {**cfg, "epochs": 5}, "abc") is False
    assert checkpoint_matches(tmp_path / "k", cfg, "other") is False
    assert checkpoint_matches(tmp_path / "nothing", cfg, "abc") is None


def test_bad_inputs_are_one_line_errors(tmp_path, make_tones):
    waves, labels = make_tones(4)
    with pytest.raises(ModelError, match=r"labels \['low'\] are not in classes"):
        train_model(waves, labels, ["high", "mid"], TrainConfig(**FAST), out_stem=tmp_path / "x")
    with pytest.raises(ModelError, match="4 waveforms but 3 labels"):
        train_model(waves, labels[:3], ["high", "low"], TrainConfig(**FAST), out_stem=tmp_path / "x")
    with pytest.raises(ModelError, match="unknown model"):
        train_model(waves, labels, ["high", "low"], TrainConfig(model="zzz", **FAST), out_stem=tmp_path / "x")
    with pytest.raises(ModelError, match="aug='cutmix'"):
        TrainConfig(aug="cutmix")
    with pytest.raises(ModelError, match="epochs=0"):
        TrainConfig(epochs=0)
    with pytest.raises(ModelError, match="device='tpu'"):
        train_model(waves, labels, ["high", "low"], TrainConfig(**{**FAST, "device": "tpu"}), out_stem=tmp_path / "x")


def test_time_budget_keeps_last_completed_epoch(tmp_path, make_tones):
    _train(tmp_path, make_tones, "tb", model="macnn", aug="none", epochs=4, time_budget_s=1e-3)
    rows = list(csv.DictReader(open(tmp_path / "tb.log.csv")))
    doc = json.loads((tmp_path / "tb.json").read_text())
    assert len(rows) == 1  # the first epoch always runs; the next would overrun
    assert doc["epochs"] == 1 and doc["epochs_requested"] == 4 and doc["stopped_early"] is True
    with pytest.raises(ModelError, match="time_budget_s=0"):
        TrainConfig(time_budget_s=0)


def test_bn_recalibration_sets_exact_training_statistics(tmp_path, make_tones):
    from model import load_checkpoint
    from model.train import build_training_set

    weights = _train(tmp_path, make_tones, "bn", model="macnn", aug="none", bn_recalibrate=True)
    net = load_checkpoint(weights).model
    waves, labels = make_tones(6)
    x, _ = build_training_set(waves, [0] * 6, FeatureConfig())
    assert x.shape[0] <= 64  # one recalibration batch: running stats = that batch's statistics
    seen = {}
    net.conv1a[1].register_forward_hook(lambda m, inp, out: seen.setdefault("x", inp[0]))
    with torch.no_grad():
        net.train()(x)
    torch.testing.assert_close(net.conv1a[1].running_mean, seen["x"].mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-4)
