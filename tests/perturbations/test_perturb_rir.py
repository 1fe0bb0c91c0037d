"""Measured impulse responses (rir:dir=): ISO 3382-1 decay times of IRs of known decay,
alignment at the direct path, unit energy, seeded choice."""

import numpy as np
import pytest
from _signals import speechlike

import perturbations as P
from audit.data.recordings import IR_SPECS, decaying_ir, write_ir_folder
from perturbations._iso3382 import decay_times

SR = 48000


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_ir_folder(tmp_path_factory.mktemp("rir"), seed=3)


@pytest.mark.parametrize("t60, rate, floor_db", [(0.3, 16000, 80.0), (0.8, 48000, 70.0),
                                                 (0.5, 44100, 80.0)])
def test_t30_within_5_percent_of_the_decay_it_was_built_with(t60, rate, floor_db):
    ir = decaying_ir(np.random.default_rng(0), rate, t60, 0.0, floor_db)
    d = decay_times(ir, rate)
    assert d["t30_s"] == pytest.approx(t60, rel=0.05)
    assert d["t20_s"] == pytest.approx(t60, rel=0.05)
    assert d["noise_floor_db"] == pytest.approx(-floor_db, abs=3.0)
    # without truncation and compensation the floor would stretch T30 (what they are for)
    plain = np.cumsum((ir ** 2)[::-1])[::-1]
    from perturbations._rt60 import fit_decay

    assert fit_decay(10 * np.log10(plain / plain[0]), rate, "T30") > d["t30_s"]


def test_a_range_not_10_db_above_the_noise_floor_is_none():
    # 10 ms-block peak to noise: ~12 dB (nothing), ~31 dB (EDT only), ~38 dB (EDT and T20)
    for floor, reached in ((30.0, ()), (50.0, ("edt_s",)), (60.0, ("edt_s", "t20_s"))):
        d = decay_times(decaying_ir(np.random.default_rng(0), 44100, 0.5, 0.0, floor), 44100)
        for key in ("edt_s", "t20_s", "t30_s"):
            if key in reached:
                assert d[key] == pytest.approx(0.5, rel=0.05)
            else:
                assert d[key] is None


def test_condition_records_the_files_decay_times(folder):
    p = P.parse_condition(f"rir:dir={folder}")
    assert str(p) == f"rir:dir={folder}" and P.condition_from_dict(p.to_dict()) == p
    t60 = {name: t for name, _, _, t, _, _ in IR_SPECS}
    seen = set()
    for seed in range(20):
        params = p.sample_params(np.random.default_rng(seed), SR)
        seen.add(params["file"])
        assert params["t30_s"] == pytest.approx(t60[params["file"]], rel=0.05)
        assert params["measured_rt60_s"] == params["t30_s"]
        assert params["direct_delay_s"] > 0  # the pre-delay, measured and removed
    assert seen == set(t60)
    x = speechlike(np.random.default_rng(4), 1.0, SR)
    y1, r1 = P.render(p, x, SR, P.derive_rng(1, "u", str(p)))
    y2, r2 = P.render(p, x, SR, P.derive_rng(1, "u", str(p)))
    assert np.array_equal(y1, y2) and r1 == r2 and y1.shape == x.shape and y1.dtype == x.dtype


def test_output_is_aligned_and_the_rir_has_unit_energy(folder):
    p = P.parse_condition(f"rir:dir={folder}")
    x = np.zeros(SR, np.float32)
    x[1000] = 1.0  # a click: its echo's strongest arrival, the direct path, stays at 1000
    for seed in range(6):
        params = p.sample_params(np.random.default_rng(seed), SR)
        h = p.rir(SR, params)
        assert np.sum(h.astype(np.float64) ** 2) == pytest.approx(1.0, rel=1e-6)
        assert int(np.argmax(np.abs(h))) == 0  # the direct path is tap 0
        y = p.apply(x, SR, params)
        assert int(np.argmax(np.abs(y))) == 1000 and np.abs(y[:1000]).max() < 1e-6
