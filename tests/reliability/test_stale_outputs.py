"""A rerun into an existing run folder replaces the whole run or nothing (issue 33, defect 5).

Before: a rerun cleared predictions.csv, metrics.csv and run.json first, then failed, leaving the
previous run's summary.md, findings.csv, robustness_score.*, gap_change.*, class_flip_rates.csv
and confusion_drift.csv beside nothing of its own: findings no current run produced.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from _reliability_helpers import cli, run_outputs


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def previous(tmp_path, reference_run) -> Path:
    """A folder holding a finished run, its model card, a fairness table, a comparison, a file
    of the user's and a subfolder of another command."""
    ref_dir, _ = reference_run
    out = tmp_path / "run"
    shutil.copytree(ref_dir, out)
    (out / "MODEL_CARD.md").write_text("# card of the previous run\n")
    (out / "fairness.csv").write_text("by,group\n")
    (out / "compare.csv").write_text("condition\n")
    (out / "notes.txt").write_text("the user's\n")
    (out / "table19").mkdir()
    (out / "table19" / "compare.md").write_text("| a |\n")
    return out


def test_a_failed_rerun_leaves_the_previous_run_whole(previous, capsys, monkeypatch, run_args):
    import audit.analysis.suite as suite
    from audit.errors import AuditError

    before = _files(previous)

    def fail(*a, **k):
        raise AuditError("the analysis failed")

    monkeypatch.setattr(suite, "run_analysis", fail)
    monkeypatch.setattr("audit.analysis.run_analysis", fail, raising=False)
    code, _, err = cli(capsys, *run_args(previous, "--no-cache", "--snr", "10"))
    assert code == 2 and err.strip() == "error: the analysis failed"
    assert _files(previous) == before
    assert not list(previous.parent.glob(f".{previous.name}.staging-*"))


def test_a_rerun_replaces_every_output_of_the_previous_run(previous, capsys, run_args, tmp_path):
    code, _, err = cli(capsys, *run_args(previous, "--no-cache", "--snr", "10", "--no-report"))
    assert code == 0, err
    fresh = tmp_path / "fresh"
    code, _, err = cli(capsys, *run_args(fresh, "--no-cache", "--snr", "10", "--no-report"))
    assert code == 0, err
    now = _files(previous)
    assert sorted(now) == sorted([*_files(fresh), "notes.txt", "table19/compare.md"])
    assert run_outputs(previous) == run_outputs(fresh)
    assert not (previous / "plots").exists() and not (previous / "MODEL_CARD.md").exists()


def test_run_outputs_name_every_file_the_commands_write(tmp_path, capsys, reference_run):
    from audit.runfiles import run_outputs_in

    ref_dir, _ = reference_run
    run = tmp_path / "run"
    shutil.copytree(ref_dir, run)
    for args in (["card", str(run)], ["fairness", "--by", "gender", "--run", str(run)],
                 ["compare", str(run), str(run), "--model-a", "macnn", "--model-b", "macnn"]):
        code, _, err = cli(capsys, *args)
        assert code == 0, err
    (run / "notes.txt").write_text("the user's\n")
    listed = {p for p in run_outputs_in(run)}
    covered = {p for p in run.rglob("*") if p.is_file() and any(p == q or q in p.parents for q in listed)}
    assert {p.relative_to(run).as_posix() for p in run.rglob("*") if p.is_file()} - \
        {p.relative_to(run).as_posix() for p in covered} == {"notes.txt"}
    assert {"MODEL_CARD.md", "fairness.csv", "compare.csv", "summary.md", "plots"} <= {p.name for p in listed}
