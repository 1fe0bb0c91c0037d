"""BatchNorm statistics recomputed after training (model.recalibrate): equal to training with
--bn-recalibrate bit for bit, only BatchNorm buffers change, provenance in the sidecar."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from model import ModelError, TrainConfig, train_model
from model.checkpoint import sha256_file
from model.recalibrate import SIDECAR_KEY, recalibrate_checkpoint

FAST = dict(epochs=2, batch_size=8, progress=False, device="cpu")
META = {"fold": 1, "training_speakers": ["s1", "s2"], "manifest_hash": "abc", "data_source": "/data"}


def _train(tmp_path, waves, labels, stem, **overrides):
    cfg = TrainConfig(**{**FAST, **overrides})
    return train_model(waves, labels, ["high", "low"], cfg, out_stem=tmp_path / stem, metadata=META)


def _is_bn_buffer(key: str) -> bool:
    return key.endswith(("running_mean", "running_var", "num_batches_tracked"))


@pytest.mark.parametrize("name,aug", [("macnn", "none"), ("macnn_icasa", "aam"), ("ifn", "none")])
def test_equals_training_with_bn_recalibrate(tmp_path, make_tones, name, aug):
    waves, labels = make_tones(40)  # more segments than one statistics batch of 64
    plain = _train(tmp_path, waves, labels, "plain", model=name, aug=aug, epochs=1)
    reference = _train(tmp_path, waves, labels, "ref", model=name, aug=aug, epochs=1, bn_recalibrate=True)
    assert json.loads((tmp_path / "plain.json").read_text())["n_train_segments"] > 64
    out = recalibrate_checkpoint(plain, waves, tmp_path / "recal")
    a, b, src = load_file(str(out)), load_file(str(reference)), load_file(str(plain))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:3]
    # the weights are the source's; only BatchNorm statistics moved
    assert all(torch.equal(a[k], src[k]) for k in a if not _is_bn_buffer(k))
    assert any(not torch.equal(a[k], src[k]) for k in a if k.endswith("running_mean"))
    # another batch size gives other statistics: the equality above is not automatic
    other = load_file(str(recalibrate_checkpoint(plain, waves, tmp_path / "b32", batch_size=32)))
    assert any(not torch.equal(other[k], b[k]) for k in b if k.endswith("running_var"))


def test_sidecar_records_what_was_done_and_drops_the_old_held_out_score(tmp_path, make_tones):
    waves, labels = make_tones(6)
    plain = _train(tmp_path, waves, labels, "fold1", model="macnn", aug="none")
    src_doc = json.loads((tmp_path / "fold1.json").read_text())
    src_doc["final_metrics"].update(test_wa=0.5, test_ua=0.4, n_test=10)
    (tmp_path / "fold1.json").write_text(json.dumps(src_doc))
    out = recalibrate_checkpoint(plain, waves, tmp_path / "out" / "fold1", batch_size=16,
                                 provenance={"manifest_hash": "abc"})
    doc = json.loads(out.with_suffix(".json").read_text())
    rec = doc[SIDECAR_KEY]
    assert rec["source_weights_sha256"] == sha256_file(plain) != doc["weights_sha256"]
    assert rec["source_final_metrics"]["test_wa"] == 0.5 and "test_wa" not in doc["final_metrics"]
    assert rec["n_utterances"] == 6 and rec["n_segments"] > 0 and rec["batch_size"] == 16
    assert rec["threads"] == 1 and rec["manifest_hash"] == "abc"
    assert doc["fold"] == 1 and doc["training_speakers"] == ["s1", "s2"] and doc["epochs"] == 2
    assert doc["weights_sha256"] == sha256_file(out)
    # a rerun writes the same bytes
    again = recalibrate_checkpoint(plain, waves, tmp_path / "again" / "fold1", batch_size=16,
                                   provenance={"manifest_hash": "abc"})
    assert sha256_file(again) == sha256_file(out)


def test_refuses_what_cannot_or_need_not_be_recalibrated(tmp_path, make_tones):
    waves, labels = make_tones(6)
    done = _train(tmp_path, waves, labels, "done", model="macnn", aug="none", bn_recalibrate=True)
    with pytest.raises(ModelError, match="already recomputed"):
        recalibrate_checkpoint(done, waves, tmp_path / "x")
    plain = _train(tmp_path, waves, labels, "plain", model="macnn", aug="none")
    once = recalibrate_checkpoint(plain, waves, tmp_path / "once")
    with pytest.raises(ModelError, match="already recomputed"):
        recalibrate_checkpoint(once, waves, tmp_path / "twice")
    with pytest.raises(ModelError, match="no training waveforms"):
        recalibrate_checkpoint(plain, [], tmp_path / "y")
    for bad in (0, 1):
        with pytest.raises(ModelError, match="at least 2"):
            recalibrate_checkpoint(plain, waves, tmp_path / "z", batch_size=bad)
    with pytest.raises(ModelError, match="not the utterances that trained it"):
        recalibrate_checkpoint(plain, waves[:-1], tmp_path / "w", expect_segments=json.loads(
            (tmp_path / "plain.json").read_text())["n_train_segments"])
    assert not list(tmp_path.glob("[xyzw].*"))  # nothing written by a refused call
