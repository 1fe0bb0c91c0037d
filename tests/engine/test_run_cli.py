"""`audit run` and `audit fairness` end to end on a tiny corpus: files, determinism, resume, gates."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from audit.cli import main

FAST = ["--workers", "1", "--n-boot", "20", "--batch-size", "8"]


def _one_line_error(err: str) -> bool:
    """stderr is exactly one ``error: ...`` line, with no traceback."""
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def _outputs(run_dir) -> dict[str, bytes]:
    names = ["predictions.csv", "metrics.csv", "problems.csv"]
    names += sorted(p.name for p in run_dir.glob("table*.*"))
    return {n: (run_dir / n).read_bytes() for n in names}


@pytest.fixture(scope="module")
def noise_run(tmp_path_factory, corpus, fold_models):
    """One `audit run noise --snr 0` (with cache) and its folder."""
    root = tmp_path_factory.mktemp("runs")
    with pytest.raises(SystemExit) as done:
        main(["run", "noise", "--snr", "0", "--data", str(corpus), "--models",
              str(fold_models), "--out", str(root / "a"), "--no-report", *FAST])
    assert done.value.code == 0
    return root / "a"


def test_run_writes_the_run_folder(noise_run):
    for name in ("predictions.csv", "metrics.csv", "problems.csv", "run.json",
                 "table15_noise.csv", "table17_gender.csv"):
        assert (noise_run / name).is_file(), name
    info = json.loads((noise_run / "run.json").read_text())
    assert info["seed"] == 987654
    assert info["scenario"]["conditions"] == ["clean", "awgn:snr_db=0"]
    assert info["models"][0]["checkpoints"]["0"]["sha256"]
    # the effective bootstrap size (--n-boot overrides the spec), so `audit report` can redo it
    assert info["scenario"]["bootstrap"]["n_boot"] == int(FAST[FAST.index("--n-boot") + 1])
    assert len(info["data"]["manifest_sha256"]) == 64
    assert info["command"] and info["cache"]["enabled"] is True


def _expected_commit() -> str | None:
    """HEAD of the checkout these tests run from (asked of git directly), None outside git."""
    import subprocess
    from pathlib import Path

    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                              capture_output=True, text=True, timeout=10)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def test_run_json_records_the_real_versions_commit_device_and_timings(noise_run):
    import platform
    import re
    from importlib import metadata

    import torch

    info = json.loads((noise_run / "run.json").read_text())
    packages = info["packages"]
    assert packages.pop("python") == platform.python_version()
    assert {"ser-audit", "torch", "numpy", "pandas", "pyroomacoustics"} <= set(packages)
    for name, version in packages.items():
        try:
            assert version == metadata.version(name), name
        except metadata.PackageNotFoundError:
            assert version == "not installed", name
    head = _expected_commit()
    if head is None:
        assert info["git_commit"] is None
    else:
        assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", info["git_commit"])
        assert info["git_commit"].split("-")[0] == head
    # the fixture left --device at auto: run.json names the device that auto resolved to
    assert info["device"]["device"] == ("cuda" if torch.cuda.is_available() else "cpu")
    assert set(info["timings_s"]) == {"load", "evaluate", "analyse"}
    assert all(t > 0 for t in info["timings_s"].values()), info["timings_s"]


def test_identical_runs_give_identical_csvs(noise_run, tmp_path, audit_cli, corpus, fold_models):
    # a cold run without the cache, and a run served entirely from the cache
    for extra in (["--no-cache"], ["--cache-dir", str(noise_run.parent / ".cache")]):
        out = tmp_path / extra[0]
        code, _, err = audit_cli("run", "noise", "--snr", "0", "--data", str(corpus),
                                 "--models", str(fold_models), "--out", str(out), "--no-report",
                                 *FAST, *extra)
        assert code == 0, err
        assert _outputs(out) == _outputs(noise_run)
    cached = json.loads((tmp_path / "--cache-dir" / "run.json").read_text())["cache"]
    assert cached["misses"] == 0 and cached["hits"] > 0


def test_killed_run_restarts_to_identical_csvs(noise_run, tmp_path, corpus, fold_models):
    from audit.commands.run import build_scenario
    from audit.workflows import RunOptions, run_audit

    scenario = build_scenario("noise", (0.0,), (), (), ())
    opts = RunOptions(data=str(corpus), models=[str(fold_models)], out=tmp_path / "r",
                      cache_dir=tmp_path / "cache", workers=1, batch_size=8, n_boot=20,
                      report=False)

    def die(batch):
        if batch == 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_audit(scenario, opts, after_batch=die)
    assert not (tmp_path / "r" / "metrics.csv").exists()
    run_audit(scenario, opts)
    assert _outputs(tmp_path / "r") == _outputs(noise_run)
    # batch 0 (the first 8 utt_ids, both conditions, one model) was committed before the kill:
    # the restart takes exactly those from the cache and computes only the rest
    n_utts = len(pd.read_csv(corpus))
    cache = json.loads((tmp_path / "r" / "run.json").read_text())["cache"]
    assert cache == {"enabled": True, "dir": str(tmp_path / "cache"),
                     "hits": 8 * 2, "misses": (n_utts - 8) * 2}


def test_gate_failure_exits_3_after_writing_everything(tmp_path, audit_cli, corpus, fold_models):
    out = tmp_path / "gated"
    code, _, err = audit_cli("run", "noise", "--snr", "0", "--data", str(corpus), "--models",
                             str(fold_models), "--out", str(out), "--no-report", *FAST,
                             "--fail-if", "ua_drop>-100", "ua>100")
    assert code == 3
    assert ("gate failed" in err or "gates failed" in err) and "ua_drop" in err
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert (out / "metrics.csv").is_file() and (out / "run.json").is_file()
    gates = json.loads((out / "run.json").read_text())["gates"]
    assert gates["rules"] == ["ua_drop>-100", "ua>100"] and gates["violations"]


@pytest.mark.parametrize("args, needle", [
    (["run", "nosie"], "unknown scenario 'nosie': not a file and not one of codec, cross_corpus, fairness, noise"),
    (["run", "--condition", "awgm:snr_db=3"], "unknown perturbation 'awgm' in 'awgm:snr_db=3'"),
    (["run", "noise", "--models", "/no/such/dir"], "/no/such/dir: model not found"),
])
def test_user_errors_are_one_line_exit_2(args, needle, audit_cli, corpus, fold_models, tmp_path):
    extra = [] if "--models" in args else ["--models", str(fold_models)]
    code, _, err = audit_cli(*args, "--data", str(corpus), *extra, "--out", str(tmp_path / "x"),
                             "--no-report", *FAST)
    assert code == 2 and _one_line_error(err) and needle in err


def test_spec_typo_names_key_and_file(tmp_path, audit_cli, corpus, fold_models):
    spec = tmp_path / "mine.toml"
    spec.write_text('name = "mine"\ngroups = ["gender"]\ngrups = ["emotion"]\n')
    code, _, err = audit_cli("run", str(spec), "--data", str(corpus), "--models",
                             str(fold_models), "--out", str(tmp_path / "x"), *FAST)
    assert code == 2 and "grups" in err and str(spec) in err


def test_unknown_group_column(tmp_path, audit_cli, corpus, fold_models):
    spec = tmp_path / "g.toml"
    spec.write_text('name = "g"\ngroups = ["accent"]\n')
    code, _, err = audit_cli("run", str(spec), "--data", str(corpus), "--models",
                             str(fold_models), "--out", str(tmp_path / "x"), *FAST)
    assert code == 2 and "group column 'accent'" in err


def test_fairness_over_a_run(noise_run, audit_cli):
    code, out, err = audit_cli("fairness", "--by", "gender", "--run", str(noise_run),
                               "--n-boot", "20")
    assert code == 0, err
    frame = pd.read_csv(noise_run / "fairness.csv")
    assert "fairness.csv" in out
    preds = pd.read_csv(noise_run / "predictions.csv")
    for cond in ("clean", "awgn:snr_db=0"):
        wa = frame[(frame["condition"] == cond) & (frame["metric"] == "wa")]
        assert sorted(wa["group"]) == ["gender=female", "gender=male"]
        for gender in ("female", "male"):
            # by hand: accuracy within each fold's rows of this gender, then the mean of folds
            rows = preds[(preds["condition"] == cond) & (preds["gender"] == gender)]
            by_fold = [100 * (g["prediction"] == g["emotion"]).mean() for _, g in rows.groupby("fold")]
            assert len(by_fold) == 2
            got = wa.loc[wa["group"] == f"gender={gender}", "value"].item()
            assert got == pytest.approx(sum(by_fold) / len(by_fold), abs=1e-6)


def test_fairness_values_and_gap_by_hand(noise_run, tmp_path, audit_cli):
    """Predictions edited so the groups differ: female 4/4 right in fold 0 and 1/4 in fold 1,
    male always "sad" (1/4 per fold). WA: female (100 + 25) / 2 = 62.5, male 25, gap 37.5."""
    preds = pd.read_csv(noise_run / "predictions.csv", keep_default_na=False, na_values=[""])
    preds = preds[preds["condition"] == "clean"].copy()
    assert sorted(preds.groupby(["fold", "gender"])["speaker"].nunique()) == [1, 1, 1, 1]
    right = (preds["gender"] == "female") & (preds["fold"] == 0)
    preds["prediction"] = preds["emotion"].where(right, "sad")
    preds["correct"] = preds["prediction"] == preds["emotion"]
    run = tmp_path / "edited"
    run.mkdir()
    preds.to_csv(run / "predictions.csv", index=False)
    code, _, err = audit_cli("fairness", "--by", "gender", "--run", str(run), "--n-boot", "20",
                             "--metric", "wa")
    assert code == 0, err
    frame = pd.read_csv(run / "fairness.csv").set_index(["group", "metric"])["value"]
    assert frame[("gender=female", "wa")] == pytest.approx(62.5)
    assert frame[("gender=male", "wa")] == pytest.approx(25.0)
    assert frame[("all", "gender_wa_difference")] == pytest.approx(37.5)
    assert frame[("all", "gender_wa_ratio")] == pytest.approx(25.0 / 62.5)


def test_multi_value_options_parse():
    from audit.commands.run import build_scenario

    spec = build_scenario("noise", (0.0, 10.0, -5.0), (), (), ("reverb:rt60_s=0.5+awgn:snr_db=10",))
    assert spec.conditions == ["clean", "awgn:snr_db=0", "awgn:snr_db=10", "awgn:snr_db=-5",
                               "reverb:rt60_s=0.5+awgn:snr_db=10"]
    assert build_scenario("mp3", (), (64,), (), ()).conditions == ["clean", "mp3:bitrate_kbps=64"]
    assert build_scenario(None, (), (), (), ()).name == "paper"
    custom = build_scenario(None, (), (), (0.3,), ())
    assert custom.name == "custom" and custom.conditions == ["clean", "reverb:rt60_s=0.3"]


def test_greedy_option_rewrite():
    import click

    from audit.commands.run import run

    ctx = click.Context(run)
    run.parse_args(ctx, ["noise", "--snr", "0", "-5", "20", "--models", "a", "b", "--data", "d"])
    assert ctx.params["snr"] == (0.0, -5.0, 20.0) and ctx.params["models"] == ("a", "b")
    assert ctx.params["target"] == "noise" and ctx.params["data"] == "d"


def test_group_left_empty_by_skips_is_reported(tmp_path, manifest, fold_models):
    import numpy as np

    from _engine_helpers import with_extra_utterance
    from audit.data import write_manifest
    from audit.workflows import RunOptions, run_audit
    from audit.scenario import resolve_scenario

    df = with_extra_utterance(manifest, tmp_path, "zz_silent", np.zeros(16000),
                              speaker="spkX", gender="unknown")
    path = write_manifest(df, tmp_path / "manifest.csv")
    opts = RunOptions(data=str(path), models=[str(fold_models)], out=tmp_path / "r",
                      use_cache=False, workers=1, n_boot=10, report=False)
    run_audit(resolve_scenario("fairness").model_copy(update={"thresholds": []}), opts)
    problems = (tmp_path / "r" / "problems.csv").read_text()
    assert "zz_silent" in problems and "silent" in problems
    assert "group gender=unknown has no evaluated utterance" in problems


def test_fairness_evaluates_when_no_run_is_given(tmp_path, audit_cli, corpus, toy_entry):
    import pandas as pd

    out = tmp_path / "fair"
    code, _, err = audit_cli("fairness", "--by", "gender", "emotion", "--data", str(corpus),
                             "--models", toy_entry, "--out", str(out), "--n-boot", "10",
                             "--workers", "1", "--no-cache")
    assert code == 0, err
    frame = pd.read_csv(out / "fairness.csv")
    groups = set(frame["group"])
    assert {"gender=female", "gender=male"} <= groups
    assert any("gender=" in g and "&" in g and "emotion=" in g for g in groups)
    assert (out / "predictions.csv").is_file() and set(frame["condition"]) == {"clean"}


def test_folds_option_evaluates_only_those_folds(tmp_path, audit_cli, corpus, manifest, fold_models):
    import shutil

    only0 = tmp_path / "only0"  # a checkpoint folder that has fold 0 alone
    only0.mkdir()
    for f in fold_models.glob("fold0.*"):
        shutil.copy(f, only0 / f.name)
    base = ["run", "noise", "--snr", "0", "--data", str(corpus), "--models", str(only0),
            "--no-report", "--no-cache", *FAST]
    code, _, err = audit_cli(*base, "--out", str(tmp_path / "all"))
    assert code == 2  # fold 1 has no checkpoint: the line names the folder and the fold
    assert _one_line_error(err) and str(only0) in err
    assert "no checkpoint for fold(s) [1] of the data (has folds [0])" in err
    code, _, err = audit_cli(*base, "--folds", "0", "--out", str(tmp_path / "f0"))
    assert code == 0, err
    preds = pd.read_csv(tmp_path / "f0" / "predictions.csv")
    assert set(preds["fold"]) == {0}
    assert set(preds["speaker"]) == set(manifest.loc[manifest["fold"] == 0, "speaker"])
    info = json.loads((tmp_path / "f0" / "run.json").read_text())
    assert "folds 0 only" in info["data"]["source"]
    code, _, err = audit_cli(*base, "--folds", "7", "--out", str(tmp_path / "f7"))
    assert code == 2 and "no fold 7" in err and len(err.strip().splitlines()) == 1
