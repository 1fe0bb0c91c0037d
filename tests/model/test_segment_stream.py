"""``Predictor.segment_stream``: utterances of several calls share full batches of segments.

The reference is computed here without the stream: every segment of an utterance forwarded
on its own, zero-padded to a full batch of 32 (what the predictor promises a segment's
output depends on), softmax, and the mean over the utterance's segments in order. The stream
must give exactly these bits, whichever calls the utterances came in, and forward only
full batches until ``finish``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model import FeatureConfig, Predictor, create_model
from model.features import utterance_segments


@pytest.fixture
def predictor():
    torch.manual_seed(3)
    net = create_model("macnn", 4)
    with torch.no_grad():  # non-trivial BatchNorm statistics
        net.train()
        net(torch.randn(8, 1, 39, 200) * 5)
    return Predictor(net.eval(), ["a", "b", "c", "d"], FeatureConfig())


def _reference(pred: Predictor, waves) -> np.ndarray:
    out = []
    for _, segs in utterance_segments(waves, pred._extractor, pred.feature_config.test_stride):
        total = np.zeros(4)
        for s in segs:
            x = torch.zeros(32, *s.shape)
            x[0] = s
            with torch.no_grad():
                total += torch.softmax(pred.model(x)[:1], dim=1).double().numpy()[0]
        out.append(total / segs.shape[0])
    return np.array(out)


def _count_forwards(pred: Predictor) -> list[int]:
    sizes: list[int] = []
    pred.model.register_forward_pre_hook(lambda m, args: sizes.append(args[0].shape[0]))
    return sizes


def test_calls_in_any_split_give_the_reference_bits(predictor, make_tones):
    waves, _ = make_tones(7)
    waves = [np.concatenate([w, w]) for w in waves]  # 2.4-6.6 s: several batches in all
    ref = _reference(predictor, waves)
    sizes = _count_forwards(predictor)
    stream = predictor.segment_stream()
    got = []
    for part in ([0, 1], [2], [3, 4, 5], [6]):  # e.g. an audit's conditions, one call each
        got += stream.add([waves[i] for i in part], part)
    got += stream.finish()
    assert [t for t, _ in got] == list(range(7))  # in the order added
    # one padded forward for all the calls together, not one per call
    n_segments = sum(s.shape[0] for _, s in utterance_segments(waves, predictor._extractor, 40))
    assert n_segments > 32 and sizes == [32] * -(-n_segments // 32)
    probs = np.array([p for _, p in got])
    assert probs.tobytes() == ref.tobytes()
    assert probs.tobytes() == predictor.predict_proba(waves).tobytes()


def test_an_utterance_is_returned_once_all_its_segments_went_through(predictor, make_tones):
    waves, _ = make_tones(3)
    counts = [s.shape[0] for _, s in utterance_segments(waves, predictor._extractor, 40)]
    assert sum(counts) < 32  # nothing fills a batch: everything waits for finish
    stream = predictor.segment_stream()
    assert stream.add(waves, ["x", "y", "z"]) == []
    assert [t for t, _ in stream.finish()] == ["x", "y", "z"]
    assert stream.finish() == []


def test_logit_pooling_matches_its_reference(make_tones):
    torch.manual_seed(4)
    net = create_model("macnn", 4).eval()
    pred = Predictor(net, ["a", "b", "c", "d"], FeatureConfig(), pooling="logit")
    waves, _ = make_tones(3)
    ref = []
    for _, segs in utterance_segments(waves, pred._extractor, 40):
        logits = []
        for s in segs:
            x = torch.zeros(32, *s.shape)
            x[0] = s
            with torch.no_grad():
                logits.append(net(x)[0].double().numpy())
        total = np.zeros(4)
        for v in logits:
            total += v
        mean = total / len(logits)
        ref.append(np.exp(mean - mean.max()) / np.exp(mean - mean.max()).sum())
    np.testing.assert_allclose(pred.predict_proba(waves), np.array(ref), rtol=0, atol=1e-15)


def test_tags_must_match_waveforms(predictor, make_tones):
    from model import ModelError

    waves, _ = make_tones(2)
    with pytest.raises(ModelError, match="2 waveforms but 1 tags"):
        predictor.segment_stream().add(waves, ["only one"])
