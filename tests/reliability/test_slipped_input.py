"""Issue 33: hostile inputs that used to slip through, each pinned by a test that failed first.

2. symlinked folders are followed by the corpus walker, a loop is named as a loop;
3. two checkpoints claiming the same fold are refused;
4. condition values are kept exactly (no ``{:g}`` rounding, no false parse error on ``1e+06``);
6. one file under two ids is counted once (or refused), conflicting labels are named;
and ``audit data info`` describes a one-speaker folder instead of refusing it.
Every test writes its own audio.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from _reliability_helpers import cli


def _wav(path: Path, n: int = 1600, sr: int = 16000, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sf.write(str(path), (0.1 * rng.standard_normal(n)).astype(np.float32), sr, subtype="PCM_16")
    return path


def _tess(root: Path) -> Path:
    """A TESS tree: 2 speakers x 3 emotions x 2 words (12 files)."""
    for spk in ("OAF", "YAF"):
        for emo in ("angry", "happy", "sad"):
            for i, word in enumerate(("back", "bath")):
                _wav(root / f"{spk}_{emo}" / f"{spk}_{word}_{emo}.wav", seed=i)
    return root


def _csv(path: Path, rows: list[tuple[str, str, str, str, str]]) -> Path:
    lines = ["utt_id,path,speaker,gender,emotion"] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- 2. symlinked folders -------------------------------------------------------------------

def test_symlinked_emotion_folder_is_followed(tmp_path):
    from audit.data import load_data

    whole = load_data(_tess(tmp_path / "whole"))
    linked = _tess(tmp_path / "linked")
    shutil.move(linked / "YAF_sad", tmp_path / "elsewhere")
    (linked / "YAF_sad").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    df = load_data(linked)
    assert len(df) == len(whole) == 12
    assert sorted(df["utt_id"]) == sorted(whole["utt_id"])


def test_symlink_loop_inside_the_tree_is_named_a_loop(tmp_path, capsys):
    root = _tess(tmp_path / "tess")
    (root / "OAF_angry" / "again").symlink_to(root, target_is_directory=True)
    code, _, err = cli(capsys, "data", "info", str(root))
    assert code == 2 and "symlink loop" in err and str(root / "OAF_angry" / "again") in err, err
    assert len(err.strip().splitlines()) == 1


def test_folder_linked_twice_is_refused_not_counted_twice(tmp_path, capsys):
    root = _tess(tmp_path / "tess")
    (root / "extra").mkdir()
    (root / "extra" / "YAF_sad").symlink_to(root / "YAF_sad", target_is_directory=True)
    code, _, err = cli(capsys, "data", "info", str(root))
    assert code == 2 and "linked twice" in err and "YAF_sad" in err, err


def test_root_that_is_a_symlink_loop_says_so(tmp_path, capsys):
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    code, _, err = cli(capsys, "data", "info", str(loop))
    assert code == 2 and "symlink loop" in err and "no such file" not in err, err
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "gone")
    code, _, err = cli(capsys, "data", "info", str(dangling))
    assert code == 2 and "broken symlink" in err and str(tmp_path / "gone") in err, err


# --- 3. two checkpoints claiming one fold -----------------------------------------------------

def _copied(fold_models: Path, dest: Path, src: str, dst: str) -> Path:
    """A copy of the checkpoint folder in which checkpoint ``src`` is copied to ``dst``."""
    shutil.copytree(fold_models, dest)
    for ext in (".json", ".safetensors"):
        shutil.copy(dest / f"{src}{ext}", dest / f"{dst}{ext}")
    return dest


def test_copied_sidecar_claiming_another_fold_is_refused(fold_models, tmp_path, capsys, corpus):
    from audit.errors import AuditError
    from audit.models import load_model

    bad = _copied(fold_models, tmp_path / "macnn", "fold0", "fold1")
    with pytest.raises(AuditError, match=r"fold1\.json.*says fold 0.*named fold 1"):
        load_model(bad)
    code, _, err = cli(capsys, "run", "noise", "--snr", "0", "--data", str(corpus), "--models",
                       str(bad), "--out", str(tmp_path / "run"), "--no-report")
    assert code == 2 and "fold1.json" in err and len(err.strip().splitlines()) == 1, err


def test_two_file_names_for_one_fold_are_refused(fold_models, tmp_path):
    from audit.errors import AuditError
    from audit.models import load_model

    bad = _copied(fold_models, tmp_path / "macnn", "fold1", "fold01")
    with pytest.raises(AuditError, match=r"fold 1 is claimed by both fold1\.json and fold01\.json"):
        load_model(bad)
    assert sorted(load_model(fold_models).predictors) == [0, 1]  # the honest folder still loads


# --- 4. condition values kept exactly ---------------------------------------------------------

def test_cli_conditions_keep_every_digit():
    from audit.commands.run import build_scenario

    sc = build_scenario("noise", (12.3456789, 10.0, 0.0), (), (0.3,), ())
    assert "awgn:snr_db=12.3456789" in sc.conditions
    assert "awgn:snr_db=10" in sc.conditions and "awgn:snr_db=0" in sc.conditions
    sc = build_scenario(None, (), (128,), (0.123456789,), ())
    assert "reverb:rt60_s=0.123456789" in sc.conditions and "mp3:bitrate_kbps=128" in sc.conditions


def test_existing_condition_keys_are_unchanged():
    """The keys in the committed results/ must read exactly as before."""
    from audit.commands.run import build_scenario

    sc = build_scenario(None, (0.0, 10.0, 20.0), (128,), (0.3,), ())
    assert sc.conditions == ["clean", "awgn:snr_db=0", "awgn:snr_db=10", "awgn:snr_db=20",
                             "mp3:bitrate_kbps=128", "reverb:rt60_s=0.3"]


@pytest.mark.parametrize("snr", ["1e6", "1e9"])
def test_large_snr_is_refused_by_its_documented_range(tmp_path, capsys, snr):
    code, _, err = cli(capsys, "run", "noise", "--snr", snr, "--data", str(tmp_path / "x.csv"),
                       "--models", str(tmp_path / "m"), "--out", str(tmp_path / "r"))
    assert code == 2 and "outside [-30.0, 80.0] dB" in err and "bad value" not in err, err
    assert str(int(float(snr))) in err


def test_exponent_with_plus_sign_is_a_number_not_a_stage():
    from perturbations import PerturbationError, parse_condition

    assert str(parse_condition("gain:gain_db=1e+01")) == "gain:gain_db=10"
    assert str(parse_condition("reverb:rt60_s=3e-1+awgn:snr_db=1.5E+1")) == \
        "reverb:rt60_s=0.3+awgn:snr_db=15"
    with pytest.raises(PerturbationError, match=r"outside \[-30.0, 80.0\] dB"):
        parse_condition("awgn:snr_db=1e+06")


def test_table_labels_keep_every_digit():
    from audit.report.tables import table15_noise

    rows = [dict(model="m", condition=c, group="all", metric=m, value=50.0, ci_low=40.0,
                 ci_high=60.0, n=10, fold="mean")
            for c in ("clean", "awgn:snr_db=12.3456789", "awgn:snr_db=12.3457") for m in ("wa", "ua")]
    table = table15_noise(pd.DataFrame(rows))
    labels = list(table.iloc[:, 0])
    assert "12.3456789 dB SNR" in labels and "12.3457 dB SNR" in labels, labels


# --- 6. one file under two ids ----------------------------------------------------------------

def test_same_file_with_conflicting_labels_is_named_and_left_out(tmp_path):
    from audit.data import ProblemLog, load_data
    from audit.errors import AuditError

    for i in range(4):
        _wav(tmp_path / f"u{i}.wav", seed=i)
    csv = _csv(tmp_path / "m.csv", [("a", "u0.wav", "s1", "female", "happy"),
                                     ("b", "u1.wav", "s2", "male", "sad"),
                                     ("c", "u2.wav", "s1", "female", "angry"),
                                     ("d", "u3.wav", "s2", "male", "neutral"),
                                     ("twin", "./u0.wav", "s1", "female", "sad")])
    with pytest.raises(AuditError, match=r"'twin'.*same file as utterance 'a'.*conflicting "
                                         r"labels: emotion happy vs sad"):
        load_data(csv)
    problems = ProblemLog()
    df = load_data(csv, skip_bad=True, problems=problems)
    assert sorted(df["utt_id"]) == ["b", "c", "d"]  # neither label of u0.wav can be trusted
    assert sorted(r["utt_id"] for r in problems.rows) == ["a", "twin"]
    assert all("happy vs sad" in r["problem"] for r in problems.rows)


def test_same_file_with_the_same_labels_is_counted_once(tmp_path):
    from audit.data import ProblemLog, load_data

    for i in range(4):
        _wav(tmp_path / f"u{i}.wav", seed=i)
    os.symlink(tmp_path / "u1.wav", tmp_path / "alias.wav")
    csv = _csv(tmp_path / "m.csv", [("a", "u0.wav", "s1", "female", "happy"),
                                     ("b", "u1.wav", "s2", "male", "sad"),
                                     ("c", "u2.wav", "s1", "female", "angry"),
                                     ("d", "u3.wav", "s2", "male", "neutral"),
                                     ("b2", "alias.wav", "s2", "male", "sad")])
    problems = ProblemLog()
    df = load_data(csv, skip_bad=True, problems=problems)
    assert sorted(df["utt_id"]) == ["a", "b", "c", "d"]
    (row,) = problems.rows
    assert row["utt_id"] == "b2" and "same file as utterance 'b'" in row["problem"]


# --- audit data info on one speaker -----------------------------------------------------------

def test_data_info_describes_a_one_speaker_folder(tmp_path, capsys):
    for i, emo in enumerate(("happy", "sad", "angry")):
        _wav(tmp_path / f"u{i}.wav", seed=i)
    csv = _csv(tmp_path / "m.csv", [(f"u{i}", f"u{i}.wav", "solo", "female", emo)
                                     for i, emo in enumerate(("happy", "sad", "angry"))])
    code, out, err = cli(capsys, "data", "info", str(csv))
    assert code == 0, err
    assert "utterances: 3" in out and "speakers: 1" in out
    assert "folds: none" in out and "1 speaker" in out, out
    code, out, _ = cli(capsys, "data", "info", str(csv), "--json")
    assert code == 0 and json.loads(out)["folds"] == {}
    # asking for folds still says why it cannot make them
    code, _, err = cli(capsys, "data", "info", str(csv), "--folds", "2")
    assert code == 2 and "1 speaker" in err, err
