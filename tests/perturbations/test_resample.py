"""Resampling of any rate: closed-form tones, torchaudio's filter, bounded tables, block
independence, and the bytes of the integral-ratio path that earlier results were computed with."""

import numpy as np
import pytest
import torch
import torchaudio

from perturbations import _resample
from perturbations._resample import output_length, polyphase_resample, reduced_ratio
from perturbations.functional import resample as resample_any

ODD_RATES = [24414, 22050, 44100, 11025, 8000, 96000]


def _tones(sr: int, seconds: float, freqs=(440.0, 1000.0, 2000.0)) -> tuple[np.ndarray, callable]:
    def at(t):
        return sum(0.3 * np.sin(2 * np.pi * f * t + k) for k, f in enumerate(freqs))

    return at(np.arange(int(sr * seconds)) / sr).astype(np.float32), at


@pytest.mark.parametrize("sr", ODD_RATES)
def test_tones_land_where_the_closed_form_puts_them(sr):
    x, at = _tones(sr, 1.0)
    y = resample_any(x, sr, 16000)
    assert y.dtype == np.float32 and y.size == -(-x.size * 16000 // sr)
    t = np.arange(y.size) / 16000
    inner = slice(400, y.size - 400)  # away from the zero-padded ends
    # tones up to half the lower Nyquist rate (2 kHz at 8 kHz) pass the Hann sinc nearly unchanged
    np.testing.assert_allclose(y[inner], at(t)[inner], atol=5e-3)


@pytest.mark.parametrize("sr", [44100, 22050, 11025, 32000])
def test_same_filter_as_torchaudio(sr):
    x = np.random.default_rng(sr).standard_normal(sr // 2).astype(np.float32)
    want = torchaudio.transforms.Resample(sr, 16000)(torch.from_numpy(x)).numpy()
    got = polyphase_resample(x, sr, 16000)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=2e-6)


def test_aliases_are_removed():
    sr = 24414
    t = np.arange(sr) / sr
    y = resample_any(np.sin(2 * np.pi * 10000 * t).astype(np.float32), sr, 16000)  # above 8 kHz
    assert np.sqrt(np.mean(y[400:-400] ** 2)) < 0.01 * np.sqrt(0.5)  # > 40 dB down


def test_table_is_small_whatever_the_gcd():
    # 24,414 / 16,000 reduce to 12,207 / 8,000: torchaudio's kernel would hold 8,000 x 12,227 values
    assert reduced_ratio(24414, 16000) == (12207, 8000)
    weights, offsets, width = _resample._table(12207, 8000)
    assert weights.shape == (2 * width + 1, 8000) and weights.nbytes < 1 << 20
    assert offsets.shape == (8000,)


def test_blocks_do_not_change_a_sample(monkeypatch):
    x = np.random.default_rng(1).standard_normal(30_011).astype(np.float32)
    whole = polyphase_resample(x, 22050, 16000)
    monkeypatch.setattr(_resample, "_BLOCK", 777)
    np.testing.assert_array_equal(polyphase_resample(x, 22050, 16000), whole)


def test_lengths_and_upsampling():
    for n, o, m in [(1, 24414, 16000), (257, 8000, 16000), (48000, 48000, 16000), (10, 11025, 16000)]:
        assert polyphase_resample(np.ones(n, np.float32), o, m).size == output_length(n, o, m)
        assert output_length(n, o, m) == int(np.ceil(n * m / o))
    x, at = _tones(8000, 0.5, freqs=(300.0, 900.0))
    y = polyphase_resample(x, 8000, 16000)
    t = np.arange(y.size) / 16000
    np.testing.assert_allclose(y[200:-200], at(t)[200:-200], atol=5e-3)


def test_integral_ratios_keep_torchaudio_bytes():
    """48 -> 16 kHz (RAVDESS) and 8 -> 16 kHz run torchaudio's kernels as before, byte for byte."""
    from audit.data import resample

    x = np.random.default_rng(2).standard_normal(48000 * 3).astype(np.float32)
    want = torchaudio.transforms.Resample(48000, 16000)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(resample(x, 48000, 16000), want)
    want = torchaudio.functional.resample(torch.from_numpy(x), 48000, 16000).numpy()
    np.testing.assert_array_equal(resample_any(x, 48000, 16000), want)
