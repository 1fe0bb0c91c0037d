import math

import numpy as np
import pytest
import torch

from model import FeatureConfig, ModelError
from model._pitch import yin
from model.features import fit_stats, utterance_segments
from model.streams import ProsodicStream, SpectralStream, StreamExtractor, spectral_descriptors, stream_dims

SR = 16000
IFN_STREAMS = ("mfcc", "spectral", "prosodic")


def _tone(f0: float, seconds: float = 1.0, amp: float = 0.3) -> torch.Tensor:
    t = torch.arange(int(SR * seconds), dtype=torch.float64) / SR
    return (amp * torch.sin(2 * math.pi * f0 * t) + 0.3 * amp * torch.sin(2 * math.pi * 2 * f0 * t)).float()


def test_stream_config_validation_and_round_trip():
    c = FeatureConfig(streams=IFN_STREAMS)
    assert FeatureConfig.from_dict(c.to_dict()) == c  # the JSON list comes back as a tuple
    assert FeatureConfig.from_dict({**c.to_dict(), "streams": list(IFN_STREAMS)}).streams == IFN_STREAMS
    assert stream_dims(c) == (39, 69, 6)
    with pytest.raises(ModelError, match="streams"):
        FeatureConfig(streams=("mfcc", "pitchy"))
    with pytest.raises(ModelError, match="streams"):
        FeatureConfig(streams=("mfcc", "mfcc"))
    with pytest.raises(ModelError, match="ssl_model"):
        FeatureConfig(streams=("mfcc", "ssl"))
    with pytest.raises(ModelError, match="f0_min_hz"):
        FeatureConfig(f0_min_hz=400, f0_max_hz=300)


def test_mfcc_only_config_keeps_its_legacy_json_form():
    # Sidecars, checkpoint_matches and resume identities of MACNN runs made before streams
    # existed must compare equal to today's configs.
    from model import TrainConfig

    legacy = {"sample_rate", "n_mfcc", "n_mels", "win_length", "hop_length", "n_fft", "delta_width",
              "segment_frames", "train_stride", "test_stride", "standardize"}
    assert set(FeatureConfig().to_dict()) == legacy
    assert set(TrainConfig().to_dict()["features"]) == legacy
    assert FeatureConfig.from_dict(FeatureConfig(standardize=True).to_dict()) == FeatureConfig(standardize=True)
    assert "f0_min_hz" in FeatureConfig(f0_min_hz=80).to_dict()  # any non-default stream field: all written


