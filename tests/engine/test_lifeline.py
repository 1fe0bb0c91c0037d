"""Pool workers of training and rendering end when their driver is killed."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from audit.engine._lifeline import process_ended

_DRIVER = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from concurrent.futures import ProcessPoolExecutor
    import {module} as m

    if __name__ == "__main__":
        ctx = multiprocessing.get_context("{start}")
        pool = ProcessPoolExecutor(1, mp_context=ctx, initializer=m.{init}{args})
        print(pool.submit(os.getpid).result(), flush=True)
        pool.submit(time.sleep, 300)  # a long fold the driver will not live to see
        time.sleep(300)
""")


def _alive(pid: int) -> bool:
    return not process_ended(pid)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_process_ended_tells_a_live_process_from_an_ended_and_a_zombie_one():
    assert not process_ended(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30  # not reaped yet: a zombie, which has ended
    while not process_ended(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_ended(child.pid)
    child.wait()  # reaped: the pid names no process
    assert process_ended(child.pid)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("module,init,args,start", [
    ("audit.engine.training", "_init_worker", ", initargs=(1, os.getpid())", "spawn"),
    ("audit.engine.conditions", "_pool_init", ", initargs=(os.getpid(),)", "forkserver"),
], ids=["training", "rendering"])
def test_a_worker_exits_when_its_driver_is_killed(tmp_path, module, init, args, start):
    script = tmp_path / "driver.py"
    script.write_text(_DRIVER.format(module=module, init=init, args=args, start=start))
    driver = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        worker = int(driver.stdout.readline())
        assert _alive(worker)
        time.sleep(1.5)
        assert _alive(worker)  # the watch does not end a worker whose driver lives
        driver.send_signal(signal.SIGKILL)  # what `kill -9` does: no cleanup runs in the driver
        driver.wait(10)
        deadline = time.monotonic() + 30
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), f"worker {worker} outlived its killed driver"
    finally:
        driver.kill()
        if _alive(worker if "worker" in locals() else -1):
            os.kill(worker, signal.SIGKILL)
