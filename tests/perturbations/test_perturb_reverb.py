"""Reverb: RT60 of the seeded rooms, alignment, length, room bank, consistency with pyroomacoustics."""

import numpy as np
import pytest
from _signals import speechlike, xcorr_lag

import perturbations as P
from perturbations import _room
from perturbations._rt60 import measure_rt60

SR = 16000


@pytest.mark.parametrize("rt60, sr", [(0.3, SR), (0.8, SR), (0.3, 48000)])  # RAVDESS is 48 kHz
def test_measured_rt60_within_10_percent_for_95_percent_of_rooms(rt60, sr):
    import pyroomacoustics.experimental as pe

    p = P.Reverb(rt60, bank_size=20, bank_seed=11)
    # reach every room of the bank through the API (sample_params), one generator per seed
    picked = {}
    for seed in range(400):
        params = p.sample_params(np.random.default_rng(seed), sr)
        picked.setdefault(params["room"], params)
        if len(picked) == 20:
            break
    assert sorted(picked) == list(range(20))
    within = 0
    geometries = set()
    for index, params in sorted(picked.items()):
        room = _room.bank_room(rt60, sr, 11, index)
        geometries.add(room.geometry)
        assert params["measured_rt60_s"] == room.measured_rt60_s
        assert abs(params["measured_rt60_s"] / rt60 - 1) <= _room.TOLERANCE
        rir = p.rir(sr, params)  # rebuilt from the record alone
        # an independent measurement: pyroomacoustics' own Schroeder/T20 estimate
        independent = pe.measure_rt60(rir, sr, decay_db=20)
        assert independent == pytest.approx(room.measured_rt60_s, rel=0.03)
        within += abs(independent / rt60 - 1) <= 0.1
    assert len(geometries) == 20  # twenty different rooms, not one room twenty times
    assert within >= 19


@pytest.mark.parametrize("sr", [SR, 48000])
def test_apply_is_the_input_convolved_with_the_recorded_rir(sr):
    x = speechlike(np.random.default_rng(5), 0.5, sr)
    p = P.Reverb(0.3)
    y, record = P.render(p, x, sr, P.derive_rng(1, "utt", str(p)))
    params = {k.split(".", 1)[1]: v for k, v in record.items()}
    rir = p.rir(sr, params)
    assert rir.size == _room.rir_length(0.3, sr)  # the RIR of this rate, not of 16 kHz
    expected = np.convolve(x.astype(np.float64), rir)[: x.size]  # direct, float64
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_rt60_measurement_on_a_known_decay():
    rng = np.random.default_rng(0)
    sr = 48000
    for rt60 in (0.25, 0.6):
        t = np.arange(int(1.5 * rt60 * sr)) / sr
        rir = rng.standard_normal(t.size) * 10 ** (-3 * t / rt60)  # -60 dB at t = rt60
        assert measure_rt60(rir, sr) == pytest.approx(rt60, rel=0.05)
        assert measure_rt60(rir, sr, "T30") == pytest.approx(rt60, rel=0.05)
    with pytest.raises(P.PerturbationError, match="decays only"):
        measure_rt60(np.ones(100), SR)


def test_reverb_output_aligned_same_length_dtype():
    # white noise: a periodic test signal would correlate as well one period away
    x = (0.1 * np.random.default_rng(2).standard_normal(SR)).astype(np.float32)
    p = P.Reverb(0.3)
    y, record = P.render(p, x, SR, P.derive_rng(0, "u", str(p)))
    assert y.dtype == np.float32 and y.shape == x.shape
    assert xcorr_lag(x, y, 400) == 0
    assert not np.allclose(x, y, atol=1e-3)
    rir = p.rir(SR, {k.split(".", 1)[1]: v for k, v in record.items()})
    assert np.argmax(np.abs(rir)) == 0 and np.sum(rir**2) == pytest.approx(1.0)
    assert abs(record["reverb.measured_rt60_s"] / 0.3 - 1) <= 0.02
    for key in ("room", "room_x_m", "source_z_m", "mic_y_m", "absorption"):
        assert f"reverb.{key}" in record
    lo, hi = _room.ROOM_RANGES_M[0]
    assert lo <= record["reverb.room_x_m"] <= hi


