"""AWGN, pink and brown noise: exact SNR, active power, silence, dtype, seeds."""

import numpy as np
import pytest
from _signals import band_energy, speechlike
from hypothesis import given, settings
from hypothesis import strategies as st

import perturbations as P
from perturbations import functional as F


def _numpy_snr_db(x: np.ndarray, y: np.ndarray, active: np.ndarray | None = None) -> float:
    """SNR of output ``y`` against input ``x`` (time,) in plain numpy, float64, independent of
    ``perturbations.functional``: signal power over ``active`` samples (all when None), noise
    ``y - x`` over every sample."""
    x64, noise = x.astype(np.float64), y.astype(np.float64) - x.astype(np.float64)
    sig = x64 if active is None else x64[active]
    return float(10 * np.log10(np.mean(sig**2) / np.mean(noise**2)))


def _gated_tone(rng: np.random.Generator, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Silence, a steady harmonic tone, silence; cut on the 20 ms frame grid so the active part
    is known without any detector: ``(waveform (time,) float32, active (time,) bool)``."""
    frame = round(0.02 * sample_rate)
    lead, tone, tail = (int(n) * frame for n in rng.integers(5, 40, size=3))
    t = np.arange(tone) / sample_rate
    f0 = rng.uniform(120, 300)
    voiced = sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) / k for k in range(1, 6))
    x = np.zeros(lead + tone + tail, np.float32)
    x[lead:lead + tone] = rng.uniform(0.05, 0.5) * voiced / np.max(np.abs(voiced))
    active = np.zeros(x.size, bool)
    active[lead:lead + tone] = True
    return x, active


def test_awgn_snr_exact_over_100_seeds_and_signals():
    rng = np.random.default_rng(1234)
    errors = []
    for i in range(100):
        snr = float(rng.uniform(-10, 40))
        sr = int(rng.choice([8000, 16000, 48000]))
        power = ("whole", "active")[i % 2]
        if power == "whole":
            x, active = speechlike(rng, float(rng.uniform(0.2, 1.5)), sr), None
        else:
            x, active = _gated_tone(rng, sr)
        p = P.AWGN(snr, level=power)
        y, record = P.render(p, x, sr, P.derive_rng(i, f"u{i}", str(p)))
        assert y.dtype == np.float32 and y.shape == x.shape
        measured = _numpy_snr_db(x, y, active)  # from the float32 output, independent of the record
        errors.append(abs(measured - snr))
        assert abs(record["awgn.achieved_snr_db"] - measured) < 1e-4
    assert max(errors) < 0.01


@settings(max_examples=15, deadline=None)
@given(snr=st.floats(-20, 60), seed=st.integers(0, 2**32), power=st.sampled_from(["whole", "active"]),
       kind=st.sampled_from(["awgn", "pink", "brown"]))
def test_noise_snr_exact_property(snr, seed, power, kind):
    rng = np.random.default_rng(seed)
    x, active = (speechlike(rng, 0.5, 16000), None) if power == "whole" else _gated_tone(rng, 16000)
    p = P.parse_condition(f"{kind}:snr_db={snr!r},level={power}")
    y, record = P.render(p, x, 16000, np.random.default_rng(seed))
    assert abs(_numpy_snr_db(x, y, active) - snr) < 0.01
    assert abs(record[f"{kind}.achieved_snr_db"] - snr) < 0.01


def test_active_power_ignores_silence():
    rng = np.random.default_rng(0)
    speech = speechlike(rng, 0.5, 16000)
    x = np.concatenate([np.zeros(16000, np.float32), speech, np.zeros(16000, np.float32)])
    whole = F.signal_power(x, 16000, "whole")
    active = F.signal_power(x, 16000, "active")
    assert active > 2.5 * whole  # 1/3 of the samples carry all the energy
    y_active, _ = P.render(P.AWGN(10, level="active"), x, 16000, np.random.default_rng(1))
    y_whole, _ = P.render(P.AWGN(10), x, 16000, np.random.default_rng(1))
    # same noise vector, larger gain when the reference power is the active one
    ratio = F.noise_power(y_active - x) / F.noise_power(y_whole - x)
    assert ratio == pytest.approx(active / whole, rel=1e-4)


@pytest.mark.parametrize("kind", ["awgn", "pink", "brown"])
def test_silent_input_raises(kind):
    p = P.parse_condition(f"{kind}:snr_db=10")
    for level in ("whole", "active", "p56"):
        q = P.condition_from_dict({**p.to_dict(), "level": level})
        with pytest.raises(P.SilentInputError, match="silent"):
            P.render(q, np.zeros(4000, np.float32), 16000, np.random.default_rng(0))


@pytest.mark.parametrize("kind", ["awgn", "pink", "brown"])
def test_same_seed_same_output_other_seed_other(kind):
    x = speechlike(np.random.default_rng(3), 0.5, 16000)
    p = P.parse_condition(f"{kind}:snr_db=5")
    a, ra = P.render(p, x, 16000, P.derive_rng(7, "utt", str(p)))
    b, rb = P.render(p, x, 16000, P.derive_rng(7, "utt", str(p)))
    c, _ = P.render(p, x, 16000, P.derive_rng(8, "utt", str(p)))
    assert np.array_equal(a, b) and ra == rb
    assert not np.allclose(a, c)
    # apply() from the record alone reproduces the output (draw and apply are split)
    params = {k.split(".", 1)[1]: v for k, v in ra.items() if not k.endswith("achieved_snr_db")}
    assert np.array_equal(p.apply(x, 16000, params), a)


def test_float64_input_keeps_dtype():
    x = speechlike(np.random.default_rng(3), 0.2, 16000).astype(np.float64)
    y, _ = P.render(P.AWGN(0), x, 16000, np.random.default_rng(0))
    assert y.dtype == np.float64 and y.shape == x.shape


def test_colored_noise_spectral_slopes():
    rng = np.random.default_rng(0)
    n, sr = 2**16, 16000
    slopes = {}
    for exponent in (0.0, 1.0, 2.0):
        noise = F.colored_noise(n, rng, exponent)
        low, high = band_energy(noise, sr, 100, 200), band_energy(noise, sr, 1600, 3200)
        # energy per band of equal width ratio 16: white 1:16, pink 1:1 per octave pair, brown 16:1
        slopes[exponent] = 10 * np.log10((low / 100) / (high / 1600))
    assert abs(slopes[0.0]) < 1.0
    assert slopes[1.0] == pytest.approx(10 * np.log10(16), abs=1.0)
    assert slopes[2.0] == pytest.approx(20 * np.log10(16), abs=1.5)
