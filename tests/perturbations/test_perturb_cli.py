"""``audit perturb``: renders a file, prints one JSON line; user errors exit 2 without traceback."""

import json

import numpy as np
import pytest
import soundfile as sf

from audit.cli import main


def _run(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


@pytest.fixture()
def stereo_flac(tmp_path):
    rng = np.random.default_rng(0)
    data = (0.1 * rng.standard_normal((48000, 2))).astype(np.float32)
    path = tmp_path / "in.flac"
    sf.write(path, data, 48000)
    return path


def test_perturb_writes_audio_and_json(stereo_flac, tmp_path, capsys):
    out = tmp_path / "out" / "noisy.wav"
    code, stdout, _ = _run(["perturb", str(stereo_flac), "--condition",
                            "reverb:rt60_s=0.3+awgn:snr_db=10", "--seed", "4", "-o", str(out)], capsys)
    assert code == 0
    lines = stdout.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["condition"] == "reverb:rt60_s=0.3+awgn:snr_db=10"
    assert record["sample_rate"] == 48000 and record["utt_id"] == "in" and record["seed"] == 4
    assert abs(record["1.awgn.achieved_snr_db"] - 10) < 0.01
    assert abs(record["0.reverb.measured_rt60_s"] / 0.3 - 1) < 0.1
    y, sr = sf.read(out, dtype="float32")
    assert sr == 48000 and y.shape == (48000,)
    # same seed: same file; the root --seed is used when the command has none
    out2 = tmp_path / "again.wav"
    assert _run(["--seed", "4", "perturb", str(stereo_flac), "-c",
                 "reverb:rt60_s=0.3+awgn:snr_db=10", "-o", str(out2)], capsys)[0] == 0
    assert np.array_equal(sf.read(out2, dtype="float32")[0], y)


def _one_line_error(err: str) -> bool:
    """stderr is exactly one ``error: ...`` line, with no traceback."""
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("args, fragment", [
    (["--condition", "awgm:snr_db=10"], "unknown perturbation 'awgm' in 'awgm:snr_db=10'; known: awgn,"),
    (["--condition", "babble:snr_db=5"], "condition babble:snr_db=5 needs --data (a corpus folder"),
])
def test_perturb_user_errors(stereo_flac, tmp_path, capsys, args, fragment):
    code, _, err = _run(["perturb", str(stereo_flac), *args, "-o", str(tmp_path / "o.wav")], capsys)
    assert code == 2
    assert _one_line_error(err) and fragment in err


def test_perturb_unreadable_and_silent_input(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    code, _, err = _run(["perturb", str(bad), "-c", "awgn:snr_db=0", "-o", str(tmp_path / "o.wav")],
                        capsys)
    assert code == 2 and _one_line_error(err)
    assert err.startswith(f"error: {bad}: cannot read audio (")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(1600, np.float32), 16000)
    code, _, err = _run(["perturb", str(silent), "-c", "awgn:snr_db=0", "-o",
                         str(tmp_path / "o.wav")], capsys)
    assert code == 2 and _one_line_error(err)
    assert err.startswith(f"error: {silent}: awgn: the input is silent (all zeros)")
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.ravdess
def test_ravdess_utterance_at_native_rate(ravdess_root, tmp_path, capsys):
    path = sorted(ravdess_root.glob("Actor_01/*.flac"))[0]
    out = tmp_path / "o.wav"
    code, stdout, _ = _run(["perturb", str(path), "-c", "awgn:snr_db=20+mp3:bitrate_kbps=128",
                            "-o", str(out)], capsys)
    assert code == 0
    record = json.loads(stdout)
    assert record["sample_rate"] == 48000 and record["1.mp3.codec_sample_rate"] == 48000
    assert abs(record["0.awgn.achieved_snr_db"] - 20) < 0.01
    assert sf.info(out).frames == sf.info(path).frames


def test_perturb_babble_with_corpus(tmp_path, capsys):
    from audit.data import write_synthetic_corpus

    manifest = write_synthetic_corpus(tmp_path / "corpus", seed=0)
    wav = sorted((tmp_path / "corpus").rglob("*.wav"))[0]
    code, stdout, _ = _run(["perturb", str(wav), "-c", "babble:snr_db=5,talkers=2", "--data",
                            str(manifest), "-o", str(tmp_path / "b.flac")], capsys)
    assert code == 0
    record = json.loads(stdout)
    assert abs(record["babble.achieved_snr_db"] - 5) < 0.01
    own_speaker = wav.stem.split("_")[0]
    assert own_speaker not in record["babble.talker_paths"]
    assert sf.info(tmp_path / "b.flac").frames == sf.info(wav).frames
    code, _, err = _run(["perturb", str(wav), "-c", "awgn:snr_db=5", "-o", str(tmp_path / "b.mp3")],
                        capsys)
    assert code == 2 and ".wav or .flac" in err