@pytest.mark.parametrize("n_samples", [1000, 16000, 23456])
def test_stacked_streams_shape_on_the_mfcc_frame_grid(n_samples):
    ext = StreamExtractor(FeatureConfig(streams=IFN_STREAMS))
    x = 0.1 * torch.randn(n_samples, generator=torch.Generator().manual_seed(0))
    out = ext(x)
    assert ext.dims == (39, 69, 6) and ext.n_features == 114
    assert out.shape == (114, 1 + n_samples // 160)
    assert torch.isfinite(out).all()
    # The mfcc rows are exactly the MACNN features.
    mfcc_only = StreamExtractor(FeatureConfig())(x)
    torch.testing.assert_close(out[:39], mfcc_only, rtol=0, atol=0)


def test_streams_deterministic_and_batch_equals_items():
    ext = StreamExtractor(FeatureConfig(streams=IFN_STREAMS))
    g = torch.Generator().manual_seed(3)
    x = torch.stack([0.1 * torch.randn(12000, generator=g), _tone(150, 0.75), torch.zeros(12000)])
    batched = ext(x)
    assert torch.equal(batched, ext(x))
    assert batched.shape == (3, 114, 76)
    for i in range(3):
        torch.testing.assert_close(ext(x[i]), batched[i], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("f0", [80.0, 200.0, 333.0, 480.0])
def test_yin_finds_the_f0_of_a_harmonic_tone(f0):
    est, voicing = yin(_tone(f0), SR, 160, 60, 500)
    inner = est[5:-5]
    assert torch.all(inner > 0)
    assert torch.allclose(inner, torch.full_like(inner, f0), rtol=0.005)
    assert voicing[5:-5].min() > 0.9


def test_yin_noise_is_unvoiced_and_silence_has_zero_voicing():
    noise = 0.1 * torch.randn(SR, generator=torch.Generator().manual_seed(0))
    est, voicing = yin(noise, SR, 160, 60, 500)
    assert (est > 0).float().mean() < 0.1
    est, voicing = yin(torch.zeros(SR), SR, 160, 60, 500)
    assert est.abs().sum() == 0 and voicing.abs().sum() == 0


def test_prosodic_rows_log_f0_voicing_energy_and_deltas():
    stream = ProsodicStream(FeatureConfig())
    tone = _tone(200.0)
    out = stream(tone)  # (6, 101)
    assert out.shape == (6, 101)
    torch.testing.assert_close(out[0, 5:-5], torch.full((91,), math.log(200.0)), rtol=0, atol=5e-3)
    assert out[1, 5:-5].min() > 0.9
    # Doubling the amplitude adds 20 log10(2) dB of energy and leaves F0 alone.
    loud = stream(2 * tone)
    torch.testing.assert_close(loud[2] - out[2], torch.full((101,), 20 * math.log10(2)), rtol=0, atol=1e-3)
    torch.testing.assert_close(loud[0], out[0], rtol=0, atol=1e-4)
    # Steady tone: deltas vanish away from the edges.
    assert out[3:, 10:-10].abs().max() < 1e-3


def test_spectral_descriptors_on_hand_made_spectra():
    n_freq, frames = 257, 3
    freqs_khz = torch.linspace(0, 8, n_freq)
    one_bin = torch.zeros(n_freq, frames)
    one_bin[64] = 1.0  # all power at 2 kHz
    d = spectral_descriptors(one_bin, SR)
    torch.testing.assert_close(d[0], torch.full((frames,), float(freqs_khz[64])))  # centroid
    torch.testing.assert_close(d[1], torch.zeros(frames), rtol=0, atol=1e-4)  # bandwidth
    torch.testing.assert_close(d[2], torch.full((frames,), float(freqs_khz[64])))  # roll-off
    assert d[3].max() < 1e-3  # flatness of a line spectrum ~ 0
    flat = torch.ones(n_freq, frames)
    flat[:, 2] *= 10.0  # +10 dB in every bin at frame 2
    d = spectral_descriptors(flat, SR)
    torch.testing.assert_close(d[0], torch.full((frames,), 4.0))  # centroid of a flat spectrum: sr / 4
    torch.testing.assert_close(d[3], torch.ones(frames))  # flatness 1
    torch.testing.assert_close(d[4], torch.tensor([0.0, 0.0, 10.0]))  # flux: rise in dB
    # roll-off of a flat spectrum: 85 % of the bins
    assert abs(float(d[2, 0]) - 0.85 * 8) < 8 / 256 + 1e-6


def test_spectral_stream_centroid_follows_the_tone():
    stream = SpectralStream(FeatureConfig())
    low, high = stream(_tone(200.0)), stream(_tone(1500.0))
    assert low.shape == (69, 101)
    assert high[64, 10:-10].mean() > 2 * low[64, 10:-10].mean()  # centroid row


def test_fitted_stats_standardise_every_stream_row():
    ext = StreamExtractor(FeatureConfig(streams=IFN_STREAMS))
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(8000 + 1600 * i)).astype(np.float32) for i in range(2)]
    waves.append(_tone(220.0, 0.8).numpy())
    stats = fit_stats(waves, ext)
    assert len(stats.mean) == 114
    feats = torch.cat([ext(torch.from_numpy(w)) for w in waves], dim=1)
    z = stats.apply(feats)
    torch.testing.assert_close(z.mean(dim=1), torch.zeros(114), rtol=0, atol=2e-3)
    torch.testing.assert_close(z.std(dim=1, unbiased=False), torch.ones(114), rtol=0, atol=2e-3)
    segs = [s for _, s in utterance_segments(waves, ext, 40, stats=stats)]
    assert all(s.shape[1:] == (1, 114, 200) for s in segs)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_streams_match_between_cpu_and_cuda():
    ext = StreamExtractor(FeatureConfig(streams=IFN_STREAMS))
    x = torch.stack([_tone(180.0, 1.5), 0.1 * torch.randn(24000, generator=torch.Generator().manual_seed(4))])
    cpu = ext(x)
    gpu = ext.to("cuda")(x.to("cuda")).cpu()
    torch.testing.assert_close(gpu, cpu, rtol=1e-4, atol=1e-3)
