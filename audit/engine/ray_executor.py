"""Run the engine's tasks on a Ray cluster (``--executor ray``); the driver keeps the cache.

Each :class:`~audit.engine.tasks.ShardTask` becomes one Ray task declaring ``num_cpus=1``
(and ``num_gpus`` when the device is a GPU). Tasks are retried when their worker process dies
(``max_retries``); a task that raises a user error stops the run with that error. Results come
back to the driver, which writes them to the cache and commits after every task, so a run
killed mid-way resumes with only the tasks in flight lost.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Iterable
from typing import Any

from audit.engine.tasks import ShardTask, TaskContext, TaskResult, run_shard_task
from audit.errors import AuditError, user_errors

__all__ = ["RayExecutor", "check_reachable", "import_ray"]

log = logging.getLogger(__name__)

# How often a task is re-run after its worker died (node lost, OOM kill, SIGKILL).
MAX_RETRIES = 3


def _ray_shard_task(ctx: TaskContext, task: ShardTask) -> TaskResult:
    """``run_shard_task`` in a Ray worker, which keeps freed memory for reuse like our pools
    within a task and hands it back after it."""
    from audit._malloc import keep_freed_memory, release_free_memory

    keep_freed_memory()
    try:
        return run_shard_task(ctx, task)
    finally:
        release_free_memory()


def import_ray() -> Any:
    """The ``ray`` module, or one clear line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise AuditError("--executor ray needs Ray: pip install 'ser-audit[ray]'") from None
    return ray


def check_reachable(address: str, timeout_s: float = 3.0) -> None:
    """Raise :class:`AuditError` unless ``HOST:PORT`` (or ``ray://HOST:PORT``) accepts TCP.

    ``ray.init`` would otherwise retry an unreachable address for a minute and then print a
    page of log lines; this says in one line what is wrong, before any work is done.
    """
    text = address.removeprefix("ray://")
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise AuditError(f"--address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise AuditError(f"--address {address}: cannot reach a Ray cluster there ({reason}); "
                         "start one with `ray start --head` or fix the address") from None


class RayExecutor:
    """A connection to a Ray cluster that runs shard tasks.

    Parameters
    ----------
    address : ``None`` (an already connected cluster, ``$RAY_ADDRESS``, or a new local one with
        ``num_cpus`` CPUs), ``auto`` (a running local cluster), or ``HOST:PORT`` / ``ray://...``.
    num_cpus : CPUs of a new local cluster (ignored when connecting to an existing one).
    gpus_per_task : GPUs each task asks for when the device is a GPU (fractions share one).
    log_to_driver : show the workers' stdout/stderr here (training progress lines).
    """

    def __init__(self, address: str | None = None, *, num_cpus: int | None = None,
                 gpus_per_task: float = 1.0, log_to_driver: bool = False) -> None:
        if gpus_per_task <= 0:
            raise AuditError(f"--gpus-per-task must be > 0, got {gpus_per_task}")
        self.address = address
        self.num_cpus = num_cpus
        self.gpus_per_task = float(gpus_per_task)
        self.log_to_driver = bool(log_to_driver)
        self.stats = {"tasks": 0, "submitted_bytes": 0, "returned_rows": 0}
        self._owned = False
        self._ray: Any = None

    # -- connection --------------------------------------------------------------------------
    def connect(self) -> RayExecutor:
        """Connect (or start a local cluster); an unreachable address is one AuditError line."""
        ray = import_ray()
        self._ray = ray
        if self.address not in (None, "auto"):
            check_reachable(self.address)
        if ray.is_initialized():  # a caller's connection (a notebook, the tests) is used as is
            return self
        # quiet: the CLI's stderr is for the user's errors, Ray's logs stay in its log folder
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": self.log_to_driver,
                                  "logging_level": logging.ERROR}
        if self.address is None and self.num_cpus:
            kwargs["num_cpus"] = int(self.num_cpus)
        try:
            ray.init(address=self.address, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise AuditError(f"--address {self.address or 'local'}: cannot connect to Ray "
                             f"({first})") from None
        self._owned = True
        return self

    def close(self) -> None:
        """Disconnect; a local cluster this executor started is shut down."""
        if self._owned and self._ray is not None:
            self._ray.shutdown()
        self._owned = False

    def __enter__(self) -> RayExecutor:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def ray(self) -> Any:
        """The connected ``ray`` module (after :meth:`connect`)."""
        if self._ray is None:
            raise AuditError("RayExecutor: call connect() first")
        return self._ray

    def resolve_device(self, device: str) -> str:
        """``auto`` -> ``cuda`` when the cluster has GPUs (the driver may have none);
        ``cuda:N`` -> ``cuda``: Ray gives each task its GPU(s) as the visible ones."""
        if device == "auto":
            return "cuda" if self._ray.cluster_resources().get("GPU", 0) > 0 else "cpu"
        return "cuda" if str(device).startswith("cuda") else device

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for run.json."""
        res = self._ray.cluster_resources() if self._ray is not None else {}
        return {"executor": "ray", "address": self.address or "local",
                "cluster_cpus": res.get("CPU", 0), "cluster_gpus": res.get("GPU", 0),
                "nodes": len(self._ray.nodes()) if self._ray is not None else 0, **self.stats}

    # -- scheduling --------------------------------------------------------------------------
    def run(self, ctx: TaskContext, tasks: Iterable[ShardTask],
            on_result: Callable[[ShardTask, TaskResult], None]) -> int:
        """Run ``tasks``, calling ``on_result`` in the driver as each finishes; returns the count.

        At most two tasks per cluster CPU are in flight, so a long plan never floods the object
        store and a killed driver loses little.
        """
        import pickle

        ray = self._ray
        gpus = self.gpus_per_task if str(ctx.device).startswith("cuda") else 0
        remote = ray.remote(_ray_shard_task).options(num_cpus=1, num_gpus=gpus,
                                                     max_retries=MAX_RETRIES,
                                                     retry_exceptions=False)
        ctx_ref = ray.put(ctx)
        limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
        pending: dict[Any, ShardTask] = {}
        done = 0
        todo = iter(tasks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < limit:
                task = next(todo, None)
                if task is None:
                    exhausted = True
                    break
                self.stats["submitted_bytes"] += len(pickle.dumps(task))
                pending[remote.remote(ctx_ref, task)] = task
            if not pending:
                return done
            ready, _ = ray.wait(list(pending), num_returns=1)
            task = pending.pop(ready[0])
            result = self._get(ready[0], task, ctx)
            self.stats["tasks"] += 1
            self.stats["returned_rows"] += len(result.items)
            on_result(task, result)
            done += 1

    def _get(self, ref: Any, task: ShardTask, ctx: TaskContext) -> TaskResult:
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause
            log.debug("task %s failed:\n%s", task.describe(ctx), exc)  # the worker's traceback
            if isinstance(cause, user_errors()):
                raise AuditError(f"task {task.describe(ctx)}: {cause}") from None
            raise AuditError(f"task {task.describe(ctx)} failed on a worker: "
                             f"{type(cause).__name__}: {cause}") from None
        except ray.exceptions.RayError as exc:  # worker or node died (killed, OOM) every try
            tries = MAX_RETRIES + 1
            raise AuditError(f"task {task.describe(ctx)}: its worker died {tries} "
                             f"time{'s' * (tries != 1)} ({type(exc).__name__}); see the Ray "
                             "logs") from None
