"""IFN through the shared trainer, checkpoint format and predictor (tiny data, one epoch)."""

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from model import ModelError, TrainConfig, load_checkpoint, train_model
from model.features import segment
from model.streams import StreamExtractor

FAST = dict(epochs=1, batch_size=8, progress=False, device="cpu")
IFN_STREAMS = ["mfcc", "spectral", "prosodic"]


@pytest.fixture(scope="module")
def tones():
    """Six 1.2-2 s waveforms: ``low`` = 200 Hz harmonic tone, ``high`` = 1.5 kHz, plus noise."""
    rng = np.random.default_rng(4)
    waves, labels = [], []
    for i in range(6):
        label = ("low", "high")[i % 2]
        t = np.arange(int(16000 * rng.uniform(1.2, 2.0))) / 16000
        f = 200.0 if label == "low" else 1500.0
        wav = 0.3 * np.sin(2 * np.pi * f * t) + 0.1 * np.sin(4 * np.pi * f * t) + 0.01 * rng.standard_normal(t.size)
        waves.append(wav.astype(np.float32))
        labels.append(label)
    return waves, labels


@pytest.fixture(scope="module")
def ifn_ckpt(tmp_path_factory, tones):
    waves, labels = tones
    out = tmp_path_factory.mktemp("ifn") / "fold0"
    return train_model(waves, labels, ["high", "low"], TrainConfig(model="ifn", **FAST), out_stem=out,
                       metadata={"fold": 0, "training_speakers": ["s1"]})


def test_sidecar_names_family_streams_and_fitted_stats(ifn_ckpt):
    doc = json.loads(ifn_ckpt.with_suffix(".json").read_text())
    assert doc["family"] == "ifn" and doc["name"] == "ifn"
    assert doc["feature_config"]["streams"] == IFN_STREAMS
    assert doc["feature_config"]["standardize"] is True  # ifn-spec: every stream standardised
    assert doc["model_config"]["stream_dims"] == [39, 69, 6]
    assert len(doc["feature_stats"]["mean"]) == len(doc["feature_stats"]["std"]) == 114
    assert "streams" not in doc["train_config"]["features"]  # what was asked (defaults), not what ran
    header = ifn_ckpt.with_name("fold0.log.csv").read_text().splitlines()[0]
    assert header == "epoch,lr,loss,train_acc,aam_pass_rate,seconds"  # no ICASA betas in IFN


def test_predictor_reproduces_the_network_on_its_streams(ifn_ckpt, tones):
    waves, _ = tones
    pred = load_checkpoint(ifn_ckpt)
    assert pred.feature_config.streams == tuple(IFN_STREAMS)
    proba = pred.predict_proba(waves[:3])
    assert proba.shape == (3, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose(pred.predict_proba(waves[:3], batch_size=1), proba, rtol=0, atol=1e-5)
    # By hand: stacked streams -> training-fold standardisation -> test-stride segments -> mean softmax.
    ext, stats = StreamExtractor(pred.feature_config), pred.feature_stats
    with torch.no_grad():
        for i, wav in enumerate(waves[:3]):
            feats = stats.apply(ext(torch.from_numpy(wav)))
            segs = segment(feats, pred.feature_config.test_stride)  # (n, 1, 114, 200)
            expected = torch.softmax(pred.model(segs), dim=1).mean(dim=0).double().numpy()
            np.testing.assert_allclose(proba[i], expected, rtol=0, atol=1e-5)


def test_same_seed_same_weights(ifn_ckpt, tones, tmp_path):
    waves, labels = tones
    again = train_model(waves, labels, ["high", "low"], TrainConfig(model="ifn", **FAST),
                        out_stem=tmp_path / "again", metadata={"fold": 0, "training_speakers": ["s1"]})
    a, b = load_file(str(ifn_ckpt)), load_file(str(again))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_sidecar_whose_streams_do_not_fit_the_network_is_refused(ifn_ckpt, tmp_path):
    doc = json.loads(ifn_ckpt.with_suffix(".json").read_text())
    (tmp_path / "fold0.safetensors").write_bytes(ifn_ckpt.read_bytes())
    stats39 = {k: v[:39] for k, v in doc["feature_stats"].items()}  # consistent with mfcc alone
    (tmp_path / "fold0.json").write_text(json.dumps({**doc, "feature_stats": stats39, "feature_config": {
        **doc["feature_config"], "streams": ["mfcc"]}}))
    with pytest.raises(ModelError, match=r"feature streams \['mfcc'\] give 39 rows but the network reads 114"):
        load_checkpoint(tmp_path / "fold0.json")
    legacy = {k: v for k, v in doc.items() if k != "family"}  # read as MACNN: its config does not fit
    (tmp_path / "fold0.json").write_text(json.dumps(legacy))
    with pytest.raises(ModelError, match="unknown key"):
        load_checkpoint(tmp_path / "fold0.json")


def test_ifn_ssl_without_a_folder_is_a_clear_error(tones, tmp_path):
    waves, labels = tones
    with pytest.raises(ModelError, match="ssl stream.*--ssl-model"):
        train_model(waves, labels, ["high", "low"], TrainConfig(model="ifn_ssl", **FAST), out_stem=tmp_path / "x")


def test_aam_similarity_is_taken_on_the_raw_streams(ifn_ckpt, tones):
    """IFN trains on standardised streams; AAM's raw similarity undoes that: the candidate mask
    on the standardised batch (with the checkpoint's stats to invert) is the mask of the raw
    streams, computed independently (scikit-learn's cosine similarity); without the inversion
    other pairs pass. The training log's pass rate (read by column name) shows AAM mixed."""
    import csv

    from sklearn.metrics.pairwise import cosine_similarity

    from model import FeatureConfig
    from model.aam import candidate_mask
    from model.features import FeatureStats

    waves, _ = tones
    doc = json.loads(ifn_ckpt.with_suffix(".json").read_text())
    stats = FeatureStats.from_dict(doc["feature_stats"])
    extractor = StreamExtractor(FeatureConfig.from_dict(doc["feature_config"]))
    with torch.no_grad():
        raw = torch.cat([segment(extractor(torch.from_numpy(w)), 100) for w in waves])  # (B, 1, 114, 200)
    standardised = stats.apply(raw[:, 0])[:, None]
    reference = cosine_similarity(raw.reshape(len(raw), -1).double().numpy()) > 0.7
    np.fill_diagonal(reference, False)
    mask = candidate_mask(standardised, 0.7, unstandardize=stats.invert).numpy()
    assert len(raw) >= 6 and reference.sum() > len(raw)  # raw streams: many pairs pass
    np.testing.assert_array_equal(mask, reference)
    assert not np.array_equal(candidate_mask(standardised, 0.7).numpy(), reference)  # the inversion matters
    with ifn_ckpt.with_name("fold0.log.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert float(rows[0]["aam_pass_rate"]) > 0.5