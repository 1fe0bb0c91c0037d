"""Feature streams shared between models inside ``shared_features()``: each stream of a waveform
is computed once, and every prediction is byte-identical to the one computed without a share."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from model import FeatureConfig, FeatureStats, Predictor, create_model, shared_features
from model.feature_share import active_share
from model.streams import StreamExtractor, network_features

CLASSES = ["angry", "happy", "neutral", "sad"]


def _waves(n=5, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(16000 * 3) / 16000
    return [(0.2 * np.sin(2 * np.pi * (120 + 40 * i) * t) + 0.02 * rng.standard_normal(t.size))
            .astype(np.float32)[: 16000 * 2 + 3000 * i] for i in range(n)]


def _macnn(seed, config=None):
    torch.manual_seed(seed)
    return Predictor(create_model("macnn", len(CLASSES)), CLASSES, config or FeatureConfig())


def _ifn(seed):
    torch.manual_seed(seed)
    net = create_model("ifn", len(CLASSES))
    config, _ = network_features(FeatureConfig(), net.config)
    rows = StreamExtractor(config).n_features
    rng = np.random.default_rng(seed)
    stats = FeatureStats(tuple(rng.normal(0, 3, rows)), tuple(rng.uniform(0.5, 4, rows)))
    return Predictor(net, CLASSES, config, feature_stats=stats)


def _counting(monkeypatch):
    """Count calls of every stream module's forward."""
    from model.features import MFCCExtractor
    from model.streams import ProsodicStream, SpectralStream

    calls = {"mfcc": 0, "spectral": 0, "prosodic": 0}
    for name, cls in (("mfcc", MFCCExtractor), ("spectral", SpectralStream), ("prosodic", ProsodicStream)):
        original = cls.forward

        def counted(self, x, _original=original, _name=name):
            calls[_name] += 1
            return _original(self, x)

        monkeypatch.setattr(cls, "forward", counted)
    return calls


def test_shared_predictions_are_byte_identical_and_each_stream_is_computed_once(monkeypatch):
    waves = _waves()
    preds = [_macnn(1), _macnn(2), _ifn(3), _ifn(4)]
    alone = [p.predict_proba(waves) for p in preds]
    calls = _counting(monkeypatch)
    with shared_features() as share:
        together = [p.predict_proba(waves) for p in preds]
    for a, b in zip(alone, together, strict=True):
        assert a.tobytes() == b.tobytes()
    n = len(waves)
    # two MFCC-only models and two IFN models: MFCC, spectral and prosodic once per waveform
    assert calls == {"mfcc": n, "spectral": n, "prosodic": n}
    assert (share.computed, share.reused) == (3 * n, 5 * n)  # 2 + 2 * 3 streams asked, 3 computed
    assert active_share() is None


def test_other_settings_or_other_audio_are_not_shared(monkeypatch):
    waves = _waves(3)
    a = _macnn(1)
    b = _macnn(2, replace(FeatureConfig(), n_mels=40))  # other mel bands: other MFCC
    alone = [a.predict_proba(waves), b.predict_proba(waves)]
    copies = [w.copy() for w in waves]  # equal samples in other arrays are not recognised
    calls = _counting(monkeypatch)
    with shared_features() as share:
        got = [a.predict_proba(waves), b.predict_proba(waves), a.predict_proba(copies)]
    assert got[0].tobytes() == alone[0].tobytes() and got[1].tobytes() == alone[1].tobytes()
    assert got[2].tobytes() == alone[0].tobytes()
    assert calls["mfcc"] == 3 * len(waves) and share.reused == 0


def test_segmentation_and_standardisation_settings_still_share():
    """Only settings that change a stream's frames split the share."""
    waves = _waves(2)
    a = _macnn(1)
    b = _macnn(1, replace(FeatureConfig(), test_stride=25, trim_db=40.0))
    alone = b.predict_proba(waves)
    with shared_features() as share:
        a.predict_proba(waves)
        got = b.predict_proba(waves)
    assert share.reused == len(waves)
    assert got.tobytes() == alone.tobytes()


def test_a_share_joins_the_open_one_and_closes_with_it():
    with shared_features() as outer:
        with shared_features() as inner:
            assert inner is outer and active_share() is outer
        assert active_share() is outer
    assert active_share() is None


def test_ensemble_members_share_their_streams(monkeypatch):
    from model import EnsemblePredictor

    members = [_ifn(5), _ifn(6), _ifn(7)]
    waves = _waves(3)
    expected = sum(m.predict_proba(waves) for m in members) / 3
    calls = _counting(monkeypatch)
    got = EnsemblePredictor(members, {"name": "seeds"}).predict_proba(waves)
    assert got.tobytes() == expected.tobytes()
    assert calls == {"mfcc": 3, "spectral": 3, "prosodic": 3}


def test_an_unknown_extractor_runs_as_is():
    from model.feature_share import FeatureShare

    class Doubler(torch.nn.Module):
        def forward(self, x):
            return torch.stack([x, 2 * x])

    share = FeatureShare()
    x = torch.arange(4.0)
    out = share.extract(Doubler(), x, x)
    assert torch.equal(out, torch.stack([x, 2 * x])) and share.computed == 0