def test_reverb_seeds_pick_rooms_independently_of_order():
    p = P.Reverb(0.3, bank_size=4)
    ids = [f"utt{i}" for i in range(12)]
    forward = {u: p.sample_params(P.derive_rng(5, u, str(p)), SR)["room"] for u in ids}
    backward = {u: p.sample_params(P.derive_rng(5, u, str(p)), SR)["room"] for u in reversed(ids)}
    assert forward == backward
    assert len(set(forward.values())) > 1
    x = speechlike(np.random.default_rng(2), 0.3, SR)
    a, _ = P.render(p, x, SR, P.derive_rng(5, "utt0", str(p)))
    b, _ = P.render(p, x, SR, P.derive_rng(5, "utt0", str(p)))
    assert np.array_equal(a, b)
    other = next(u for u in ids if forward[u] != forward["utt0"])
    c, _ = P.render(p, x, SR, P.derive_rng(5, other, str(p)))
    assert not np.allclose(a, c)


def test_rir_rebuilt_from_record_is_identical():
    p = P.Reverb(0.3, bank_size=2, bank_seed=3)
    params = p.sample_params(np.random.default_rng(1), SR)
    cached = p.rir(SR, params)
    _room._RIRS.clear()
    assert np.array_equal(p.rir(SR, params), cached)


def test_fresh_room_per_utterance():
    p = P.Reverb(0.2, bank_size=0)
    a = p.sample_params(np.random.default_rng(1), SR)
    b = p.sample_params(np.random.default_rng(2), SR)
    assert a["room"] == -1 and a["room_x_m"] != b["room_x_m"]
    assert abs(a["measured_rt60_s"] / 0.2 - 1) <= 0.05


def test_components_match_pyroomacoustics_rir():
    """Our per-order build is pyroomacoustics' image-source RIR, delay and scale aside."""
    import pyroomacoustics as pra

    g = _room.sample_geometry(np.random.default_rng(4))
    # put the microphone at a whole number of samples from the source, so that pyroomacoustics'
    # absolute delays and our direct-path-relative ones differ by an integer shift
    d = np.subtract(g.mic, g.source)
    d0 = np.linalg.norm(d)
    step = _room.SPEED_OF_SOUND / SR
    mic = tuple(np.asarray(g.source) + d / d0 * round(d0 / step) * step)
    geom = _room.Geometry(g.dims, g.source, mic)
    length = 1200
    h = _room.order_components(geom, SR, length)
    absorption = 0.4
    ours = (np.sqrt(1 - absorption) ** np.arange(h.shape[0])) @ h
    order = h.shape[0] - 1
    room = pra.ShoeBox(geom.dims, fs=SR, materials=pra.Material(absorption), max_order=order,
                       air_absorption=False, ray_tracing=False)
    room.add_source(list(geom.source))
    room.add_microphone(list(geom.mic))
    pra.constants.set("rir_hpf_enable", False)
    try:
        room.compute_rir()
    finally:
        pra.constants.set("rir_hpf_enable", True)
    theirs = room.rir[0][0]
    d0 = np.linalg.norm(np.subtract(geom.source, geom.mic))
    shift = int(round(d0 / step))  # their absolute delay; ours is relative to the direct path
    n = length - 81  # every tap before the cut-off (images past it leak 40 taps of sinc)
    theirs = theirs[shift: shift + n] * d0  # their amplitude is 1/d, ours d0/d
    np.testing.assert_allclose(ours[:n], theirs, atol=1e-4 * np.abs(theirs).max())


def test_rt60_out_of_range_rejected():
    with pytest.raises(ValueError, match="rt60_s=2.5"):
        P.Reverb(2.5)
    with pytest.raises(ValueError, match="bank_size=-1"):
        P.Reverb(0.3, bank_size=-1)
