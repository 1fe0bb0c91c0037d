"""``audit run --jobs N``: batches evaluated in forked one-thread processes.

The CSVs of a ``--jobs 2`` run in a fresh interpreter must equal, byte for byte, those of the
same command with ``--jobs 1`` in this process, problems included, and the predictions must
really have been computed in other processes (a silent fallback to one process would pass the
byte comparison). The driver's ordering (results, problems, commits in batch order whatever
finishes first), a dying worker and a user error inside a worker are tested on a toy batch step.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _engine_helpers import save_untrained, toy_model_source
from audit.engine import jobs as jobs_module
from audit.engine.jobs import check_jobs, resolve_jobs, run_batches_in_jobs, usable_cores
from audit.errors import AuditError

_REPO = Path(__file__).resolve().parents[2]
SR = 48000
ARGS = ["--snr", "0", "10", "--seed", "11", "--batch-size", "3", "--n-boot", "20", "--no-cache",
        "--no-report", "--device", "cpu"]

# A waveform-sensitive entry point that notes which process ran each call.
_TOY = toy_model_source(first="""
folder = os.environ.get("JOBS_TEST_PIDS")
if folder:
    open(os.path.join(folder, str(os.getpid())), "a").write(str(len(waveforms)) + "\\n")
""".strip())


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, Path, Path, int]:
    """(``--jobs 2`` run in a subprocess, ``--jobs 1`` run here, the folder where the toy model
    notes its processes (the subprocess's only), the subprocess's pid)."""
    from audit.cli import main
    from audit.data import read_manifest, write_synthetic_corpus, write_manifest

    root = tmp_path_factory.mktemp("jobs")
    corpus = write_synthetic_corpus(root / "corpus", seed=3, n_speakers=2, utterances_per_emotion=1,
                                    n_folds=2, sample_rate=SR)
    manifest = read_manifest(corpus)
    bad = root / "corpus" / "broken.wav"
    bad.write_bytes(b"RIFF not really a wav file")
    row = manifest.iloc[0].to_dict()
    row.update(utt_id="zz_broken", path=str(bad))
    manifest = pd.concat([manifest, pd.DataFrame([row])], ignore_index=True)
    data = write_manifest(manifest, root / "manifest.csv")
    for k in sorted(manifest["fold"].unique()):
        train = manifest.loc[manifest["fold"] != k, "speaker"].unique()
        save_untrained(root / "macnn" / f"fold{k}", fold=int(k), seed=21 + int(k), train_speakers=train)
    (root / "jobs_toy.py").write_text(_TOY)
    pids = root / "pids"
    pids.mkdir()

    def args(name: str, jobs: int) -> list[str]:
        return ["run", "noise", "--data", str(data), "--models", str(root / "macnn"), "jobs_toy:predict",
                "--out", str(root / name), "--jobs", str(jobs), *ARGS]

    env = {**os.environ, "JOBS_TEST_PIDS": str(pids), "OMP_NUM_THREADS": "2",
           "PYTHONPATH": os.pathsep.join([str(_REPO), str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "audit", *args("jobs2", 2)], env=env, cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"the --jobs 2 run failed: {err[-2000:]}"
    auto = args("auto", 0)
    del auto[auto.index("--jobs"):auto.index("--jobs") + 2]
    auto[auto.index("--batch-size") + 1] = "1"  # 9 batches: auto gives min(cores, 9 // 4) jobs
    done_auto = subprocess.run([sys.executable, "-m", "audit", *auto], env={**env, "JOBS_TEST_PIDS": ""},
                               cwd=root, capture_output=True, text=True, timeout=600)
    assert done_auto.returncode == 0, f"the default --jobs run failed: {done_auto.stderr[-2000:]}"
    (root / "auto.stderr").write_text(done_auto.stderr)
    sys.path.insert(0, str(root))
    try:
        with pytest.raises(SystemExit) as done:
            main(args("jobs1", 1))
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("jobs_toy", None)
    assert done.value.code == 0
    return root / "jobs2", root / "jobs1", pids, proc.pid


def test_two_jobs_give_the_bytes_of_one(runs):
    two, one, _, _ = runs
    assert json.loads((two / "run.json").read_text())["jobs"] == 2 and json.loads((one / "run.json").read_text())["jobs"] == 1
    preds = pd.read_csv(two / "predictions.csv")
    assert sorted(preds["model"].unique()) == ["macnn", "predict"]
    assert preds["condition"].nunique() == 3 and len(preds) == 2 * 3 * 8  # the broken file skipped
    problems = pd.read_csv(two / "problems.csv")
    assert problems["utt_id"].tolist() == ["zz_broken"]
    names = ["predictions.csv", "metrics.csv", "problems.csv", *sorted(p.name for p in two.glob("table*.*"))]
    for name in names:
        assert (two / name).read_bytes() == (one / name).read_bytes(), f"{name} differs"


def test_the_default_jobs_are_automatic_and_change_no_byte(runs):
    """Without --jobs the count is resolved (one per core, at most one per 4 batches: 9 batches
    of one utterance give 2 on two or more cores), run.json records the number used, and the
    CSVs are those of --jobs 1."""
    _, one, _, _ = runs
    auto = one.parent / "auto"
    info = json.loads((auto / "run.json").read_text())
    assert "--jobs" not in info["command"] and "0" in info["command"]  # (--snr 0 10 kept)
    # On a host with little free memory auto takes fewer, and its warning says how many.
    bound = re.search(r"--jobs auto: (\d+) job\(s\), not (\d+)", (one.parent / "auto.stderr").read_text())
    if bound:
        assert int(bound[2]) == min(usable_cores(), 2) and info["jobs"] == int(bound[1]) < int(bound[2])
    else:
        assert info["jobs"] == min(usable_cores(), 2)
    for name in ["predictions.csv", "metrics.csv", "problems.csv"]:
        assert (auto / name).read_bytes() == (one / name).read_bytes(), f"{name} differs"


def test_the_predictions_ran_in_two_other_processes(runs):
    _, _, pids, driver = runs
    calls = {int(p.name): sum(int(n) for n in p.read_text().split()) for p in pids.iterdir()}
    # 8 utterances x 3 conditions, in batches of 3 utterances, shared by the two workers
    assert len(calls) == 2 and driver not in calls and os.getpid() not in calls
    assert sum(calls.values()) == 24 and min(calls.values()) > 0


def test_check_jobs_refuses_what_cannot_run():
    assert check_jobs(1, device="cuda") == 1  # one job is the plain loop everywhere
    assert check_jobs(2, device="cpu") == 2
    assert check_jobs("auto", device="cuda") == "auto"  # decided with the batches (resolve_jobs)
    for jobs, kw, words in [(0, {}, ">= 1"), ("x", {}, "whole number"),
                            (2, {"device": "cuda:0"}, "CPU only"),
                            (2, {"executor": object()}, "local executor")]:
        with pytest.raises(AuditError, match=words):
            check_jobs(jobs, **{"device": "cpu", **kw})


def test_auto_jobs_follow_cores_and_batches(monkeypatch):
    monkeypatch.setattr(jobs_module, "available_memory", lambda: None)  # memory: its own test
    monkeypatch.setattr(jobs_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(jobs_module, "_on_linux", lambda: True)
    for n_batches, want in [(0, 1), (1, 1), (7, 1), (8, 2), (23, 2), (1000, 2)]:
        assert resolve_jobs("auto", device="cpu", n_batches=n_batches) == want, n_batches
    assert resolve_jobs(None, device="cpu", n_batches=8) == 2 and resolve_jobs(" AUTO ", device="cpu", n_batches=8) == 2
    monkeypatch.setattr(jobs_module, "usable_cores", lambda: 1)
    assert resolve_jobs("auto", device="cpu", n_batches=1000) == 1
    monkeypatch.setattr(jobs_module, "usable_cores", lambda: 16)
    assert resolve_jobs("auto", device="cpu", n_batches=24) == 6
    assert resolve_jobs("auto", device="cpu", n_batches=400) == 8  # at most 8 however many cores
    # no forked job wherever jobs cannot fork or would not help
    assert resolve_jobs("auto", device="cuda", n_batches=400) == 1
    assert resolve_jobs("auto", device="cuda:1", n_batches=400) == 1
    assert resolve_jobs("auto", device="cpu", executor=object(), n_batches=400) == 1
    monkeypatch.setattr(jobs_module, "_on_linux", lambda: False)
    assert resolve_jobs("auto", device="cpu", n_batches=400) == 1
    # an explicit count is kept (never more than the batches) and still checked
    assert resolve_jobs(3, device="cpu", n_batches=400) == 3
    assert resolve_jobs(3, device="cpu", n_batches=2) == 2
    assert resolve_jobs(1, device="cuda", n_batches=400) == 1
    with pytest.raises(AuditError, match="CPU only"):
        resolve_jobs(2, device="cuda", n_batches=400)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize("proc, files, want", [
    # cgroup v2: the tightest limit from the process's cgroup up to the root, rounded up
    ("0::/a/b\n", {"cpu.max": "max 100000\n", "a/cpu.max": "400000 100000\n",
                   "a/b/cpu.max": "150000 100000\n"}, 2),
    ("0::/a/b\n", {"cpu.max": "max 100000\n", "a/cpu.max": "300000 100000\n", "a/b/cpu.max": "max 100000\n"}, 3),
    ("0::/a\n", {"cpu.max": "50000 100000\n", "a/cpu.max": "max 100000\n"}, 1),
    # a container without a cgroup namespace: the host's path is missing, its own root counts
    ("0::/docker/0123\n", {"cpu.max": "200000 100000\n"}, 2),
    ("0::/\n", {"cpu.max": "max 100000\n"}, None),
    # cgroup v1 (the controllers' folder named as in /proc/self/cgroup, or plain cpu/)
    ("4:cpu,cpuacct:/user.slice\n", {"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n",
                                       "cpu,cpuacct/user.slice/cpu.cfs_quota_us": "300000\n",
                                       "cpu,cpuacct/user.slice/cpu.cfs_period_us": "100000\n"}, 3),
    ("1:cpu:/\n2:cpuacct:/\n", {"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
    ("2:cpuacct:/x\n", {"cpuacct/x/cpu.cfs_quota_us": "100000\n", "cpuacct/x/cpu.cfs_period_us": "100000\n"}, None),
    # nothing to read, or nonsense
    ("0::/\n", {}, None), ("0::/\n", {"cpu.max": "garbage\n"}, None), ("not a cgroup line\n", {}, None),
])
def test_a_cgroup_cpu_limit_caps_the_usable_cores(tmp_path, monkeypatch, proc, files, want):
    """``docker --cpus 2`` or ``CPUQuota=200%`` on a 64-core host leaves the affinity at 64
    cores; the cgroup's quota is the limit (the closed forms: ceil(quota / period), the least
    along the path)."""
    from audit.engine import _cores

    root = _tree(tmp_path / "cgroup", files)
    root.mkdir(exist_ok=True)
    (tmp_path / "proc_cgroup").write_text(proc)
    assert _cores.cgroup_cpus(root, tmp_path / "proc_cgroup") == want
    monkeypatch.setattr(_cores, "CGROUP_ROOT", root)
    monkeypatch.setattr(_cores, "PROC_CGROUP", tmp_path / "proc_cgroup")
    monkeypatch.setattr(_cores.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert usable_cores() == (want or 64)


def test_an_unreadable_proc_cgroup_falls_back_to_the_roots(tmp_path):
    from audit.engine import _cores

    root = _tree(tmp_path / "cgroup", {"cpu.max": "250000 100000\n"})
    assert _cores.cgroup_cpus(root, tmp_path / "missing") == 3


def test_cli_refuses_zero_jobs(audit_cli, corpus, fold_models, tmp_path):
    code, _, err = audit_cli("run", "--data", str(corpus), "--models", str(fold_models),
                             "--out", str(tmp_path / "r"), "--jobs", "0", "--no-cache")
    assert code == 2 and "--jobs" in err and "Traceback" not in err
    code, _, err = audit_cli("run", "--data", str(corpus), "--models", str(fold_models),
                             "--out", str(tmp_path / "r"), "--jobs", "some", "--no-cache")
    assert code == 2 and "'some': expected a whole number >= 1 or 'auto'" in err and "Traceback" not in err
    code, _, err = audit_cli("run", "--data", str(corpus), "--models", str(fold_models),
                             "--out", str(tmp_path / "r"), "--jobs", "\u00b2", "--no-cache")
    assert code == 2 and "expected a whole number" in err and "Traceback" not in err


def test_jobs_option_accepts_counts_and_auto():
    from audit.commands._options import _JobsType

    t = _JobsType()
    assert [t.convert(v, None, None) for v in ["auto", " AUTO ", "3", 2]] == ["auto", "auto", 3, 2]


class _Store:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.problems = self

    def put(self, items) -> None:
        self.calls.append(("put", [(k, p.tolist(), r) for k, p, r in items]))

    def add(self, stage, problem, **where) -> None:
        self.calls.append(("problem", stage, problem, where))


def _toy_compute(batch, todo, *, renderer, store):
    if batch == "die":
        os._exit(3)
    if batch == "refuse":
        raise AuditError("toy.wav: refused by the toy step")
    if batch == "slow":
        time.sleep(1.0)  # finishes after the batches behind it
    store.problems.add("load", f"{batch}: noted", utt_id=batch, path="", condition="")
    store.put([(k, np.full(2, float(len(k))), json.dumps({"pid": os.getpid()})) for k in sorted(todo.values())])


def test_results_come_back_in_batch_order_whatever_finishes_first():
    batches = ["slow", "a", "b", "cached", "c"]
    store, done, looked = _Store(), [], []

    def lookup(b):
        looked.append(b)
        return {} if batches[b] == "cached" else {("m", "clean", batches[b]): f"key-{batches[b]}"}

    run_batches_in_jobs(batches, 2, seed=0, device="cpu", lookup=lookup, compute=_toy_compute,
                        store=store, on_done=done.append)
    assert done == [0, 1, 2, 3, 4] and looked == [0, 1, 2, 3, 4]
    got = [(c[0], c[2] if c[0] == "problem" else c[1][0][0]) for c in store.calls]
    # per batch its results, then its problems (in the order the step noted them)
    assert got == [("put", "key-slow"), ("problem", "slow: noted"), ("put", "key-a"),
                   ("problem", "a: noted"), ("put", "key-b"), ("problem", "b: noted"),
                   ("put", "key-c"), ("problem", "c: noted")]
    pids = {json.loads(c[1][0][2])["pid"] for c in store.calls if c[0] == "put"}
    assert os.getpid() not in pids


def test_a_dying_job_is_one_line_and_earlier_batches_are_kept():
    store, done = _Store(), []
    with pytest.raises(AuditError, match="job process died.*rerun") as info:
        run_batches_in_jobs(["a", "die", "b"], 2, seed=0, device="cpu",
                            lookup=lambda b: {("m", "c", b): f"k{b}"}, compute=_toy_compute,
                            store=store, on_done=done.append)
    assert "\n" not in str(info.value) and done == [0]


def test_a_user_error_in_a_job_reaches_the_driver_as_itself():
    with pytest.raises(AuditError, match="toy.wav: refused"):
        run_batches_in_jobs(["a", "refuse"], 2, seed=0, device="cpu",
                            lookup=lambda b: {("m", "c", b): f"k{b}"}, compute=_toy_compute,
                            store=_Store(), on_done=lambda b: None)
