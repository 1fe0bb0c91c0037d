"""The four defects of issue 15, each pinned by a test that failed before its fix.

1. audio written by the CLI is byte-identical across runs (no timestamped WAV ``PEAK`` chunk);
2. a gate on an unknown metric (or a threshold outside the metric's unit range) is refused
   before any audio is loaded;
3. count messages are pluralised (``1 speaker``, never ``1 speakers``);
4. a corpus file that does not fit the layout stops with an error that says how to skip it.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from _reliability_helpers import CLASSES, cli, riff_chunks


@pytest.fixture()
def noise_wav(tmp_path):
    path = tmp_path / "in.wav"
    rng = np.random.default_rng(0)
    sf.write(str(path), (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
    return path


# --- 1. byte-identical audio ---------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".wav", ".flac"])
def test_perturb_writes_the_same_bytes_every_time(noise_wav, tmp_path, capsys, suffix):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}{suffix}"
        code, _, err = cli(capsys, "perturb", str(noise_wav), "--condition", "awgn:snr_db=10",
                           "--seed", "7", "-o", str(out))
        assert code == 0, err
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    if suffix == ".wav":
        # libsndfile's PEAK chunk carries the write time (seconds): a run a second later differs
        assert b"PEAK" not in riff_chunks(outs[0])
        assert riff_chunks(outs[0]) == [b"fmt ", b"fact", b"data"]
        y, sr = sf.read(tmp_path / "a.wav", dtype="float32")
        assert sr == 16000 and y.dtype == np.float32 and y.shape == (8000,)
    assert not list(tmp_path.glob(".*tmp")), "a temporary file was left behind"


def test_write_audio_drops_peak_for_every_float_subtype(tmp_path):
    from audit.data import write_audio

    x = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    for subtype in ("FLOAT", "DOUBLE", "PCM_16", "PCM_24"):
        path = write_audio(tmp_path / f"{subtype}.wav", x, 8000, subtype=subtype)
        chunks = riff_chunks(path.read_bytes())
        assert b"PEAK" not in chunks and chunks[-1] == b"data", (subtype, chunks)
        y, sr = sf.read(path, dtype="float32")
        assert sr == 8000 and np.allclose(y, x, atol=1e-4)


def test_export_and_synth_write_the_same_bytes_every_time(tmp_path, capsys):
    for name in ("a", "b"):
        assert cli(capsys, "data", "synth", str(tmp_path / name), "--speakers", "2",
                   "--per-emotion", "1")[0] == 0
    a, b = sorted((tmp_path / "a" / "wav").glob("*.wav")), sorted((tmp_path / "b" / "wav").glob("*.wav"))
    assert len(a) == len(b) > 0 and all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    for fmt in ("wav", "flac"):
        for name in ("ea", "eb"):
            assert cli(capsys, "data", "export", str(tmp_path / "a" / "manifest.csv"), "--dest",
                       str(tmp_path / f"{name}{fmt}"), "--format", fmt, "--rate", "8000")[0] == 0
        x = sorted((tmp_path / f"ea{fmt}" / "audio").iterdir())
        y = sorted((tmp_path / f"eb{fmt}" / "audio").iterdir())
        assert len(x) == len(a) and all(p.read_bytes() == q.read_bytes() for p, q in zip(x, y))


# --- 2. gates validated before any audio is loaded ----------------------------------------------

@pytest.fixture()
def no_loading(monkeypatch):
    """Fail the test if the run gets as far as reading the data."""
    import audit.data

    def boom(*a, **k):
        raise AssertionError("the data was loaded before the gate rules were checked")

    monkeypatch.setattr(audit.data, "load_data", boom)


@pytest.mark.parametrize("rule, fragment", [
    ("ua_dropp>10", "metric 'ua_dropp' is not a known metric"),
    ("gender_ua_gapp>5", "metric 'gender_ua_gapp' is not a known metric"),
    ("speaker_ua_gap>5", "'speaker' is not a group of this scenario"),
    ("gender_ua_ratio<80", "outside the range of gender_ua_ratio"),
    ("ua>150", "outside the range of ua"),
    ("ua_drop>-120", "outside the range of ua_drop"),
])
def test_gate_errors_come_before_the_evaluation(no_loading, capsys, tmp_path, rule, fragment):
    code, out, err = cli(capsys, "run", "noise", "--snr", "10", "--data", str(tmp_path / "x.csv"),
                         "--models", str(tmp_path / "m"), "--out", str(tmp_path / "r"),
                         "--fail-if", rule)
    assert code == 2 and err.startswith("error: gate rule") and fragment in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_spec_threshold_typo_comes_before_the_evaluation(no_loading, capsys, tmp_path):
    spec = tmp_path / "s.toml"
    spec.write_text('name = "s"\nconditions = ["awgn:snr_db=10"]\nthresholds = ["ua_dorp>10"]\n')
    code, _, err = cli(capsys, "run", str(spec), "--data", str(tmp_path / "x.csv"),
                       "--models", str(tmp_path / "m"), "--out", str(tmp_path / "r"))
    assert code == 2 and "ua_dorp" in err and "did you mean 'ua_drop'" in err, err


def test_valid_rules_pass_the_early_check():
    from audit.analysis.gates import validate_rules

    rules = ["ua_drop>10", "wa<50", "gender_ua_gap>5", "gender_ua_ratio<0.8",
             "gender&emotion_macro_f1_difference>=20", "precision:angry<10", "flip_rate>30",
             "brier>0.5", "ua_relative_drop>40", "small_group>=1", "n_speakers<3"]
    parsed = validate_rules(rules, groups=["gender"], intersections=[["gender", "emotion"]],
                            classes=CLASSES)
    assert [r.text for r in parsed] == rules
    with pytest.raises(Exception, match="class 'calm'"):
        validate_rules(["recall:calm<5"], groups=["gender"], classes=CLASSES)


def test_the_early_check_knows_every_metric_analyse_writes():
    """Drift guard: each group-``all`` metric that ``analyse`` emits passes ``validate_rules``."""
    from audit.analysis import analyse
    from audit.analysis.gates import validate_rules

    rng = np.random.default_rng(0)
    rows = []
    for cond in ("clean", "awgn:snr_db=10"):
        for s in range(4):
            for i, emo in enumerate(CLASSES):
                p = rng.dirichlet(np.ones(4))
                rows.append(dict(model="m", fold=s % 2, condition=cond, utt_id=f"s{s}_{i}",
                                 speaker=f"s{s}", gender="female" if s % 2 else "male",
                                 emotion=emo, prediction=CLASSES[int(p.argmax())],
                                 **{f"p_{c}": p[j] for j, c in enumerate(CLASSES)}))
    metrics = analyse(pd.DataFrame(rows), scenario="t", classes=CLASSES, groups=["gender"],
                      intersections=[["gender", "emotion"]], n_boot=0, min_group_speakers=5)
    names = sorted(set(metrics.loc[metrics["group"] == "all", "metric"]))
    # a gender x emotion cell holds one class: its score is that class's recall
    assert {"ua_drop", "gender_ua_difference", "gender&emotion_recall_ratio", "small_group"} <= set(names)
    validate_rules([f"{m}>=0" for m in names], groups=["gender"],
                   intersections=[["gender", "emotion"]], classes=CLASSES)


# --- 3. pluralised counts ------------------------------------------------------------------

_WRONG_PLURAL = re.compile(r"(?<![\d.])1 (utterances|speakers|folds|problems|files|classes|gates)\b")


def _one_speaker_csv(tmp_path) -> str:
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        sf.write(str(tmp_path / f"{name}.wav"), (0.1 * rng.standard_normal(1600)).astype(np.float32), 16000)
    csv = tmp_path / "one.csv"
    csv.write_text("utt_id,path,speaker,gender,emotion,fold\n"
                   "a,a.wav,s1,female,angry,0\nb,b.wav,s1,female,sad,0\n"
                   "c,missing.wav,s1,female,sad,0\n")
    return str(csv)


def test_counts_are_pluralised(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv = _one_speaker_csv(tmp_path)
    code, out, err = cli(capsys, "data", "info", csv, "--skip-bad")
    assert code == 0, err
    assert "1 speaker (1 female)" in out and "1 problem recorded" in err
    assert not _WRONG_PLURAL.findall(out + err), out + err
    code, out, err = cli(capsys, "data", "manifest", csv, "-o", str(tmp_path / "m.csv"), "--skip-bad")
    assert code == 0 and "2 utterances, 1 speaker, 1 fold," in out, out
    assert not _WRONG_PLURAL.findall(out + err), out + err


def test_plural_helper():
    from audit._text import plural

    assert [plural(n, "speaker") for n in (0, 1, 2)] == ["0 speakers", "1 speaker", "2 speakers"]
    assert plural(1, "class", "classes") == "1 class" and plural(3, "class", "classes") == "3 classes"


# --- 4. a file outside the layout says how to skip it ------------------------------------------

def test_layout_error_names_skip_bad(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    actor = tmp_path / "c" / "Actor_01"
    actor.mkdir(parents=True)
    tone = (0.1 * np.sin(np.arange(1600) / 5)).astype(np.float32)
    sf.write(str(actor / "03-01-03-01-01-01-01.wav"), tone, 16000)
    sf.write(str(actor / "03-01-11-01-01-01-01.wav"), tone, 16000)  # emotion code 11 does not exist
    code, _, err = cli(capsys, "data", "info", str(tmp_path / "c"))
    assert code == 2 and "03-01-11-01-01-01-01" in err and "--skip-bad" in err, err
    assert "problems.csv" in err and len(err.strip().splitlines()) == 1
    code, out, err = cli(capsys, "data", "info", str(tmp_path / "c"), "--skip-bad")
    assert code == 0 and "1 problem recorded" in err
