"""P.56 active speech level: known activity (gated tones), scale, and SNR under each definition."""

import numpy as np
import pytest
from _signals import speechlike

import perturbations as P
from perturbations import _p56
from perturbations import functional as F

SR = 16000
SECONDS = 40.0
# after a burst the voltmeter stays active for the hangover plus the envelope's decay to the
# threshold (a few time constants of the two-pole smoother): P.56's published definition
LATE = _p56.HANGOVER_S + 5 * _p56.TIME_CONSTANT_S


def _gated_tone(fraction: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(SECONDS * SR)) / SR
    x = amplitude * np.sin(2 * np.pi * 1000 * t)
    x[int(fraction * SECONDS * SR):] = 0.0  # one burst, then silence
    return x


@pytest.mark.parametrize("fraction", [0.25, 0.5, 1.0])
def test_gated_tone_activity_and_level(fraction):
    level = _p56.active_speech_level(_gated_tone(fraction), SR)
    rms_db = 10 * np.log10(0.5 ** 2 / 2)  # the tone's power while it sounds
    if fraction == 1.0:
        assert level.activity == 1.0
        assert level.level_db == pytest.approx(rms_db, abs=1e-6)
    else:
        on = fraction * SECONDS
        assert fraction <= level.activity <= (on + LATE) / SECONDS
        assert rms_db + 10 * np.log10(on / (on + LATE)) <= level.level_db <= rms_db + 1e-6
    # the whole-signal power counts the silence: 10 log10(fraction) below the tone
    assert F.signal_power(_gated_tone(fraction), SR, "whole") == pytest.approx(
        0.125 * fraction, rel=1e-3)


def test_level_scales_with_the_signal_and_silence_has_none():
    x = speechlike(np.random.default_rng(0), 2.0, SR)
    a = _p56.active_speech_level(x, SR)
    b = _p56.active_speech_level(x * 1e-3, SR)
    assert b.level_db - a.level_db == pytest.approx(-60.0, abs=1e-5)  # float32 input
    assert _p56.active_speech_level(np.zeros(SR), SR).power == 0.0
    with pytest.raises(P.SilentInputError):
        F.signal_power(np.zeros(SR, np.float32), SR, "p56")


@pytest.mark.parametrize("level", ["whole", "p56"])
@pytest.mark.parametrize("kind", ["awgn", "pink", "babble"])
def test_snr_is_exact_under_either_definition(level, kind, tmp_path):
    x = np.zeros(8 * SR, np.float32)
    x[: 2 * SR] = _gated_tone(1.0)[: 2 * SR]  # 2 s of tone, 6 s of silence
    p = P.parse_condition(f"{kind}:snr_db=5,level={level}")
    if kind == "babble":
        import pandas as pd
        import soundfile as sf

        paths = []
        for i in range(4):
            sf.write(tmp_path / f"t{i}.wav", speechlike(np.random.default_rng(i), 1.0, SR), SR)
            paths.append(str(tmp_path / f"t{i}.wav"))
        p.bind_corpus(pd.DataFrame({"utt_id": [f"t{i}" for i in range(4)], "path": paths,
                                    "speaker": [f"s{i}" for i in range(4)]}))
    y, rec = P.render(p, x, SR, np.random.default_rng(3), context={"utt_id": "u", "speaker": "me"})
    noise = np.mean((y.astype(np.float64) - x) ** 2)
    whole = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / noise)
    p56 = 10 * np.log10(_p56.active_speech_level(x, SR).power / noise)
    assert rec[f"{kind}.achieved_snr_whole_db"] == pytest.approx(whole, abs=1e-3)
    assert rec[f"{kind}.achieved_snr_p56_db"] == pytest.approx(p56, abs=1e-3)
    assert (whole if level == "whole" else p56) == pytest.approx(5.0, abs=0.01)
    # the two definitions differ by the activity factor: ~10 log10(8 / 2) for this signal
    assert p56 - whole == pytest.approx(-10 * np.log10(_p56.active_speech_level(x, SR).activity),
                                        abs=1e-6)
    assert -10 * np.log10((2 + LATE) / 8) <= p56 - whole <= -10 * np.log10(2 / 8)


