"""Which figures and sections a report holds: each figure drawn once, none missing for a run
without perturbed conditions, and every committed report showing its stored comparisons."""

import json

from audit.analysis import run_analysis, write_analysis
from audit.report import write_report


def test_committed_reports_show_the_comparisons_stored_with_them():
    """Every committed report.html shows each comparison its run folder holds (they were
    written before `audit compare` re-rendered the report, and missed them)."""
    from pathlib import Path

    from audit.report.comparisons import find_comparisons

    reports = sorted((Path(__file__).resolve().parents[2] / "results").rglob("report.html"))
    checked = 0
    for report in reports:
        found = find_comparisons(report.parent)
        html = report.read_text(encoding="utf-8")
        for c in found:
            assert f"{c.model_b} against {c.model_a}, UA" in html, (report, c.source)
        checked += len(found)
    assert checked >= 12


def _write_run(d, preds, classes):
    a = run_analysis(preds, classes=classes, scenario="noise", groups=["gender"], n_boot=5, seed=0)
    preds.to_csv(d / "predictions.csv", index=False)
    write_analysis(d, a)
    (d / "run.json").write_text(json.dumps({"scenario": {"name": "noise"}, "seed": 0}))


def test_clean_only_run_gets_confusion_and_reliability_figures(tmp_path, preds, classes):
    """A run without perturbed conditions has no drift figures; its confusion and reliability
    figures were drawn only inside the loop over drift files, so such a run had none."""
    _write_run(tmp_path, preds[preds["condition"] == "clean"], classes)
    html = write_report(tmp_path).read_text()
    names = {p.name for p in (tmp_path / "plots").iterdir()}
    assert not any(n.startswith("drift_") for n in names)
    for kind in ("confusion", "reliability"):
        assert {f"{kind}_base.png", f"{kind}_prop.png"} <= names
        assert f"<h3>{kind}_base</h3>" in html and f"<h3>{kind}_prop</h3>" in html


def test_each_figure_is_drawn_once_per_report(tmp_path, preds, classes, monkeypatch):
    """Rebuilding a report beside drift figures draws each model's confusion and reliability
    figure once (they were redrawn once per drift file: 15 times for the paper audit)."""
    import audit.report.html as html_mod

    _write_run(tmp_path, preds, classes)
    write_report(tmp_path)
    n_drift = len(list((tmp_path / "plots").glob("drift_*.png")))
    assert n_drift >= 4
    calls = {"confusion": 0, "reliability": 0}

    def counted(kind, fn):
        def wrapper(*args, **kwargs):
            calls[kind] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(html_mod, "plot_confusions", counted("confusion", html_mod.plot_confusions))
    monkeypatch.setattr(html_mod, "plot_reliability", counted("reliability", html_mod.plot_reliability))
    write_report(tmp_path)
    assert calls == {"confusion": 1, "reliability": 1}
