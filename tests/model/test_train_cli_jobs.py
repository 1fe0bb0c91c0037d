"""``audit train`` as a long job: folds in parallel processes, a real kill, resume, --status."""

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audit.data import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("synth"), seed=5, n_speakers=4, utterances_per_emotion=1)


def _args(corpus, out, *extra):
    return ["train", "--data", str(corpus), "--model", "macnn", "--aug", "aam", "--batch-size", "8",
            "--device", "cpu", "--out", str(out), *extra]


def test_help_names_the_long_job_options(audit_cli):
    code, out, _ = audit_cli("train", "--help")
    assert code == 0
    for option in ("--precision", "--jobs", "--status", "--threads", "--time-budget"):
        assert option in out


def test_two_jobs_give_the_same_checkpoints_as_one(audit_cli, corpus, tmp_path):
    code, _, err1 = audit_cli(*_args(corpus, tmp_path / "j1", "--epochs", "1", "--jobs", "1",
                                     "--fold", "0", "--fold", "1"))
    assert code == 0, err1
    code, _, err2 = audit_cli(*_args(corpus, tmp_path / "j2", "--epochs", "1", "--jobs", "2",
                                     "--fold", "0", "--fold", "1"))
    assert code == 0, err2
    assert "2 at a time" in err2 and "1 at a time" in err1
    for k in (0, 1):
        assert _sha(tmp_path / "j1" / f"fold{k}.safetensors") == _sha(tmp_path / "j2" / f"fold{k}.safetensors")


def test_killed_training_resumes_to_the_uninterrupted_checkpoint(audit_cli, corpus, tmp_path):
    code, _, err = audit_cli(*_args(corpus, tmp_path / "full", "--epochs", "3", "--fold", "1"))
    assert code == 0, err
    cut = tmp_path / "cut"
    cmd = [sys.executable, "-m", "audit", *_args(corpus, cut, "--epochs", "3", "--fold", "1")]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    state = cut / "fold1.resume.pt"
    deadline = time.monotonic() + 300
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)  # after epoch 1 of 3 was saved: mid-way through epoch 2
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-500:]
    assert state.exists() and not (cut / "fold1.safetensors").exists()  # really cut short
    # a kill between a write and its rename may leave the temporary file (never a partial file
    # under a real name); the resumed run removes it
    assert all(p.name.startswith(".fold1.") for p in cut.glob(".*.tmp"))
    code, _, err = audit_cli(*_args(corpus, cut, "--epochs", "3", "--fold", "1"))
    assert code == 0 and "resuming" in err
    assert _sha(cut / "fold1.safetensors") == _sha(tmp_path / "full" / "fold1.safetensors")
    assert not state.exists() and not list(cut.glob(".*.tmp"))


def test_a_killed_writers_temporary_files_are_removed_for_this_fold_only(audit_cli, corpus, tmp_path):
    out = tmp_path / "stale"
    out.mkdir()
    mine = [out / ".fold1.log.csv.ab12cd.tmp", out / ".fold1.resume.pt.x9.tmp", out / ".fold1.safetensors.q.tmp"]
    others = [out / ".fold0.log.csv.ab12cd.tmp", out / ".fold10.json.zz.tmp", out / ".notes.txt.tmp"]
    for p in mine + others:
        p.write_bytes(b"partial")
    code, _, err = audit_cli(*_args(corpus, out, "--epochs", "1", "--fold", "1"))
    assert code == 0, err
    assert not any(p.exists() for p in mine)
    assert all(p.exists() for p in others)  # fold 0 (and fold 10) may be training beside it
    assert (out / "fold1.safetensors").exists()


def test_status_reports_done_and_unfinished_folds(audit_cli, corpus, tmp_path):
    out = tmp_path / "st"
    code, _, err = audit_cli(*_args(corpus, out, "--epochs", "3", "--fold", "0", "--time-budget", "1e-6"))
    assert code == 0, err
    code, _, err = audit_cli(*_args(corpus, out, "--epochs", "1", "--fold", "1"))
    assert code == 0, err
    code, text, _ = audit_cli("train", "--status", str(out))
    assert code == 0
    lines = {line.split()[1]: line.split() for line in text.splitlines()[1:]}
    assert lines["fold0"][2] == "1/3" and lines["fold0"][-1] == "running/unfinished"
    assert lines["fold1"][2] == "1/1" and lines["fold1"][-1] == "finished"
    code, _, err = audit_cli("train", "--status", str(tmp_path / "none"))
    assert code == 2 and err.strip().endswith("no such training folder") and len(err.strip().splitlines()) == 1
