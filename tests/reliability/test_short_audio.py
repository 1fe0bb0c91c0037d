"""Issue 33, defect 1: a file too short for the network (<= 256 samples at 16 kHz for the MFCC
front end) is skipped with its reason, never a traceback, for every model family; ``audit data
info --check`` flags it. (The waveform adapters, hf: and speechbrain:, are in
tests/models/test_short_audio_adapters.py.)"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from _reliability_helpers import CLASSES, FAST, cli


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def _network(name: str, tmp_path_factory):
    """(network, feature config) of registered variant ``name``, as training builds them."""
    from model import FeatureConfig, create_model
    from model.streams import network_features

    features = FeatureConfig()
    if name == "ifn_ssl":
        transformers = pytest.importorskip("transformers")
        folder = tmp_path_factory.mktemp("w2v2")
        torch.manual_seed(0)
        transformers.Wav2Vec2Model(transformers.Wav2Vec2Config(
            hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
            conv_dim=(8,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        )).save_pretrained(folder)
        features = FeatureConfig(ssl_model=str(folder))
    probe = create_model(name, len(CLASSES))
    features, overrides = network_features(features, probe.config, name=name)
    return create_model(name, len(CLASSES), **overrides).eval(), features


def _model_names():
    from model import list_models

    return list_models()


@pytest.mark.parametrize("name", _model_names())
def test_every_network_family_states_its_minimum_and_refuses_below_it(name, tmp_path_factory):
    from model import ModelError
    from model.predict import Predictor
    from model.streams import StreamExtractor

    net, features = _network(name, tmp_path_factory)
    pred = Predictor(net, CLASSES, features,
                     feature_stats=None)
    m = pred.min_samples
    # the reference: what torch's own feature pipeline accepts (reflect padding of centred frames)
    extractor = StreamExtractor(features)
    with torch.no_grad():
        extractor(torch.from_numpy(_noise(m)))
        with pytest.raises(RuntimeError):
            extractor(torch.from_numpy(_noise(m - 1)))
    probs = pred.predict_proba([_noise(m)])
    assert probs.shape == (1, len(CLASSES)) and np.isfinite(probs).all()
    with pytest.raises(ModelError, match=rf"waveform 1: {m - 1} samples, too short.*at least {m}"):
        pred.predict_proba([_noise(4000), _noise(m - 1)])


def test_segment_networks_refuse_short_input(tmp_path):
    """TorchScript (and ONNX, the same SegmentPredictor) take MFCC segments: the same minimum."""
    from audit.models import load_model
    from model import create_model

    torch.manual_seed(0)
    net = create_model("macnn", len(CLASSES), n_heads=1, hidden=4).eval()
    path = tmp_path / "m.pt"
    torch.jit.trace(net, torch.zeros(2, 1, 39, 200)).save(str(path))
    (tmp_path / "m.pt.json").write_text('{"classes": ["angry", "happy", "neutral", "sad"]}')
    pred = load_model(path).predictors[None]
    assert pred.min_samples == 257
    assert pred.predict_proba([_noise(257)]).shape == (1, 4)
    with pytest.raises(Exception, match=r"256 samples, too short") as err:
        pred.predict_proba([_noise(256)])
    assert not isinstance(err.value, RuntimeError)


def _short_corpus(corpus: Path, tmp_path: Path) -> Path:
    """The test corpus plus four files of one fold-0 speaker: 256 and 257 samples at 16 kHz,
    768 and 771 at 48 kHz (256 and 257 once resampled)."""
    from audit.data import read_manifest, write_manifest

    df = read_manifest(corpus)
    base = df[df["fold"] == 0].iloc[0]
    rows = []
    for name, n, sr in (("short256", 256, 16000), ("ok257", 257, 16000),
                        ("short768at48k", 768, 48000), ("ok771at48k", 771, 48000)):
        path = tmp_path / f"{name}.wav"
        sf.write(str(path), _noise(n, seed=n), sr, subtype="PCM_16")
        rows.append({**base.to_dict(), "utt_id": name, "path": str(path),
                     "duration_s": n / sr, "sample_rate": sr})
    return write_manifest(pd.concat([df, pd.DataFrame(rows)], ignore_index=True),
                          tmp_path / "manifest.csv")


def test_audit_skips_short_files_with_their_reason(corpus, fold_models, tmp_path, capsys):
    data = _short_corpus(corpus, tmp_path)
    out = tmp_path / "run"
    code, _, err = cli(capsys, "run", "noise", "--snr", "0", "--data", str(data), "--models",
                       str(fold_models), "--out", str(out), "--no-report", "--no-cache", *FAST)
    assert code == 0, err
    preds = pd.read_csv(out / "predictions.csv")
    assert set(preds["utt_id"]) >= {"ok257", "ok771at48k"}
    assert not set(preds["utt_id"]) & {"short256", "short768at48k"}
    problems = pd.read_csv(out / "problems.csv", keep_default_na=False)
    short = problems[problems["utt_id"].str.startswith("short")]
    assert sorted(short["utt_id"]) == ["short256", "short768at48k"]  # one row each
    for row in short.itertuples():
        assert row.stage == "predict" and row.model == "macnn" and row.path.endswith(".wav")
        assert "256 samples at 16 kHz" in row.problem and "at least 257" in row.problem


def test_data_info_check_flags_what_the_audit_refuses(corpus, tmp_path, capsys):
    data = _short_corpus(corpus, tmp_path)
    code, _, err = cli(capsys, "data", "info", str(data), "--check")
    assert code == 2 and "short256" in err and "too short" in err and "--skip-bad" in err, err
    assert len(err.strip().splitlines()) == 1
    code, out, err = cli(capsys, "data", "info", str(data), "--check", "--skip-bad",
                         "--problems", str(tmp_path / "problems.csv"))
    assert code == 0, err
    problems = pd.read_csv(tmp_path / "problems.csv")
    assert sorted(problems["utt_id"]) == ["short256", "short768at48k"]
    assert problems["problem"].str.contains("256 samples at 16 kHz").all()
    assert "problems: 2" in out


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
def test_resampled_length_is_what_resample_returns(rate):
    """The engine judges a file's length from its header: the formula must match torchaudio."""
    from audit.data import resample, resampled_length

    for n in (1, 255, 256, 257, 767, 768, 769, 771, 12345):
        assert len(resample(_noise(n), rate)) == resampled_length(n, rate), (n, rate)


def test_a_seed_ensemble_needs_what_its_longest_member_needs():
    """Members with 512- and 1024-point frames: the ensemble takes 513 samples, not 257."""
    from model import EnsemblePredictor, FeatureConfig, ModelError, create_model
    from model.predict import Predictor

    members = []
    for n_fft in (512, 1024):
        torch.manual_seed(n_fft)
        net = create_model("macnn", len(CLASSES), n_heads=1, hidden=4).eval()
        members.append(Predictor(net, CLASSES, FeatureConfig(n_fft=n_fft), sha256=str(n_fft)))
    ens = EnsemblePredictor(members, {"name": "ens"}, name="ens")
    assert [m.min_samples for m in members] == [257, 513] and ens.min_samples == 513
    assert np.isfinite(ens.predict_proba([_noise(513)])).all()
    with pytest.raises(ModelError, match="512 samples, too short"):
        ens.predict_proba([_noise(512)])
