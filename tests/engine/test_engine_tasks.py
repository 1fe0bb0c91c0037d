"""The task decomposition behind ``--executor ray``, run in process (no Ray needed)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from audit._atomic import atomic_write_csv
from audit.data import ProblemLog
from audit.engine import evaluate, run_shard_task
from audit.workflows.pipeline import RunOptions, make_executor
from audit.errors import AuditError
from audit.models import load_models
from audit.scenario import resolve_scenario, scenario_from_dict

from _engine_helpers import with_extra_utterance


class SerialExecutor:
    """The executor interface, one task after another in this process (pickled like Ray)."""

    def __init__(self) -> None:
        self.tasks = []

    def run(self, ctx, tasks, on_result) -> int:
        import pickle

        ctx = pickle.loads(pickle.dumps(ctx))
        for task in tasks:
            self.tasks.append(task)
            on_result(task, run_shard_task(ctx, pickle.loads(pickle.dumps(task))))
        return len(self.tasks)


def _csv(df, path) -> bytes:
    return atomic_write_csv(path, df).read_bytes()


def test_tasks_reproduce_the_local_engine(manifest, fold_models, tmp_path):
    df = with_extra_utterance(manifest, tmp_path, "zz_silent", np.zeros(16000))
    sets = load_models([str(fold_models)])
    conds = ["awgn:snr_db=10"]
    p_local, p_tasks = ProblemLog(), ProblemLog()
    local = evaluate(df, sets, conds, seed=4, batch_size=5, problems=p_local)
    ex = SerialExecutor()
    tasks = evaluate(df, sets, conds, seed=4, batch_size=5, problems=p_tasks, executor=ex)
    assert _csv(local, tmp_path / "a.csv") == _csv(tasks, tmp_path / "b.csv")
    # the silent file fails in each condition's task but is one problems.csv row, as locally
    assert p_tasks.rows == p_local.rows and len(p_local) == 1
    # one task per (model, fold, condition, batch): never two folds or conditions in one
    for t in ex.tasks:
        folds = set(df.set_index("utt_id").loc[[u for u, _, _ in t.rows], "fold"])
        assert folds == {t.fold}
    n_batches = -(-len(df) // 5)
    assert len({(t.shard, t.condition) for t in ex.tasks}) == n_batches * 2


def test_worker_refuses_a_checkpoint_that_differs_from_the_drivers(manifest, fold_models):
    sets = load_models([str(fold_models)])
    for pred in sets[0].predictors.values():
        pred.sha256 = "0" * 64  # as if the worker's file were another version
    with pytest.raises(AuditError, match="worker's copy differs from the driver's"):
        evaluate(manifest, sets, [], seed=1, executor=SerialExecutor())


def test_executor_comes_from_the_options_then_the_scenario(tmp_path):
    spec = resolve_scenario("noise").model_dump()
    spec["execution"] = {"executor": "ray", "address": "10.0.0.5:6379", "gpus_per_task": 0.25}
    scenario = scenario_from_dict(spec, "spec.toml")
    opts = RunOptions(data="d", models=["m"], out=tmp_path)
    ex = make_executor(scenario, opts)
    assert (ex.address, ex.gpus_per_task) == ("10.0.0.5:6379", 0.25)
    opts.executor, opts.address = "ray", "127.0.0.1:1"
    assert make_executor(scenario, opts).address == "127.0.0.1:1"
    opts.executor = "local"
    assert make_executor(scenario, opts) is None
    assert make_executor(resolve_scenario("noise"), RunOptions("d", ["m"], tmp_path)) is None
    spec["execution"] = {"executor": "ray", "adress": "x:1"}
    with pytest.raises(AuditError, match=r"spec.toml: unknown key 'execution.adress'.*'address'"):
        scenario_from_dict(spec, "spec.toml")


def test_missing_ray_is_one_line(monkeypatch, capsys, corpus, fold_models, tmp_path):
    from audit.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(SystemExit) as done:
        main(["run", "noise", "--data", str(corpus), "--models", str(fold_models),
              "--out", str(tmp_path / "r"), "--executor", "ray"])
    assert done.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "error: --executor ray needs Ray: pip install 'ser-audit[ray]'")
