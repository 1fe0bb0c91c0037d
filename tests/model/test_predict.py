import numpy as np
import pytest
import torch

from model import FeatureConfig, ModelError, Predictor, create_model


@pytest.fixture
def predictor():
    torch.manual_seed(0)
    net = create_model("macnn_icasa", 3)
    # Non-trivial BatchNorm running stats, so eval mode differs visibly from train mode.
    with torch.no_grad():
        net.train()
        net(torch.randn(8, 1, 39, 200) * 5)
    return Predictor(net, ["angry", "happy", "sad"], FeatureConfig())


def test_probabilities_rows_and_order(predictor, make_tones):
    waves, _ = make_tones(5)
    p = predictor.predict_proba(waves)
    assert p.shape == (5, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-9)
    assert not predictor.model.training


@pytest.mark.parametrize("batch_size", [1, 3, 7, 1000])
def test_any_batch_size_gives_the_same_result(predictor, make_tones, batch_size):
    waves, _ = make_tones(5)
    ref = predictor.predict_proba(waves, batch_size=256)
    np.testing.assert_allclose(predictor.predict_proba(waves, batch_size=batch_size), ref, rtol=0, atol=1e-6)


def test_utterance_is_mean_of_its_segment_probabilities(predictor, make_tones):
    waves, _ = make_tones(2)
    from model.features import utterance_segments

    p = predictor.predict_proba(waves)
    for i, segs in utterance_segments(waves, predictor._extractor, 40):
        with torch.no_grad():
            expected = torch.softmax(predictor.model(segs), dim=1).double().mean(dim=0).numpy()
        np.testing.assert_allclose(p[i], expected, atol=1e-6)
        assert segs.shape[0] > 1  # test stride 0.4 s gives several segments


def test_an_utterance_does_not_depend_on_its_neighbours(predictor, make_tones):
    waves, _ = make_tones(4)
    alone = predictor.predict_proba(waves[2:3])
    np.testing.assert_allclose(predictor.predict_proba(waves)[2:3], alone, atol=1e-6)


@pytest.mark.parametrize("name", ["macnn", "macnn_icasa"])
def test_exactly_the_same_bits_however_utterances_are_grouped_and_threads_set(name, make_tones):
    """Bit for bit, not to a tolerance: an audit writes 6 decimals, and a difference of 1e-7
    (oneDNN picks other kernels for a short batch) flips the last digit of some probabilities."""
    torch.manual_seed(1)
    net = create_model(name, 8)
    with torch.no_grad():
        net.train()
        net(torch.randn(8, 1, 39, 200) * 5)
    # logit pooling keeps float32 logits exactly (in float64 sums): an untrained net's small
    # logits would hide a last-bit difference inside a saturated float32 softmax
    pred = Predictor(net, [f"c{i}" for i in range(8)], FeatureConfig(), pooling="logit")
    waves, _ = make_tones(9)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ref = pred.predict_proba(waves)
        for chunks in ([0, 1, 4, 9], [0, 5, 6, 9], [0, 2, 3, 8, 9]):
            got = np.concatenate([pred.predict_proba(waves[a:b]) for a, b in zip(chunks, chunks[1:])])
            np.testing.assert_array_equal(got, ref, err_msg=f"grouped as {chunks}")
        torch.set_num_threads(2)
        np.testing.assert_array_equal(pred.predict_proba(waves), ref, err_msg="2 threads")
    finally:
        torch.set_num_threads(previous)


def test_logit_pooling_and_bad_arguments(predictor, make_tones):
    waves, _ = make_tones(2)
    logit = Predictor(predictor.model, predictor.classes, FeatureConfig(), pooling="logit")
    np.testing.assert_allclose(logit.predict_proba(waves).sum(axis=1), 1.0, atol=1e-9)
    with pytest.raises(ModelError, match="pooling"):
        Predictor(predictor.model, predictor.classes, FeatureConfig(), pooling="max")
    with pytest.raises(ModelError, match="batch_size=0"):
        predictor.predict_proba(waves, batch_size=0)
    with pytest.raises(ModelError, match="waveform 0"):
        predictor.predict_proba([np.array([], dtype=np.float32)])
