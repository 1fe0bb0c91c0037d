"""Recorded noise (noise:dir=): generated recordings of several rates and channels, exact SNR,
seeded file and offset, looping, folder identity, bad files."""

import hashlib
import shutil

import numpy as np
import pytest
import soundfile as sf
from _signals import speechlike

import perturbations as P
from audit.data.recordings import NOISE_SPECS, write_noise_folder

SR = 48000


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_noise_folder(tmp_path_factory.mktemp("noise"), seed=5)


def _render(cond, x, seed, utt="u1"):
    p = P.parse_condition(cond)
    return p, *P.render(p, x, SR, P.derive_rng(seed, utt, str(p)))


def test_contract_string_and_round_trip(folder):
    p = P.parse_condition(f"noise:dir={folder},snr_db=10")
    assert str(p) == f"noise:dir={folder},snr_db=10"
    assert P.condition_from_dict(p.to_dict()) == p
    assert P.Perturbation.from_dict({"name": "noise", "dir": str(folder), "snr_db": 3,
                                     "level": "p56"}).level == "p56"
    with pytest.raises(P.PerturbationError, match="needs parameter"):
        P.parse_condition("noise:snr_db=10")


@pytest.mark.parametrize("level", ["whole", "p56"])
def test_snr_exact_and_record(folder, level):
    x = speechlike(np.random.default_rng(1), 1.5, SR)
    _, y, rec = _render(f"noise:dir={folder},snr_db=3,level={level}", x, 0)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert rec["noise.achieved_snr_db"] == pytest.approx(3.0, abs=0.01)
    noise = np.mean((y.astype(np.float64) - x) ** 2)
    whole = 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / noise)
    assert rec["noise.achieved_snr_whole_db"] == pytest.approx(whole, abs=1e-3)
    name = rec["noise.file"]
    assert name in {n for n, *_ in NOISE_SPECS}
    assert rec["noise.sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    seconds = sf.info(str(folder / name)).duration
    assert 0.0 <= rec["noise.offset_s"] < seconds
    assert rec["noise.looped"] == (rec["noise.offset_s"] + 1.5 > seconds - 1e-3)


def test_same_seed_same_file_and_offset_other_seeds_cover_the_folder(folder):
    x = speechlike(np.random.default_rng(2), 0.5, SR)
    _, y1, r1 = _render(f"noise:dir={folder},snr_db=10", x, 7)
    _, y2, r2 = _render(f"noise:dir={folder},snr_db=10", x, 7)
    assert np.array_equal(y1, y2) and r1 == r2
    p = P.parse_condition(f"noise:dir={folder},snr_db=10")
    params = [p.sample_params(P.derive_rng(s, "u1", str(p)), SR) for s in range(30)]
    picks = {(q["file"], q["offset_s"]) for q in params}
    assert {f for f, _ in picks} == {n for n, *_ in NOISE_SPECS}  # every rate/channel layout used
    assert len(picks) == 30  # offsets differ


def test_apply_reproduces_from_the_record(folder):
    x = speechlike(np.random.default_rng(3), 2.5, SR)  # longer than the 1 s file: it loops
    p = P.parse_condition(f"noise:dir={folder},snr_db=0")
    for seed in range(12):
        params = p.sample_params(np.random.default_rng(seed), SR)
        if params["file"].startswith("fan"):
            break
    y = p.apply(x, SR, params)
    assert p.measure(x, y, SR, params)["looped"] is True
    # the noise is the file resampled to 48 kHz, read from the offset, wrapped around
    rec = p._recording(SR, params)
    start = int(round(params["offset_s"] * SR)) % rec.size
    expected = np.take(rec, (start + np.arange(x.size)) % rec.size).astype(np.float64)
    got = y.astype(np.float64) - x
    assert np.corrcoef(got, expected)[0, 1] > 0.9999


def test_folder_identity_follows_content_not_place(folder, tmp_path):
    copy = shutil.copytree(folder, tmp_path / "copy")
    a = P.parse_condition(f"noise:dir={folder},snr_db=10").source()
    b = P.parse_condition(f"noise:dir={copy},snr_db=10").source()
    assert a["manifest_sha256"] == b["manifest_sha256"] and a["dir"] != b["dir"]
    assert a["n_files"] == 3 and a["ignored"] == ["README.txt"]
    data, rate = sf.read(str(copy / "hum_8k.wav"))
    sf.write(str(copy / "hum_8k.wav"), data[::-1], rate)  # same name, other content
    c = P.parse_condition(f"noise:dir={copy},snr_db=10").source()
    assert c["manifest_sha256"] != a["manifest_sha256"]


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "bad.wav").write_bytes(b"RIFF not really a wav"), "bad.wav: cannot read audio"),
    (lambda d: sf.write(str(d / "quiet.wav"), np.zeros(800), 8000), "quiet.wav: the file is silent"),
    (lambda d: (d / "notes.txt").write_text("no audio here"), "no audio files"),
])
def test_bad_folders_fail_with_one_line_naming_the_file(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(P.PerturbationError, match=message) as err:
        P.parse_condition(f"noise:dir={tmp_path},snr_db=10")
    assert "\n" not in str(err.value)
    with pytest.raises(P.PerturbationError, match="no such folder"):
        P.parse_condition(f"noise:dir={tmp_path / 'absent'},snr_db=10")


def test_an_empty_dir_is_refused_not_read_as_the_current_folder():
    with pytest.raises(P.PerturbationError, match="dir is empty"):
        P.condition_from_dict({"name": "noise", "dir": "", "snr_db": 10})
    with pytest.raises(P.PerturbationError, match="dir is empty"):
        P.condition_from_dict({"name": "rir", "dir": " "})
