"""`--executor ray` on a local cluster this module starts (127.0.0.1, 2 CPUs) and stops.

Byte-identical CSVs against the local executor, cached keys never scheduled, a killed run
resumed, a worker killed during its task. Skipped when ray is not installed.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from audit.engine import PredictionCache, RayExecutor, evaluate  # noqa: E402
from audit.models import load_models  # noqa: E402
from audit._atomic import atomic_write_csv  # noqa: E402

from _engine_helpers import CLASSES  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FAST = ["--workers", "1", "--n-boot", "20", "--batch-size", "6", "--no-report"]


@pytest.fixture(scope="module")
def toy_dir(tmp_path_factory) -> Path:
    """A folder with ``stall_ser.py``: a toy model whose first call after ``arm()`` stalls,
    writing its pid, so the test can kill that worker mid-task."""
    d = tmp_path_factory.mktemp("toy")
    (d / "stall_ser.py").write_text(textwrap.dedent(f"""
        import os, time
        import numpy as np
        MARK = {str(d / "armed")!r}
        PID = {str(d / "pid")!r}
        def predict(waveforms):
            try:
                os.unlink(MARK)  # exactly one call claims the stall
            except FileNotFoundError:
                pass
            else:
                with open(PID + ".tmp", "w") as fh:
                    fh.write(str(os.getpid()))
                os.replace(PID + ".tmp", PID)
                time.sleep(60)
                raise RuntimeError("the stalled worker was not killed")
            out = []
            for w in waveforms:
                rms = float(np.sqrt(np.mean(np.square(w))))
                z = np.array([rms * 40, 1.0 - rms * 10, rms * 3, 0.5])
                e = np.exp(z - z.max())
                out.append(e / e.sum())
            return np.array(out)
        predict.classes = {CLASSES!r}
    """))
    return d


@pytest.fixture(scope="module")
def cluster(toy_dir):
    """One local Ray cluster for the module; workers import the repo and the toy model."""
    sys.path.insert(0, str(toy_dir))
    path = os.pathsep.join([str(REPO), str(toy_dir), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1", logging_level="ERROR",
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()
    sys.path.remove(str(toy_dir))


def _outputs(run_dir: Path) -> dict[str, bytes]:
    names = ["predictions.csv", "metrics.csv", "problems.csv"]
    names += sorted(p.name for p in run_dir.glob("table*.*"))
    return {n: (run_dir / n).read_bytes() for n in names}


def _csv(df, path: Path) -> bytes:
    return atomic_write_csv(path, df).read_bytes()


def test_ray_run_writes_the_same_bytes_as_local(cluster, audit_cli, tmp_path, corpus, manifest,
                                                 fold_models):
    args = ["run", "noise", "--snr", "10", "--data", str(corpus), "--models", str(fold_models),
            *FAST]
    code, _, err = audit_cli(*args, "--out", str(tmp_path / "local"),
                             "--cache-dir", str(tmp_path / "c1"))
    assert code == 0, err
    code, _, err = audit_cli(*args, "--out", str(tmp_path / "ray"),
                             "--cache-dir", str(tmp_path / "c2"), "--executor", "ray")
    assert code == 0, err
    local, distributed = _outputs(tmp_path / "local"), _outputs(tmp_path / "ray")
    assert "table15_noise.csv" in local
    assert local == distributed
    info = json.loads((tmp_path / "ray" / "run.json").read_text())["executor"]
    assert info["executor"] == "ray" and info["tasks"] > 0
    assert info["returned_rows"] == 2 * len(manifest)  # clean + 10 dB, every utterance once
    # the cache is the source of truth: a rerun schedules nothing
    code, _, err = audit_cli(*args, "--out", str(tmp_path / "ray2"),
                             "--cache-dir", str(tmp_path / "c2"), "--executor", "ray")
    assert code == 0, err
    assert json.loads((tmp_path / "ray2" / "run.json").read_text())["executor"]["tasks"] == 0
    assert _outputs(tmp_path / "ray2") == local


def test_killed_ray_run_resumes_without_recomputing(cluster, manifest, tmp_path):
    sets = load_models(["stall_ser:predict"])
    conds = ["awgn:snr_db=5"]
    whole = evaluate(manifest, sets, conds, seed=2, batch_size=4)

    class Killed(Exception):
        pass

    def die(task_index):
        if task_index == 2:
            raise Killed

    ex = RayExecutor().connect()
    cache = PredictionCache(tmp_path)
    with pytest.raises(Killed):
        evaluate(manifest, sets, conds, seed=2, batch_size=4, cache=cache, after_batch=die,
                 executor=ex)
    cache.close()
    n_total = ex.stats["tasks"]
    ex = RayExecutor().connect()
    cache = PredictionCache(tmp_path)
    again = evaluate(manifest, sets, conds, seed=2, batch_size=4, cache=cache, executor=ex)
    # 4 batches x 2 conditions = 8 tasks; the 3 committed before the kill are not rerun
    assert n_total == 3 and ex.stats["tasks"] == 8 - 3
    assert cache.hits == 3 * 4
    assert _csv(whole, tmp_path / "a.csv") == _csv(again, tmp_path / "b.csv")


def test_worker_killed_during_a_task_is_retried(cluster, manifest, toy_dir, tmp_path):
    sets = load_models(["stall_ser:predict"])
    conds = ["awgn:snr_db=5"]
    whole = evaluate(manifest, sets, conds, seed=3, batch_size=8)
    (toy_dir / "armed").write_text("")
    killed: list[int] = []

    def killer() -> None:
        pid_file = toy_dir / "pid"
        for _ in range(600):
            if pid_file.exists():
                pid = int(pid_file.read_text())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    again = evaluate(manifest, sets, conds, seed=3, batch_size=8, executor=RayExecutor().connect())
    thread.join(timeout=1)
    assert killed, "no task stalled: the toy model was never called on a worker"
    assert not (toy_dir / "armed").exists()
    assert _csv(whole, tmp_path / "a.csv") == _csv(again, tmp_path / "b.csv")


def test_unreachable_address_is_one_error_line(audit_cli, tmp_path, corpus, fold_models):
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, _, err = audit_cli("run", "noise", "--snr", "10", "--data", str(corpus),
                             "--models", str(fold_models), "--out", str(tmp_path / "r"), *FAST,
                             "--executor", "ray", "--address", f"127.0.0.1:{port}")
    assert code == 2
    assert err.strip().splitlines() == [
        f"error: --address 127.0.0.1:{port}: cannot reach a Ray cluster there (Connection "
        "refused); start one with `ray start --head` or fix the address"]
    assert not (tmp_path / "r").exists()  # nothing was done


def _ray_workers(task_name: str) -> list[int]:
    """Pids of this test's own descendants that run ``task_name`` (Ray titles them)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" (", 1)
            children.setdefault(int(rest.rsplit(") ", 1)[1].split()[1]), []).append(int(pid))
        except (OSError, IndexError, ValueError):
            continue
    found, stack = [], [os.getpid()]
    while stack:
        for pid in children.get(stack.pop(), []):
            stack.append(pid)
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if cmd.startswith(f"ray::{task_name}".encode()):
                found.append(pid)
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker through /proc")
def test_fold_training_killed_mid_way_resumes_to_the_local_weights(cluster, corpus, manifest,
                                                                    tmp_path):
    from audit.engine.ray_training import run_fold_jobs_ray
    from audit.engine.training import plan_folds, run_fold_jobs
    from model import TrainConfig

    # 4 epochs: the kill after epoch 1 has 3 epochs to land in, even on a loaded machine
    config = TrainConfig(model="macnn", aug="none", epochs=4, batch_size=8, device="cpu",
                         threads=1).to_dict()

    def plan(out):
        return plan_folds(manifest, data=str(corpus), folds=[0], train_config=config, out=out)

    run_fold_jobs(plan(tmp_path / "local"), 1)
    killed: list[int] = []

    def killer() -> None:  # once epoch 1 is saved, kill the worker during a later epoch
        state = tmp_path / "ray" / "fold0.resume.pt"
        for _ in range(1200):
            if state.exists() and (pids := _ray_workers("fold_job_task")):
                os.kill(pids[0], signal.SIGKILL)
                killed.append(pids[0])
                return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    [result] = run_fold_jobs_ray(plan(tmp_path / "ray"), RayExecutor().connect())
    thread.join(timeout=1)
    assert killed and result["action"] == "resume"  # the resubmitted task resumed
    weights = [(tmp_path / d / "fold0.safetensors").read_bytes() for d in ("local", "ray")]
    assert weights[0] == weights[1]
    logs = [pd.read_csv(tmp_path / d / "fold0.log.csv").drop(columns="seconds")
            for d in ("local", "ray")]
    assert len(logs[1]) == 4 and logs[0].equals(logs[1])  # each epoch once: none trained twice
