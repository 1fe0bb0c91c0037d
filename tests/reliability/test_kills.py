"""Kills: an audit SIGKILLed during prediction, while writing metrics.csv and while writing the
report, and a training SIGKILLed mid-epoch. The rerun gives byte-identical outputs, and no
writer ever opens a final file name for writing (a kill can only leave a temporary behind)."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
from pathlib import Path

import pytest

from _reliability_helpers import (cli, is_temporary_name, opened_for_writing, record_writes,
                                  run_outputs)

_FORK = multiprocessing.get_context("fork")  # the child starts at once, torch already imported


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _killed_child(target, *args) -> int:
    p = _FORK.Process(target=target, args=args)
    p.start()
    p.join(timeout=300)
    return p.exitcode


def _audit_until(point: str, argv: list[str]) -> None:
    """Run ``audit`` in this (child) process and SIGKILL it at ``point``."""
    import audit.engine.runner as runner
    from audit.cli import main

    if point == "prediction":  # the second batch: the first one is committed to the cache
        real, calls = runner._compute_batch, []

        def compute(*a, **k):
            calls.append(1)
            if len(calls) == 2:
                _die()
            return real(*a, **k)

        runner._compute_batch = compute
    else:
        needle = {"metrics": "metrics.csv", "report": "confusion_macnn"}[point]  # the plot, not confusion_drift.csv

        def hook(event, args):  # kill as the file is opened for writing, before any byte lands
            path = opened_for_writing(event, args)
            if path is not None and needle in Path(path).name:
                _die()

        import sys

        sys.addaudithook(hook)
    main(argv)


def _final_files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
                  if p.is_file() and not is_temporary_name(p))


@pytest.mark.parametrize("point", ["prediction", "metrics", "report"])
def test_killed_audit_reruns_to_identical_outputs(point, tmp_path, capsys, run_args, reference_run):
    ref_dir, _ = reference_run
    reference = run_outputs(ref_dir)
    out, cache = tmp_path / "run", ["--cache-dir", str(tmp_path / "cache")]
    assert _killed_child(_audit_until, point, run_args(out, *cache)) == -signal.SIGKILL
    # what the kill left under final names is complete: equal to the reference, or run.json whole
    left = _final_files(out) if out.exists() else []
    now = run_outputs(out) if out.exists() else {}
    for name in left:
        if name == "run.json":
            json.loads((out / name).read_text())
        else:
            assert now[name] == reference[name], name
    # killed at the report: every file written before it (the analysis outputs, run.json, summary.md)
    before_report = [n for n in _final_files(ref_dir) if n != "report.html" and not n.startswith(("table", "plots/"))]
    expected_left = {"prediction": [], "metrics": ["predictions.csv"], "report": before_report}[point]
    assert [n for n in left if not n.startswith(("table", "plots/"))] == expected_left
    if point == "report":  # killed between two plots: the first one is there, whole
        assert "plots/snr_macnn.png" in left and "plots/confusion_macnn.png" not in left
    code, _, err = cli(capsys, *run_args(out, *cache))
    assert code == 0, err
    assert run_outputs(out) == reference
    assert _final_files(out) == _final_files(ref_dir)
    assert not [p.name for p in out.rglob("*") if is_temporary_name(p)], "stale temporaries"
    info = json.loads((out / "run.json").read_text())
    if point == "prediction":  # the first batch came from the cache
        assert 0 < info["cache"]["hits"] < info["cache"]["hits"] + info["cache"]["misses"]


def test_no_writer_of_a_run_opens_a_final_name(reference_run):
    out, writes = reference_run
    mine = [w for w in writes if Path(w).resolve().is_relative_to(out.resolve())]
    assert len(mine) >= 10  # the recorder sees the writers (CSVs, tables, plots, report)
    assert [w for w in mine if not is_temporary_name(w)] == []


def _train_args(corpus, out) -> list[str]:
    return ["train", "--data", str(corpus), "--model", "macnn", "--aug", "none", "--epochs", "2",
            "--batch-size", "4", "--fold", "0", "--device", "cpu", "--threads", "1", "--out", str(out)]


def _train_until_step(step: int, argv: list[str]) -> None:
    import torch

    from audit.cli import main

    real, calls = torch.optim.Adam.step, []

    def counted(self, *a, **k):
        calls.append(1)
        if len(calls) == step:
            _die()
        return real(self, *a, **k)

    torch.optim.Adam.step = counted
    main(argv)


def test_training_killed_mid_epoch_resumes_to_identical_weights(tmp_path, capsys, corpus):
    whole = tmp_path / "whole"
    with record_writes() as writes:
        code, _, err = cli(capsys, *_train_args(corpus, whole))
    assert code == 0, err
    mine = [w for w in writes if Path(w).resolve().is_relative_to(whole.resolve())]
    assert mine and [w for w in mine if not is_temporary_name(w)] == []
    # 8 training utterances of 1 s, one segment each, 4 per batch: 2 steps per epoch
    killed = tmp_path / "killed"
    assert _killed_child(_train_until_step, 3, _train_args(corpus, killed)) == -signal.SIGKILL
    assert not (killed / "fold0.safetensors").exists() and not (killed / "fold0.json").exists()
    log = (killed / "fold0.log.csv").read_text().splitlines()
    assert len(log) == 2 and log[1].startswith("1,")  # header + the one finished epoch, whole
    code, _, err = cli(capsys, *_train_args(corpus, killed))
    assert code == 0, err
    assert (killed / "fold0.safetensors").read_bytes() == (whole / "fold0.safetensors").read_bytes()
    assert not (killed / "fold0.resume.pt").exists()
    assert not [p.name for p in killed.iterdir() if is_temporary_name(p)]
