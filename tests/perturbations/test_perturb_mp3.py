"""MP3 round trip: aligned, same length, changed, high band reduced, rates LAME cannot take."""

import importlib.util

import numpy as np
import pytest
from _signals import band_energy, speechlike, xcorr_lag

import perturbations as P
from perturbations.mp3 import codec_sample_rate


def _broadband(sr: int, seconds: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(5)
    x = speechlike(rng, seconds, sr) + 0.05 * rng.standard_normal(int(seconds * sr))
    return x.astype(np.float32)


@pytest.mark.parametrize("sr", [16000, 48000])
def test_mp3_aligned_changed_and_lowpassed(sr):
    x = _broadband(sr)
    y, record = P.render(P.MP3(64), x, sr, np.random.default_rng(0))
    assert y.dtype == np.float32 and y.shape == x.shape
    assert record == {"mp3.bitrate_kbps": 64, "mp3.quality": 7, "mp3.backend": "fast-mp3-augment",
                      "mp3.codec_sample_rate": sr}
    assert xcorr_lag(x, y, 200) == 0
    assert not np.allclose(x, y, atol=1e-4)
    top = sr / 2
    assert band_energy(y, sr, 0.8 * top, top) < 0.5 * band_energy(x, sr, 0.8 * top, top)
    # the speech band survives
    assert band_energy(y, sr, 100, 3000) == pytest.approx(band_energy(x, sr, 100, 3000), rel=0.3)


def test_mp3_is_deterministic_and_short_input_ok():
    x = _broadband(16000, 0.05)  # shorter than the 100 ms the library accepts
    a, _ = P.render(P.MP3(128), x, 16000, np.random.default_rng(0))
    b, _ = P.render(P.MP3(128), x, 16000, np.random.default_rng(1))
    assert a.shape == x.shape and np.array_equal(a, b)


def test_rates_lame_cannot_take_are_resampled_and_recorded():
    assert codec_sample_rate(48000, 128) == 48000
    assert codec_sample_rate(44100, 128) == 44100
    assert codec_sample_rate(16000, 128) == 16000
    assert codec_sample_rate(8000, 128) == 16000     # MPEG-2.5 stops at 64 kbps
    assert codec_sample_rate(8000, 32) == 8000
    assert codec_sample_rate(16000, 320) == 32000    # MPEG-2 stops at 160 kbps
    assert codec_sample_rate(48000, 8) == 24000      # MPEG-1 starts at 32 kbps
    assert codec_sample_rate(96000, 128) == 48000
    assert codec_sample_rate(20000, 128) == 22050
    x = _broadband(20000, 0.5)
    y, record = P.render(P.MP3(128), x, 20000, np.random.default_rng(0))
    assert record["mp3.codec_sample_rate"] == 22050
    assert y.shape == x.shape and xcorr_lag(x, y, 100) == 0


def test_missing_backend_is_named():
    if importlib.util.find_spec("lameenc") is not None:
        pytest.skip("lameenc is installed")
    x = _broadband(16000, 0.2)
    with pytest.raises(P.PerturbationError, match="pip install lameenc"):
        P.render(P.MP3(128, backend="lameenc"), x, 16000, np.random.default_rng(0))


@pytest.mark.skipif(importlib.util.find_spec("lameenc") is None, reason="lameenc not installed")
def test_lameenc_backend_aligned():
    x = _broadband(16000, 0.5)
    y, _ = P.render(P.MP3(128, backend="lameenc"), x, 16000, np.random.default_rng(0))
    assert y.shape == x.shape and xcorr_lag(x, y, 200) == 0
    assert band_energy(y, 16000, 300, 3000) == pytest.approx(band_energy(x, 16000, 300, 3000), rel=0.3)


def test_pydub_backend_aligned_or_named_missing():
    from perturbations.codec import ffmpeg_missing

    x = _broadband(16000, 0.5)
    p = P.MP3(128, backend="pydub")
    if ffmpeg_missing():
        with pytest.raises(P.PerturbationError, match="ffmpeg|pydub"):
            P.render(p, x, 16000, np.random.default_rng(0))
        return
    y, _ = P.render(p, x, 16000, np.random.default_rng(0))
    assert y.shape == x.shape and xcorr_lag(x, y, 200) == 0
    assert band_energy(y, 16000, 300, 3000) == pytest.approx(band_energy(x, 16000, 300, 3000), rel=0.3)
