"""Condition strings, dicts, canonical names, records and seeds."""

import json

import numpy as np
import pytest

import perturbations as P
from perturbations.base import Chain, Clean


@pytest.mark.parametrize("text, canonical", [
    ("clean", "clean"),
    ("awgn:snr_db=10.0", "awgn:snr_db=10"),
    (" AWGN : snr_db = 10 ", "awgn:snr_db=10"),
    ("awgn:snr_db=0.5,level=active", "awgn:snr_db=0.5,level=active"),
    ("awgn:snr_db=0.5,power=active", "awgn:snr_db=0.5,level=active"),  # the older spelling
    ("awgn:snr_db=10,power=whole", "awgn:snr_db=10"),
    ("babble:snr_db=5,level=p56", "babble:snr_db=5,level=p56"),
    ("mp3:bitrate_kbps=128", "mp3:bitrate_kbps=128"),
    ("reverb:rt60_s=0.30", "reverb:rt60_s=0.3"),
    ("reverb:rt60_s=0.3+awgn:snr_db=10", "reverb:rt60_s=0.3+awgn:snr_db=10"),
    ("clean+awgn:snr_db=10", "awgn:snr_db=10"),
    ("telephone", "telephone"),
    ("telephone:mulaw=false", "telephone:mulaw=false"),
    ("codec:format=amr-nb,bitrate_kbps=12.2", "codec:format=amr-nb,bitrate_kbps=12.2"),
])
def test_canonical_string(text, canonical):
    p = P.parse_condition(text)
    assert str(p) == canonical
    assert P.parse_condition(str(p)) == p
    assert P.condition_from_dict(p.to_dict()) == p
    assert P.condition_from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_kinds_and_dict_forms():
    assert isinstance(P.parse_condition("clean"), Clean)
    chain = P.parse_condition("reverb:rt60_s=0.3+awgn:snr_db=10+mp3:bitrate_kbps=64")
    assert isinstance(chain, Chain) and [s.name for s in chain.stages] == ["reverb", "awgn", "mp3"]
    assert P.condition_from_dict({"name": "awgn", "params": {"snr_db": 20}}) == P.AWGN(20.0)
    assert P.condition_from_dict("awgn:snr_db=20") == P.AWGN(20)
    assert P.Perturbation.from_dict({"name": "mp3", "bitrate_kbps": 128}) == P.MP3(128)
    nested = Chain((Chain((P.Gain(-6), P.AWGN(10))), Clean()))
    assert str(nested) == "gain:gain_db=-6+awgn:snr_db=10"


@pytest.mark.parametrize("text, fragment", [
    ("awgm:snr_db=10", "unknown perturbation 'awgm'"),
    ("awgn", "needs parameter(s) snr_db"),
    ("awgn:snr=10", "unknown parameter 'snr'"),
    ("awgn:snr_db=ten", "'snr_db=ten'"),
    ("awgn:snr_db10", "'snr_db10'"),
    ("awgn:snr_db=1,snr_db=2", "given twice"),
    ("awgn:snr_db=120", "snr_db=120"),
    ("awgn:snr_db=10,power=loud", "level='loud'"),
    ("awgn:snr_db=10,power=p56,level=p56", "given twice"),
    ("mp3:bitrate_kbps=100", "bitrate_kbps=100"),
    ("mp3:bitrate_kbps=128.5", "'bitrate_kbps=128.5'"),
    ("mp3:bitrate_kbps=128,quality=12", "quality=12"),
    ("reverb:rt60_s=5", "rt60_s=5"),
    ("reverb:rt60_s=-0.3", "rt60_s=-0.3"),
    ("gain:gain_db=90", "gain_db=90"),
    ("speed:factor=3", "factor=3"),
    ("pitch:semitones=20", "semitones=20"),
    ("clipping:clipped_pct=0", "clipped_pct=0"),
    ("telephone:low_hz=3500,high_hz=300", "low_hz=3500"),
    ("codec:format=wma,bitrate_kbps=64", "format='wma'"),
    ("codec:format=amr-nb,bitrate_kbps=64", "bitrate_kbps=64"),
    ("", "empty condition"),
    ("awgn:snr_db=10+", "empty perturbation name"),
])
def test_bad_conditions_name_the_value(text, fragment):
    with pytest.raises(P.PerturbationError) as info:
        P.parse_condition(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_unknown_lists_known_names():
    with pytest.raises(P.PerturbationError, match="known: awgn, babble"):
        P.parse_condition("hiss:snr_db=3")


def test_direct_construction_validates():
    with pytest.raises(ValueError, match="snr_db=-99"):
        P.AWGN(-99)
    with pytest.raises(P.PerturbationError, match="expected a number"):
        P.AWGN("loud")
    with pytest.raises(P.PerturbationError, match="unknown parameter"):
        P.condition_from_dict({"name": "awgn", "snr_db": 3, "colour": "white"})


def test_derive_rng_depends_on_each_part_only():
    a = P.derive_rng(1, "u1", "awgn:snr_db=10").integers(1 << 62, size=4)
    assert np.array_equal(a, P.derive_rng(1, "u1", "awgn:snr_db=10").integers(1 << 62, size=4))
    for other in (P.derive_rng(2, "u1", "awgn:snr_db=10"), P.derive_rng(1, "u2", "awgn:snr_db=10"),
                  P.derive_rng(1, "u1", "awgn:snr_db=20")):
        assert not np.array_equal(a, other.integers(1 << 62, size=4))
    with pytest.raises(P.PerturbationError, match="seed"):
        P.derive_rng(-1, "u1", "clean")


def test_record_is_flat_json_and_chain_keys_are_indexed():
    x = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    p = P.parse_condition("gain:gain_db=-6+awgn:snr_db=10")
    y, record = P.render(p, x, 16000, P.derive_rng(0, "u", str(p)))
    assert set(record) == {"0.gain.gain_db", "1.awgn.snr_db", "1.awgn.level",
                           "1.awgn.noise_seed", "1.awgn.achieved_snr_db",
                           "1.awgn.achieved_snr_whole_db", "1.awgn.achieved_snr_p56_db"}
    assert json.loads(json.dumps(record)) == record
    assert abs(record["1.awgn.achieved_snr_db"] - 10) < 0.01
    y2, record2 = P.render(P.Clean(), x, 16000, P.derive_rng(0, "u", "clean"))
    assert record2 == {} and np.array_equal(y2, x) and y2 is not x


def test_render_rejects_bad_waveforms():
    rng = np.random.default_rng(0)
    with pytest.raises(P.PerturbationError, match=r"shape \(time,\)"):
        P.render(P.Gain(1), np.zeros((2, 100), np.float32), 16000, rng)
    with pytest.raises(P.PerturbationError, match="NaN"):
        P.render(P.Gain(1), np.full(100, np.nan, np.float32), 16000, rng)
    with pytest.raises(P.PerturbationError, match="dtype int16"):
        P.render(P.Gain(1), np.zeros(100, np.int16), 16000, rng)
