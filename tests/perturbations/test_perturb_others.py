"""Beyond the paper: telephone, clipping, gain, speed, pitch, babble, ffmpeg codecs."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from _signals import band_energy, speechlike, xcorr_lag

import perturbations as P
from perturbations import functional as F
from perturbations.codec import CODECS, ffmpeg_encoders, ffmpeg_missing

SR = 16000


def _noise(seconds=0.5, sr=SR, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def _render(text, x, sr=SR, seed=0, context=None):
    p = P.parse_condition(text)
    y, record = P.render(p, x, sr, P.derive_rng(seed, "u", str(p)), context=context)
    assert y.shape == x.shape and y.dtype == x.dtype
    return y, record


def test_telephone_band_limits_and_alignment():
    x = _noise(1.0, 48000)
    y, _ = _render("telephone", x, 48000)
    inband = band_energy(y, 48000, 500, 3000) / band_energy(x, 48000, 500, 3000)
    assert 0.7 < inband < 1.3
    assert band_energy(y, 48000, 4500, 24000) < 1e-3 * band_energy(x, 48000, 4500, 24000)
    assert band_energy(y, 48000, 20, 120) < 0.05 * band_energy(x, 48000, 20, 120)
    assert xcorr_lag(x, y, 100) == 0
    linear, _ = _render("telephone:mulaw=false", x, 48000)
    assert not np.allclose(linear, y, atol=1e-4)  # companding adds quantisation noise


def test_clipping_fraction_and_threshold():
    x = _noise()
    y, record = _render("clipping:clipped_pct=10", x)
    assert record["clipping.clipped_fraction"] == pytest.approx(0.10, abs=0.005)
    assert np.max(np.abs(y)) < np.max(np.abs(x))
    keep = np.abs(x) < np.max(np.abs(y))
    assert np.array_equal(x[keep], y[keep])


def test_gain_exact():
    x = _noise()
    y, _ = _render("gain:gain_db=-6", x)
    assert 20 * np.log10(np.std(y) / np.std(x)) == pytest.approx(-6, abs=1e-4)


def test_speed_moves_frequency_and_keeps_length():
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    y, _ = _render("speed:factor=1.25", x)
    peak = np.fft.rfftfreq(x.size, 1 / SR)[np.argmax(np.abs(np.fft.rfft(y[: int(0.7 * SR)], n=x.size)))]
    assert peak == pytest.approx(1250, abs=5)
    assert np.all(y[int(0.81 * SR):] == 0)  # sped-up audio ends early, zero-padded
    slow, _ = _render("speed:factor=0.8", x)
    assert np.count_nonzero(slow[-100:]) > 0  # slowed audio is cut at the input length


def test_pitch_moves_frequency_not_duration():
    t = np.arange(SR) / SR
    x = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    y, _ = _render("pitch:semitones=12", x)
    peak = np.fft.rfftfreq(x.size, 1 / SR)[np.argmax(np.abs(np.fft.rfft(y)))]
    assert peak == pytest.approx(880, abs=10)
    assert np.std(y[-SR // 4:]) > 0.1  # still sounding at the end: the duration is kept


@pytest.fixture()
def corpus(tmp_path):
    rows = []
    rng = np.random.default_rng(0)
    for spk in range(5):
        for k in range(2):
            path = tmp_path / f"s{spk}_{k}.wav"
            # talkers at 22.05 kHz and in stereo: babble resamples and down-mixes
            sf.write(path, np.stack([speechlike(rng, 0.4, 22050)] * 2, axis=1), 22050)
            rows.append({"utt_id": f"s{spk}_{k}", "path": str(path), "speaker": f"spk{spk}"})
    return pd.DataFrame(rows)


def test_babble_other_speakers_exact_snr(corpus):
    p = P.parse_condition("babble:snr_db=5,talkers=3")
    p.bind_corpus(corpus)
    x = speechlike(np.random.default_rng(1), 1.0, SR)
    ctx = {"utt_id": "s0_0", "speaker": "spk0"}
    y, record = P.render(p, x, SR, P.derive_rng(0, "s0_0", str(p)), context=ctx)
    assert y.shape == x.shape and y.dtype == np.float32
    talkers = record["babble.talker_ids"].split(";")
    assert len(talkers) == 3 and not any(t.startswith("s0_") for t in talkers)
    assert len({t.split("_")[0] for t in talkers}) == 3  # distinct speakers
    assert abs(F.snr_db(x, y, SR) - 5) < 0.01
    again, record2 = P.render(p, x, SR, P.derive_rng(0, "s0_0", str(p)), context=ctx)
    assert np.array_equal(again, y) and record2 == record
    other, _ = P.render(p, x, SR, P.derive_rng(1, "s0_0", str(p)), context=ctx)
    assert not np.allclose(other, y)


def test_babble_in_a_chain_draws_the_same_talkers_as_alone(corpus):
    ctx = {"utt_id": "s0_0", "speaker": "spk0"}
    alone = P.parse_condition("babble:snr_db=5,talkers=3")
    chain = P.parse_condition("babble:snr_db=5,talkers=3+gain:gain_db=-3")
    alone.bind_corpus(corpus)
    chain.bind_corpus(corpus)  # the chain binds its babble stage
    x = speechlike(np.random.default_rng(1), 0.6, SR)
    _, rec = P.render(chain, x, SR, P.derive_rng(0, "s0_0", str(chain)), context=ctx)
    picked = rec["0.babble.talker_ids"].split(";")
    assert len(picked) == 3 and not any(t.startswith("s0_") for t in picked)
    assert chain.corpus_key() == alone.corpus_key()


def test_babble_corpus_key_follows_the_talker_pool(corpus):
    p = P.parse_condition("babble:snr_db=5,talkers=3")
    assert p.corpus_key() is None and P.parse_condition("awgn:snr_db=5").corpus_key() is None
    p.bind_corpus(corpus)
    full = p.corpus_key()
    p.bind_corpus(corpus.sample(frac=1.0, random_state=3))  # row order does not matter
    assert p.corpus_key() == full
    p.bind_corpus(corpus[corpus["speaker"] != "spk4"])  # a subset draws from other talkers
    assert p.corpus_key() != full and len(full) == 64


def test_babble_needs_corpus_and_enough_speakers(corpus):
    x = speechlike(np.random.default_rng(1), 0.3, SR)
    with pytest.raises(P.PerturbationError, match="bind_corpus"):
        _render("babble:snr_db=5", x)
    p = P.parse_condition("babble:snr_db=5,talkers=5")
    p.bind_corpus(corpus)
    with pytest.raises(P.PerturbationError, match="only 4 other speaker"):
        P.render(p, x, SR, np.random.default_rng(0), context={"speaker": "spk0"})
    with pytest.raises(P.PerturbationError, match="lacks column"):
        p.bind_corpus(corpus.drop(columns="speaker"))


def test_codec_without_ffmpeg_names_what_is_missing():
    if not ffmpeg_missing():
        pytest.skip("ffmpeg and pydub are present")
    with pytest.raises(P.PerturbationError, match="ffmpeg|pydub"):
        _render("codec:format=opus,bitrate_kbps=24", _noise())


@pytest.mark.skipif(bool(ffmpeg_missing()), reason="needs ffmpeg and pydub")
@pytest.mark.parametrize("text", ["codec:format=opus,bitrate_kbps=24",
                                  "codec:format=amr-nb,bitrate_kbps=12.2",
                                  "codec:format=aac,bitrate_kbps=64"])
def test_codec_roundtrip_aligned(text):
    p = P.parse_condition(text)
    encoder = CODECS[p.format][1]
    x = speechlike(np.random.default_rng(2), 1.0, SR) + _noise(1.0, SR, 3) * 0.2
    if encoder not in ffmpeg_encoders():
        with pytest.raises(P.PerturbationError, match=f"{encoder} encoder"):
            _render(text, x)
        pytest.skip(f"this ffmpeg has no {encoder} encoder (the error says so)")
    y, record = _render(text, x)
    assert xcorr_lag(x, y, 400) == 0
    assert not np.allclose(x, y, atol=1e-4)
    assert band_energy(y, SR, 300, 3000) == pytest.approx(band_energy(x, SR, 300, 3000), rel=0.5)
