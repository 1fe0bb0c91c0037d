"""Training curves from the checkpoints' fold*.log.csv: reading, plots, and the report section."""

import json

import numpy as np
import pandas as pd
import pytest

from audit.analysis import run_analysis, write_analysis
from audit.errors import AuditError
from audit.report import plot_training_curves, read_training_logs, training_sources, write_report, write_tables


def _log(folder, fold, epochs=5, betas=True, seconds=1.0):
    e = np.arange(1, epochs + 1)
    df = pd.DataFrame({"epoch": e, "lr": 1e-3, "loss": 2.0 / e + fold * 0.01, "train_acc": 1 - 0.5 / e,
                       "aam_pass_rate": 0.9})
    if betas:
        for k in (2, 3):
            df[f"beta_att{k}"] = 0.1 * e * k + fold
    df["seconds"] = seconds * e
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / f"fold{fold}.log.csv", index=False)


def test_read_logs_sorted_with_fold_column(tmp_path):
    for fold in (1, 0):
        _log(tmp_path, fold)
    (tmp_path / "fold0.log.csv.bak").write_text("x")  # not a log name: ignored
    logs = read_training_logs(tmp_path)
    assert list(logs["fold"].unique()) == [0, 1] and len(logs) == 10
    assert logs["epoch"].tolist()[:5] == [1, 2, 3, 4, 5]
    assert read_training_logs(tmp_path / "none").empty


def test_bad_log_names_the_file(tmp_path):
    (tmp_path / "fold0.log.csv").write_text("epoch,lr\n1,0.001\n")
    with pytest.raises(AuditError, match=r"fold0\.log\.csv: not a training log \(missing column\(s\) loss, train_acc\)"):
        read_training_logs(tmp_path)


def test_plots_beta_only_with_betas_and_ignore_timing(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for fold in (0, 1):
        _log(a, fold, seconds=1.0)
        _log(b, fold, seconds=7.5)  # other timings, same curves
    out_a, out_b = tmp_path / "pa", tmp_path / "pb"
    pa = plot_training_curves("m", read_training_logs(a), out_a)
    pb = plot_training_curves("m", read_training_logs(b), out_b)
    assert [p.name for p in pa] == ["training_m.png", "beta_m.png"]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(pa, pb))
    c = tmp_path / "c"
    _log(c, 0, betas=False)
    assert [p.name for p in plot_training_curves("base", read_training_logs(c), tmp_path / "pc")] == ["training_base.png"]
    _log(a, 1, epochs=6)  # a changed curve changes the picture
    assert plot_training_curves("m", read_training_logs(a), tmp_path / "pd")[0].read_bytes() != pa[0].read_bytes()


def test_sources_and_notes(tmp_path):
    _log(tmp_path / "ck", 0)
    info = {"models": [{"kind": "checkpoints", "name": "m", "source": str(tmp_path / "ck")},
                       {"kind": "checkpoints", "name": "gone", "source": str(tmp_path / "gone")},
                       {"kind": "torchscript", "name": "ts", "source": "x.pt"}]}
    found, notes = training_sources(info)
    assert found == {"m": tmp_path / "ck"}
    assert notes == [f"training curves of gone: no fold*.log.csv in {tmp_path / 'gone'}"]
    rel = {"models": [{"kind": "checkpoints", "name": "m", "source": "ck"}]}
    assert training_sources(rel, base=tmp_path)[0] == {"m": tmp_path / "ck"}


def test_report_embeds_training_curves(tmp_path, preds, classes):
    for fold in (0, 1):
        _log(tmp_path / "ck_prop", fold)
        _log(tmp_path / "ck_base", fold, betas=False)
    run = tmp_path / "run"
    run.mkdir()
    preds.to_csv(run / "predictions.csv", index=False)
    a = run_analysis(preds, classes=classes, scenario="noise", groups=["gender"], n_boot=10, seed=0)
    write_analysis(run, a)
    write_tables(run, a.metrics, preds)
    info = {"seed": 0, "models": [{"kind": "checkpoints", "name": n, "source": str(tmp_path / f"ck_{n}")}
                                  for n in ("base", "prop")]}
    (run / "run.json").write_text(json.dumps(info))
    page = write_report(run).read_text()
    assert "<h2>Training curves</h2>" in page
    for stem in ("training_base", "training_prop", "beta_prop"):
        assert (run / "plots" / f"{stem}.png").is_file() and f"<h3>{stem}</h3>" in page
    assert not (run / "plots" / "beta_base.png").exists()
