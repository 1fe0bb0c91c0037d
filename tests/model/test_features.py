import numpy as np
import pytest
import torch

from model import FeatureConfig, FeatureStats, MFCCExtractor, ModelError
from model.features import fit_stats, segment, segment_starts, utterance_segments


def test_config_defaults_and_round_trip():
    c = FeatureConfig()
    assert (c.n_features, c.n_mels, c.win_length, c.hop_length, c.n_fft) == (39, 26, 400, 160, 512)
    assert (c.segment_frames, c.train_stride, c.test_stride) == (200, 100, 40)
    assert FeatureConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ModelError, match="hop_length"):
        FeatureConfig(hop_length=0)
    with pytest.raises(ModelError, match="unknown key"):
        FeatureConfig.from_dict({"bogus": 1})


def test_mfcc_shape_frames_and_batch_equals_items():
    ext = MFCCExtractor()
    x = torch.randn(3, 16000, generator=torch.Generator().manual_seed(0))
    batched = ext(x)
    assert batched.shape == (3, 39, 101)  # 1 + 16000 // 160 centred frames
    for i in range(3):
        torch.testing.assert_close(ext(x[i]), batched[i], rtol=1e-5, atol=1e-4)
    assert torch.isfinite(batched).all()


def test_mfcc_of_louder_signal_raises_c0_only_by_gain():
    ext = MFCCExtractor()
    x = torch.randn(16000, generator=torch.Generator().manual_seed(1))
    a, b = ext(x), ext(2 * x)
    # Doubling amplitude adds 20log10(2) dB to every log-mel band: only C0 (sum) moves.
    assert (b[0] - a[0]).mean() > 1.0
    torch.testing.assert_close(b[1:13], a[1:13], rtol=0, atol=1e-3)


@pytest.mark.parametrize(
    "frames, stride, expected",
    [(150, 100, [0]), (200, 100, [0]), (300, 100, [0, 100]), (350, 100, [0, 100, 150]), (281, 40, [0, 40, 80, 81])],
)
def test_segment_starts(frames, stride, expected):
    assert segment_starts(frames, stride, 200) == expected


def test_segment_pads_short_and_keeps_values():
    f = torch.arange(39 * 120, dtype=torch.float32).reshape(39, 120)
    s = segment(f, 100)
    assert s.shape == (1, 1, 39, 200)
    torch.testing.assert_close(s[0, 0, :, :120], f)
    assert s[0, 0, :, 120:].abs().sum() == 0
    long = torch.randn(39, 350)
    s = segment(long, 100)
    assert s.shape == (3, 1, 39, 200)
    torch.testing.assert_close(s[2, 0], long[:, 150:350])


def test_utterance_segments_rejects_bad_input():
    ext = MFCCExtractor()
    with pytest.raises(ModelError, match="waveform 1"):
        list(utterance_segments([np.ones(800, np.float32), np.array([np.nan] * 800)], ext, 40))
    with pytest.raises(ModelError, match="waveform 0"):
        list(utterance_segments([np.zeros((2, 800), np.float32)], ext, 40))


def test_fit_stats_standardises_training_frames():
    ext = MFCCExtractor()
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(16000 + 800 * i).astype(np.float32) for i in range(3)]
    stats = fit_stats(waves, ext)
    feats = torch.cat([ext(torch.from_numpy(w)) for w in waves], dim=1)
    z = stats.apply(feats)
    torch.testing.assert_close(z.mean(dim=1), torch.zeros(39), rtol=0, atol=1e-3)
    torch.testing.assert_close(z.std(dim=1, unbiased=False), torch.ones(39), rtol=0, atol=1e-3)
    assert FeatureStats.from_dict(stats.to_dict()) == stats
