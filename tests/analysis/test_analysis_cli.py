"""`audit report RUN_DIR` and `audit compare RUN_A RUN_B`: exit codes, files, one-line errors."""

import json

import pandas as pd
import pytest
from _analysis_data import make_predictions

from audit.cli import main


def _audit(capsys, *args):
    """Run the CLI in-process (a subprocess would pay the torch import again)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("clirun")
    make_predictions(seed=4, utt_per_spk=6).to_csv(d / "predictions.csv", index=False)
    (d / "run.json").write_text(json.dumps({"scenario": {"name": "noise", "groups": ["gender"],
                                                         "bootstrap": {"n_boot": 20}}, "seed": 3}))
    return d


def test_report_regenerates_identically(run_dir, capsys):
    code, out, err = _audit(capsys, "report", str(run_dir))
    assert code == 0, err
    assert "Report:" in out
    first = {p.name: p.read_bytes() for p in run_dir.glob("*.csv")}
    assert {"metrics.csv", "table15_noise.csv", "table17_gender.csv"} <= set(first)
    assert (run_dir / "report.html").is_file() and (run_dir / "plots" / "snr_prop.png").is_file()
    assert set(pd.read_csv(run_dir / "metrics.csv").scenario) == {"noise"}
    code, _, _ = _audit(capsys, "report", str(run_dir))
    assert code == 0
    assert {p.name: p.read_bytes() for p in run_dir.glob("*.csv")} == first


def test_report_errors_are_one_line(tmp_path, capsys):
    code, _, err = _audit(capsys, "report", str(tmp_path))
    assert code == 2
    assert err.startswith("error:") and "predictions.csv" in err and err.count("\n") == 1
    (tmp_path / "predictions.csv").write_text("model,fold\nm,0\n")
    code, _, err = _audit(capsys, "report", str(tmp_path))
    assert code == 2 and "missing column" in err and err.count("\n") == 1


def test_compare(run_dir, tmp_path, capsys):
    code, out, err = _audit(capsys, "compare", str(run_dir), str(run_dir), "--model-a", "base",
                            "--model-b", "prop", "--out", str(tmp_path))
    assert code == 0, err
    assert "prop (B) vs base (A)" in out
    assert len(pd.read_csv(tmp_path / "compare.csv")) == 6 and (tmp_path / "compare.md").is_file()
    code, _, err = _audit(capsys, "compare", str(run_dir), str(run_dir))
    assert code == 2 and err.count("\n") == 1 and "--model-a" in err


def test_compare_into_a_run_shows_in_its_report(tmp_path, capsys):
    """A comparison written into a run (a subfolder of it, or the run itself by default) appears
    in that run's report.html at once, which is then the report `audit report` would write: the
    same gates (recomputed from run.json's rules, not its stale violations) and the same
    reference model (run.json names none here). Before, the report showed a comparison only
    after `audit report` recomputed the whole run."""
    run = tmp_path / "run"
    run.mkdir()
    make_predictions(seed=5, utt_per_spk=4).to_csv(run / "predictions.csv", index=False)
    (run / "run.json").write_text(json.dumps({"scenario": {"name": "noise", "groups": ["gender"],
                                                           "bootstrap": {"n_boot": 5}}, "seed": 1,
                                              "gates": {"rules": ["ua_drop>1"], "violations": []}}))
    assert _audit(capsys, "report", str(run))[0] == 0
    metrics = (run / "metrics.csv").read_bytes()
    assert "id='comparisons'" not in (run / "report.html").read_text()
    code, out, err = _audit(capsys, "compare", str(run), str(run), "--model-a", "base", "--model-b", "prop",
                            "--out", str(run / "compare_prop"))
    assert code == 0, err
    assert f"Updated {run / 'report.html'}" in out
    html = (run / "report.html").read_text()
    assert "id='comparisons'" in html and "prop against base, UA, paired over" in html
    assert "ua_drop&gt;1" in html and "(the reference)" in html
    assert (run / "metrics.csv").read_bytes() == metrics  # the analysis is not recomputed
    assert _audit(capsys, "report", str(run))[0] == 0
    assert (run / "report.html").read_text() == html  # what `audit report` writes
    code, out, err = _audit(capsys, "compare", str(run), str(run), "--model-a", "prop", "--model-b", "base")
    assert code == 0, err
    assert f"Updated {run / 'report.html'}" in out  # the default folder: RUN_B itself
    assert "base against prop, UA" in (run / "report.html").read_text()
    code, out, _ = _audit(capsys, "compare", str(run), str(run), "--model-a", "base", "--model-b", "prop",
                          "--out", str(tmp_path / "elsewhere"))
    assert code == 0 and "Updated" not in out


def test_compare_warns_when_the_report_beside_it_cannot_be_rendered(tmp_path, capsys):
    """The comparison is the command's job: a report that cannot be re-rendered (here run.json
    is broken after the run was reported) gets a one-line warning, not a failed exit."""
    run = tmp_path / "run"
    run.mkdir()
    make_predictions(seed=6, utt_per_spk=4).to_csv(run / "predictions.csv", index=False)
    (run / "run.json").write_text(json.dumps({"scenario": {"name": "noise", "bootstrap": {"n_boot": 5}}}))
    assert _audit(capsys, "report", str(run))[0] == 0
    (run / "run.json").write_text("{not json")
    code, out, err = _audit(capsys, "compare", str(run), str(run), "--model-a", "base", "--model-b", "prop",
                            "--out", str(run / "cmp"))
    assert code == 0 and (run / "cmp" / "compare.csv").is_file() and "Updated" not in out
    assert err.startswith("warning: the comparison is written") and "run.json" in err and err.count("\n") == 1


def test_analysis_settings_from_run_json():
    from audit.report.rebuild import analysis_settings

    info = {"scenario": {"name": "paper", "seed": 1, "groups": ["gender", "emotion"],
                         "intersections": [["gender", "emotion"]], "bootstrap": {"n_boot": 500, "ci": 0.9},
                         "min_group_speakers": 3}, "seed": 42}
    s = analysis_settings(info)
    assert s == {"scenario": "paper", "seed": 42, "groups": ["gender", "emotion"],
                 "intersections": [["gender", "emotion"]], "n_boot": 500, "ci": 0.9, "min_group_speakers": 3,
                 "p_adjust": "holm"}
    assert analysis_settings({**info, "n_boot": 50})["n_boot"] == 50
    assert analysis_settings({})["n_boot"] == 1000