def _counts_by_definition(q, thresholds, hangover):
    """Per threshold, the samples whose last envelope value >= c lies at most ``hangover``
    samples back (none yet counts as -1: the voltmeter's counters start at 0)."""
    idx = np.arange(q.size)
    return np.array([np.count_nonzero(idx - np.maximum.accumulate(np.where(q >= c, idx, -1)) <= hangover)
                     for c in thresholds])


@pytest.mark.parametrize("n", [1, 10, 11, 1000, 20000])
@pytest.mark.parametrize("hangover", [0, 1, 10, 11, 3200])
def test_active_counts_follow_the_definition(n, hangover):
    rng = np.random.default_rng([n, hangover])
    q = np.abs(rng.standard_normal(n)) * (rng.random(n) < 0.3)  # bursts and gaps
    thresholds = np.concatenate([max(q.max(), 1e-3) * 2.0 ** (np.arange(15) - 15.0),
                                 q[:3]])  # thresholds equal to samples: the >= boundary
    np.testing.assert_array_equal(_p56._active_counts(q, thresholds, hangover),
                                  _counts_by_definition(q, thresholds, hangover))


def test_level_is_kept_by_content_not_by_array(monkeypatch):
    """Three SNRs of one utterance run the voltmeter once; changed samples, a copy, another
    rate or dtype are told apart, and the kept levels stay bounded."""
    x = speechlike(np.random.default_rng(11), 2.0, SR)
    fresh, changed = _p56._measure_level(x, SR), x.copy()
    changed[: SR // 2] *= 0.1
    changed_level = _p56._measure_level(changed, SR)
    passes = []
    envelope = _p56._envelope
    monkeypatch.setattr(_p56, "_envelope", lambda x, sr: passes.append(sr) or envelope(x, sr))
    monkeypatch.setattr(_p56, "_recent", type(_p56._recent)())
    for snr in (20, 10, 0):
        P.render(P.parse_condition(f"awgn:snr_db={snr}"), x, SR, np.random.default_rng(snr))
    assert len(passes) == 1  # every noise record measures the clean P.56 SNR
    assert _p56.active_speech_level(x.copy(), SR) == fresh  # same samples, another array: kept
    x[: SR // 2] *= 0.1  # the same array, other samples: measured again
    assert _p56.active_speech_level(x, SR) == changed_level != fresh
    _p56.active_speech_level(x, 2 * SR)
    _p56.active_speech_level(x.astype(np.float64), SR)
    assert x.dtype == np.float32
    _p56.active_speech_level(x.view(np.int32), SR)  # the same bytes read as other numbers
    one = x[np.flatnonzero(x)[:1]]  # one non-zero sample
    _p56.active_speech_level(one, SR)
    with pytest.raises(ValueError):  # as a fresh pass does: the 0-d sample is not the 1-sample array
        _p56.active_speech_level(one.reshape(()), SR)
    assert len(passes) == 7
    monkeypatch.setattr(_p56, "_RECENT", 3)
    for k in range(1, 6):
        _p56.active_speech_level(x[k:], SR)
    assert len(_p56._recent) == 3 and len(passes) == 12  # x[3:], x[4:], x[5:] kept
    _p56.active_speech_level(x[3:], SR)  # the oldest kept: now the most recent
    _p56.active_speech_level(x[6:], SR)  # a new one evicts x[4:], the least recent
    assert len(passes) == 13
    _p56.active_speech_level(x[3:], SR)
    _p56.active_speech_level(x[5:], SR)
    assert len(passes) == 13
    _p56.active_speech_level(x[4:], SR)
    assert len(passes) == 14
