"""`audit reproducibility`: --runs over finished runs, input errors, and seeds trained end to end."""

from __future__ import annotations

import json

import pandas as pd
import pytest


def _fake_run(path, preds: str, *, manifest="abc", groups=("gender",)):
    """A finished run folder: predictions.csv (2 conditions) and the run.json keys used."""
    path.mkdir(parents=True)
    rows = [dict(model="m", fold=i % 2, condition=c, utt_id=f"u{i}", speaker=f"s{i}",
                 gender="fm"[i % 2], emotion="ab"[i % 2], prediction=p)
            for c in ("clean", "awgn:snr_db=0") for i, p in enumerate(preds)]
    pd.DataFrame(rows).to_csv(path / "predictions.csv", index=False)
    (path / "run.json").write_text(json.dumps({"data": {"manifest_sha256": manifest},
                                               "scenario": {"groups": list(groups)}}))
    return path


def test_runs_mode_writes_tables_plot_and_html(tmp_path, audit_cli):
    runs = [_fake_run(tmp_path / f"s{i}", p) for i, p in enumerate(["abab", "abaa", "bbab"])]
    out = tmp_path / "repro"
    code, stdout, err = audit_cli("reproducibility", "--runs", *map(str, runs), "--out", str(out))
    assert code == 0, err
    summary = pd.read_csv(out / "reproducibility.csv")
    assert set(summary["condition"]) == {"clean", "awgn:snr_db=0"}
    assert set(summary["group"]) == {"all", "gender=f", "gender=m"}  # groups from run.json
    per_run = pd.read_csv(out / "reproducibility_runs.csv")
    assert sorted(per_run["run"].unique()) == ["s0", "s1", "s2"]
    assert (out / "plots" / "reproducibility_m.png").stat().st_size > 1000
    page = (out / "reproducibility.html").read_text()
    assert "fleiss_kappa" in page and "data:image/png;base64" in page
    assert "reproducibility across 3 runs" in stdout


def test_runs_mode_is_deterministic(tmp_path, audit_cli):
    """A second comparison of the same runs, their predictions' rows shuffled, in a fresh
    interpreter (another hash seed), writes the same bytes."""
    import os
    import shutil
    import subprocess
    import sys

    import numpy as np

    runs = [_fake_run(tmp_path / "a" / f"s{i}", p) for i, p in enumerate(["abab", "abaa", "bbab"])]
    assert audit_cli("reproducibility", "--runs", *map(str, runs), "--out", str(tmp_path / "x"))[0] == 0
    shuffled = []
    for i, run in enumerate(runs):
        copy = tmp_path / "b" / run.name
        shutil.copytree(run, copy)
        df = pd.read_csv(copy / "predictions.csv")
        df.iloc[np.random.default_rng(i).permutation(len(df))].to_csv(copy / "predictions.csv", index=False)
        shuffled.append(copy)
    assert (shuffled[0] / "predictions.csv").read_bytes() != (runs[0] / "predictions.csv").read_bytes()
    subprocess.run([sys.executable, "-m", "audit", "reproducibility", "--runs", *map(str, shuffled),
                    "--out", str(tmp_path / "y")], check=True, capture_output=True, timeout=600,
                   env={**os.environ, "PYTHONHASHSEED": "99"})
    for name in ("reproducibility.csv", "reproducibility_runs.csv", "plots/reproducibility_m.png"):
        assert (tmp_path / "x" / name).read_bytes() == (tmp_path / "y" / name).read_bytes(), name


@pytest.mark.parametrize("setup, needle", [
    (lambda t: [_fake_run(t / "a", "abab")], "need at least 2 runs"),
    (lambda t: [_fake_run(t / "a", "abab"), t / "nope"], "no predictions.csv"),
    (lambda t: [_fake_run(t / "a", "abab"), _fake_run(t / "b", "abab", manifest="xyz")],
     "evaluated different data"),
])
def test_runs_mode_input_errors_are_one_line(tmp_path, audit_cli, setup, needle):
    paths = setup(tmp_path)
    (tmp_path / "nope").mkdir(exist_ok=True)
    code, _, err = audit_cli("reproducibility", "--runs", *map(str, paths), "--out", str(tmp_path / "o"))
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1


def test_runs_or_data_not_both(tmp_path, audit_cli):
    code, _, err = audit_cli("reproducibility", "--out", str(tmp_path))
    assert code == 2 and "either --runs" in err


def test_seeds_mode_trains_audits_and_resumes(tmp_path, audit_cli):
    # End to end through the trainer (the reason this test takes ~20 s): 2 seeds x fold 0,
    # 1 epoch on 4 speakers x 4 emotions x 1 utterance.
    from audit.data import write_synthetic_corpus

    data = write_synthetic_corpus(tmp_path / "d", seed=2, n_speakers=4, utterances_per_emotion=1,
                                  n_folds=2)
    out = tmp_path / "r"
    args = ["reproducibility", "--data", str(data), "--model", "macnn", "--seeds", "2", "--folds", "0",
            "--epochs", "1", "--seed", "3", "--n-boot", "5", "--workers", "1", "--precision", "fp32",
            "--out", str(out)]
    code, _, err = audit_cli(*args)
    assert code == 0, err
    for s in (3, 4):
        sidecar = json.loads((out / f"seed{s}" / "macnn" / "fold0.json").read_text())
        assert sidecar["seed"] == s and sidecar["training_speakers"]
        assert (out / f"seed{s}" / "run" / "predictions.csv").is_file()
    assert not (out / "seed3" / "macnn" / "fold1.json").exists()  # only --folds 0
    per_run = pd.read_csv(out / "reproducibility_runs.csv")
    assert sorted(per_run["run"].unique()) == ["seed3", "seed4"]
    assert set(per_run["n"][per_run["group"] == "all"]) == {8}  # fold 0: 2 speakers x 4 emotions
    first = (out / "reproducibility.csv").read_bytes()
    weights = (out / "seed3" / "macnn" / "fold0.safetensors").stat().st_mtime_ns
    code, _, err = audit_cli(*args)  # rerun: finished folds are skipped, same results
    assert code == 0 and "finished; skipped" in err
    assert (out / "seed3" / "macnn" / "fold0.safetensors").stat().st_mtime_ns == weights
    assert (out / "reproducibility.csv").read_bytes() == first
