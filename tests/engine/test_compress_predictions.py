"""`audit run --compress-predictions`: predictions.csv.gz and metrics.csv.gz hold exactly the CSVs
a plain run writes, in the same bytes every time, and every reader of a run folder uses them."""

from __future__ import annotations

import gzip
import json

import pandas as pd
import pytest

from audit.cli import main

FAST = ["--workers", "1", "--n-boot", "20", "--batch-size", "8"]


def _run(*args: str) -> int:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code


@pytest.fixture(scope="module")
def runs(tmp_path_factory, corpus, fold_models):
    """A plain run and two compressed runs (no cache) of the same audit."""
    root = tmp_path_factory.mktemp("gz")
    base = ["run", "noise", "--snr", "0", "--data", str(corpus), "--models", str(fold_models),
            "--no-cache", *FAST]
    assert _run(*base, "--out", str(root / "plain"), "--no-report") == 0
    for name in ("gz1", "gz2"):
        assert _run(*base, "--out", str(root / name), "--compress-predictions") == 0
    return root


def test_the_gzip_holds_the_plain_csv_byte_for_byte(runs):
    gz = runs / "gz1" / "predictions.csv.gz"
    assert gz.is_file() and not (runs / "gz1" / "predictions.csv").exists()
    assert gzip.decompress(gz.read_bytes()) == (runs / "plain" / "predictions.csv").read_bytes()
    gz = runs / "gz1" / "metrics.csv.gz"
    assert gz.is_file() and not (runs / "gz1" / "metrics.csv").exists()
    assert gzip.decompress(gz.read_bytes()) == (runs / "plain" / "metrics.csv").read_bytes()
    assert (runs / "gz1" / "table15_noise.csv").read_bytes() == (runs / "plain" / "table15_noise.csv").read_bytes()


def test_two_compressed_runs_give_the_same_bytes(runs):
    for name in ("predictions.csv.gz", "metrics.csv.gz"):
        a, b = (runs / n / name for n in ("gz1", "gz2"))
        assert a.read_bytes() == b.read_bytes()


def test_run_json_lists_the_compressed_file(runs):
    info = json.loads((runs / "gz1" / "run.json").read_text())
    assert "predictions.csv.gz" in info["outputs"] and "predictions.csv" not in info["outputs"]
    assert "metrics.csv.gz" in info["outputs"] and "metrics.csv" not in info["outputs"]


def test_readers_of_a_run_folder_use_the_gzip(runs, tmp_path):
    run = runs / "gz1"
    assert (run / "report.html").is_file() and (run / "plots" / "confusion_macnn.png").is_file()
    assert _run("fairness", "--by", "gender", "--run", str(run), "--out", str(tmp_path / "f"),
                "--n-boot", "20") in (0, 3)
    assert (tmp_path / "f" / "fairness.csv").is_file()
    assert _run("compare", str(run), str(runs / "plain"), "--out", str(tmp_path / "c")) == 0
    before = (run / "metrics.csv.gz").read_bytes()
    assert _run("report", str(run)) == 0  # rebuilt from the gzip, written compressed again
    assert (run / "metrics.csv.gz").read_bytes() == before and not (run / "metrics.csv").exists()
    assert _run("card", str(run)) == 0
    assert _run("reproducibility", "--runs", str(run), str(runs / "plain"),
                "--out", str(tmp_path / "r")) == 0
    # the plain and the compressed run hold the same predictions: they agree on every utterance
    rep = pd.read_csv(tmp_path / "r" / "reproducibility.csv")
    assert len(rep) and (rep.loc[rep["metric"] == "agreement", "value"] == 100.0).all()


def test_a_plain_rerun_removes_the_stale_gzip(runs, corpus, fold_models):
    out = runs / "gz2"
    assert _run("run", "noise", "--snr", "0", "--data", str(corpus), "--models", str(fold_models),
                "--no-cache", "--no-report", "--out", str(out), *FAST) == 0
    assert (out / "predictions.csv").is_file() and not (out / "predictions.csv.gz").exists()
    assert (out / "metrics.csv").is_file() and not (out / "metrics.csv.gz").exists()
