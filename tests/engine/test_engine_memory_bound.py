"""``--jobs auto`` starts no more jobs than the available memory holds copies of the driver:
``MemAvailable`` within the cgroup's memory limit, read on generated trees."""

import logging
from pathlib import Path

import pytest

import audit.engine.jobs as jobs_module
from audit.engine._memory import available_memory, cgroup_headroom, meminfo_available
from audit.engine.jobs import memory_jobs, resolve_jobs

GIB = 1 << 30


def _tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.mark.parametrize("proc, files, want", [
    # cgroup v2: limit - usage, the least along the path from the process's cgroup to the root
    ("0::/a/b\n", {"memory.max": "max\n", "a/memory.max": "8000\n", "a/memory.current": "5000\n",
                   "a/b/memory.max": "max\n", "a/b/memory.current": "4000\n"}, 3000),
    ("0::/a/b\n", {"a/memory.max": "8000\n", "a/memory.current": "1000\n",
                   "a/b/memory.max": "6000\n", "a/b/memory.current": "1000\n"}, 5000),
    ("0::/a\n", {"a/memory.max": "1000\n", "a/memory.current": "1500\n"}, 0),  # over: no room
    ("0::/docker/0123\n", {"memory.max": "4096\n", "memory.current": "1024\n"}, 3072),  # host path missing
    ("0::/\n", {"memory.max": "max\n", "memory.current": "1\n"}, None),
    # cgroup v1: "no limit" is a page-rounded 2**63 - 1
    ("4:memory:/x\n", {"memory/memory.limit_in_bytes": "9223372036854771712\n",
                       "memory/x/memory.limit_in_bytes": "9223372036854771712\n",
                       "memory/x/memory.usage_in_bytes": "6609641472\n"}, None),
    ("4:memory:/x\n", {"memory/x/memory.limit_in_bytes": "10000\n",
                       "memory/x/memory.usage_in_bytes": "2500\n"}, 7500),
    ("4:cpu:/x\n", {"memory/x/memory.limit_in_bytes": "10000\n",
                    "memory/x/memory.usage_in_bytes": "2500\n"}, None),  # not this process's memory cgroup
    # nothing to read, or nonsense
    ("0::/a\n", {"a/memory.max": "8000\n"}, None), ("0::/a\n", {"a/memory.max": "lots\n",
                                                           "a/memory.current": "1\n"}, None),
    ("not a cgroup line\n", {}, None),
    # the inactive page cache is not counted as used (a corpus just read is reclaimable)
    ("0::/a\n", {"a/memory.max": "8000\n", "a/memory.current": "7000\n",
                 "a/memory.stat": "anon 1000\nfile 6000\ninactive_file 5000\nactive_file 1000\n"}, 6000),
    ("4:memory:/x\n", {"memory/x/memory.limit_in_bytes": "10000\n", "memory/x/memory.usage_in_bytes": "9000\n",
                       "memory/x/memory.stat": "cache 8000\ninactive_file 100\ntotal_inactive_file 6000\n"}, 7000),
    ("0::/a\n", {"a/memory.max": "8000\n", "a/memory.current": "7000\n",
                 "a/memory.stat": "inactive_file garbage\n"}, 1000),
])
def test_a_cgroup_memory_limit_is_the_headroom_left(tmp_path, proc, files, want):
    root = _tree(tmp_path / "cgroup", files)
    (tmp_path / "proc_cgroup").write_text(proc)
    assert cgroup_headroom(root, tmp_path / "proc_cgroup") == want


def test_meminfo_available_and_the_tighter_of_both(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24683772 kB\nMemFree:         1000 kB\n"
                       "MemAvailable:   20000000 kB\nBuffers:  5 kB\n")
    assert meminfo_available(meminfo) == 20_000_000 * 1024
    assert meminfo_available(tmp_path / "missing") is None
    root = _tree(tmp_path / "cgroup", {"memory.max": "4096\n", "memory.current": "1024\n"})
    (tmp_path / "proc_cgroup").write_text("0::/\n")
    assert available_memory(root, tmp_path / "proc_cgroup", meminfo) == 3072  # the container's limit
    assert available_memory(tmp_path / "none", tmp_path / "proc_cgroup", meminfo) == 20_000_000 * 1024
    assert available_memory(tmp_path / "none", tmp_path / "proc_cgroup", tmp_path / "missing") is None


def test_this_machine_reports_some_available_memory():
    if not Path("/proc/meminfo").exists():
        pytest.skip("no /proc/meminfo")
    total = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0]) * 1024
    assert 0 <= available_memory() <= total


def test_memory_jobs_closed_forms():
    assert memory_jobs(10 * GIB, 3 * GIB) == 3
    assert memory_jobs(6 * GIB, 3 * GIB) == 2
    assert memory_jobs(GIB, 3 * GIB) == 1  # the driver's own process always runs
    assert memory_jobs(0, 3 * GIB) == 1
    assert memory_jobs(None, 3 * GIB) is None and memory_jobs(GIB, None) is None and memory_jobs(GIB, 0) is None


def test_auto_takes_fewer_jobs_where_memory_is_short(monkeypatch, caplog):
    monkeypatch.setattr(jobs_module, "usable_cores", lambda: 8)
    monkeypatch.setattr(jobs_module, "_on_linux", lambda: True)
    monkeypatch.setattr(jobs_module, "resident_bytes", lambda: 2 * GIB)
    monkeypatch.setattr(jobs_module, "available_memory", lambda: 5 * GIB)
    with caplog.at_level(logging.WARNING, logger="audit.engine.jobs"):
        assert resolve_jobs("auto", device="cpu", n_batches=400) == 2
    assert "2 job(s), not 8: 5.0 GiB of memory available" in caplog.text
    assert "holds 2.0 GiB" in caplog.text and "--jobs N" in caplog.text
    caplog.clear()
    # memory enough for the cores: no warning; the batches still bound it
    monkeypatch.setattr(jobs_module, "available_memory", lambda: 40 * GIB)
    with caplog.at_level(logging.WARNING, logger="audit.engine.jobs"):
        assert resolve_jobs("auto", device="cpu", n_batches=400) == 8
        assert resolve_jobs("auto", device="cpu", n_batches=12) == 3
    assert caplog.text == ""
    # unknown memory: the cores decide; an explicit count is the user's choice
    monkeypatch.setattr(jobs_module, "available_memory", lambda: None)
    assert resolve_jobs("auto", device="cpu", n_batches=400) == 8
    monkeypatch.setattr(jobs_module, "available_memory", lambda: GIB)
    assert resolve_jobs("auto", device="cpu", n_batches=400) == 1
    assert resolve_jobs(6, device="cpu", n_batches=400) == 6
