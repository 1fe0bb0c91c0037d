"""Kills: an audit SIGKILLed during prediction, while writing metrics.csv, while writing the
report and in the middle of moving its outputs into the run folder, and a training SIGKILLed
mid-epoch. A killed rerun leaves the previous run whole (or, killed while moving in, a part of
the new one, never a mix); the next rerun gives byte-identical outputs. No writer opens a file
in the run folder: a run writes into its staging folder, which is renamed in at the end."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
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
    import sys

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
    elif point == "commit":  # moving the staged outputs in: after the second rename

        renames = []

        def on_rename(event, args):
            if event != "os.rename":
                return
            src, dst = os.fsdecode(args[0]), os.fsdecode(args[1])
            if ".staging-" in src and ".staging-" not in dst:
                renames.append(args[0])
                if len(renames) == 3:
                    _die()

        sys.addaudithook(on_rename)
    else:
        needle = {"metrics": "metrics.csv", "report": "confusion_macnn"}[point]  # the plot, not confusion_drift.csv

        def hook(event, args):  # kill as the file is opened for writing, before any byte lands
            path = opened_for_writing(event, args)
            if path is not None and needle in Path(path).name:
                _die()

        sys.addaudithook(hook)
    main(argv)


def _final_files(run_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
                  if p.is_file() and not is_temporary_name(p))


def _staging(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.staging-*"))


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory, run_args):
    """Another audit (10 dB, no report) of the same models: what the folder held before."""
    from audit.cli import main

    out = tmp_path_factory.mktemp("previous") / "run"
    with pytest.raises(SystemExit) as done:
        main(run_args(out, "--no-cache", "--snr", "10", "--no-report"))
    assert done.value.code == 0
    return out


@pytest.mark.parametrize("point", ["prediction", "metrics", "report", "commit"])
def test_killed_audit_reruns_to_identical_outputs(point, tmp_path, capsys, run_args, reference_run,
                                                   previous_run):
    ref_dir, _ = reference_run
    reference, before = run_outputs(ref_dir), run_outputs(previous_run)
    out, cache = tmp_path / "run", ["--cache-dir", str(tmp_path / "cache")]
    shutil.copytree(previous_run, out)
    (out / "notes.txt").write_text("not the toolkit's\n")
    assert _killed_child(_audit_until, point, run_args(out, *cache)) == -signal.SIGKILL
    now = run_outputs(out)
    if point == "commit":  # the previous run's files are gone; what moved in is whole and new
        assert now and all(reference.get(name) == data for name, data in now.items()), sorted(now)
        assert set(now) < set(reference)
    else:  # killed before the outputs moved in: the previous run is there, whole
        assert now == before
        assert _final_files(out) == sorted([*_final_files(previous_run), "notes.txt"])
    assert len(_staging(out)) == 1, "the killed run's staging folder"
    code, _, err = cli(capsys, *run_args(out, *cache))
    assert code == 0, err
    assert run_outputs(out) == reference
    assert _final_files(out) == sorted([*_final_files(ref_dir), "notes.txt"])
    assert not [p.name for p in out.rglob("*") if is_temporary_name(p)], "stale temporaries"
    assert _staging(out) == [], "the killed run's staging folder is removed by the next run"
    info = json.loads((out / "run.json").read_text())
    if point == "prediction":  # the first batch came from the cache
        assert 0 < info["cache"]["hits"] < info["cache"]["hits"] + info["cache"]["misses"]


def test_no_writer_of_a_run_opens_a_file_in_the_run_folder(reference_run):
    out, writes = reference_run
    inside = [w for w in writes if Path(w).resolve().is_relative_to(out.resolve())]
    staged = [w for w in writes if f".{out.name}.staging-" in w]
    assert len(staged) >= 10  # the recorder sees the writers (CSVs, tables, plots, report)
    assert inside == []  # the run folder only ever receives whole files, by rename


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
