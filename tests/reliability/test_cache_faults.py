"""Prediction-cache faults: truncated, overwritten, silently corrupted, locked, shared by two
processes. Each ends in one clear error or in recomputing only the damaged rows; no fault ever
yields a wrong prediction (the CSVs equal those of a run without the cache)."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from _reliability_helpers import FAST, cli

from audit.engine.cache import PredictionCache, encode_record
from audit.errors import AuditError

FAST = [*FAST, "--no-report"]


def _outputs(run_dir: Path) -> dict[str, bytes]:
    return {n: (run_dir / n).read_bytes() for n in ("predictions.csv", "metrics.csv")}


def _run(capsys, corpus, models, out, *extra):
    return cli(capsys, "run", "noise", "--snr", "0", "--data", str(corpus), "--models", str(models),
               "--out", str(out), *FAST, *extra)


@pytest.fixture(scope="module")
def reference(reference_run):
    """The outputs every cache fault must reproduce (a run without the cache)."""
    return _outputs(reference_run[0])


def _filled_cache(directory: Path, n: int = 400) -> tuple[Path, dict]:
    rng = np.random.default_rng(0)
    rows = {f"k{i:04d}": (rng.dirichlet(np.ones(4)).astype(np.float32),
                          encode_record({"awgn.achieved_snr_db": float(i)})) for i in range(n)}
    cache = PredictionCache(directory)
    cache.put_many([(k, p, r) for k, (p, r) in rows.items()])
    cache.close()  # the last connection checkpoints the WAL into the main file
    return directory / "predictions.sqlite", rows


def test_truncated_cache_is_one_clear_error(tmp_path):
    path, _ = _filled_cache(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(AuditError, match=r"prediction cache is damaged .*--no-cache"):
        PredictionCache(tmp_path)


def test_overwritten_header_is_one_clear_error(tmp_path):
    path, _ = _filled_cache(tmp_path)
    data = bytearray(path.read_bytes())
    data[:100] = b"\x00not sqlite" * 9 + b"x"
    path.write_bytes(bytes(data))
    with pytest.raises(AuditError, match="prediction cache is damaged"):
        PredictionCache(tmp_path)


def test_empty_cache_file_is_rebuilt(tmp_path):
    path, rows = _filled_cache(tmp_path)
    path.write_bytes(b"")
    cache = PredictionCache(tmp_path)
    assert cache.get_many(list(rows)) == {} and cache.misses == len(rows)
    cache.close()


def test_flipped_bytes_in_a_row_are_recomputed_not_served(tmp_path):
    path, rows = _filled_cache(tmp_path)
    victim = "k0123"
    blob = rows[victim][0].tobytes()
    data = bytearray(path.read_bytes())
    at = data.find(blob)
    assert at > 0
    data[at + 2] ^= 0x40  # a bit flip SQLite's structure check cannot see
    path.write_bytes(bytes(data))
    cache = PredictionCache(tmp_path)
    got = cache.get_many(list(rows))
    assert victim not in got and cache.damaged == 1 and len(got) == len(rows) - 1
    for k, (probs, rec) in got.items():
        assert probs.tobytes() == rows[k][0].tobytes() and rec == rows[k][1]
    cache.put_many([(victim, *rows[victim])])  # the engine recomputes it and rewrites the row
    cache.close()
    again = PredictionCache(tmp_path)
    assert again.get_many([victim])[victim][0].tobytes() == blob and again.damaged == 0
    again.close()


def test_cache_locked_by_another_process_is_one_clear_error(tmp_path):
    path, rows = _filled_cache(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
         "db.execute('PRAGMA locking_mode=EXCLUSIVE'); db.execute('BEGIN EXCLUSIVE')\n"
         "db.execute('DELETE FROM predictions WHERE 0'); print('locked', flush=True)\n"
         "sys.stdin.read()\n"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(AuditError, match=r"locked by another process \(waited 0.5 s"):
            PredictionCache(tmp_path, timeout_s=0.5)
        assert time.monotonic() - t0 < 30
    finally:
        holder.communicate("", timeout=30)
    cache = PredictionCache(tmp_path)  # usable again once the other process is gone
    assert len(cache.get_many(list(rows))) == len(rows)
    cache.close()


def test_write_waits_for_another_writer_then_succeeds(tmp_path):
    path, rows = _filled_cache(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, time\n"
         f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
         "db.execute('BEGIN IMMEDIATE'); print('writing', flush=True); time.sleep(1.0)\n"
         "db.execute('COMMIT')\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "writing"
        cache = PredictionCache(tmp_path, timeout_s=30)
        assert len(cache.get_many(list(rows))) == len(rows)  # WAL: reading never waits
        cache.put_many([("new", np.ones(4, np.float32) / 4, "{}")])
        cache.commit()  # waits for the other writer's commit
        cache.close()
    finally:
        holder.wait(timeout=30)
    assert len(PredictionCache(tmp_path).get_many(["new"])) == 1


def test_damaged_cache_stops_the_run_in_one_line_and_keeps_old_outputs(
        tmp_path, capsys, corpus, fold_models, reference):
    cache_dir = tmp_path / "cache"
    code, _, err = _run(capsys, corpus, fold_models, tmp_path / "r", "--cache-dir", str(cache_dir))
    assert code == 0, err
    path = cache_dir / "predictions.sqlite"
    path.write_bytes(path.read_bytes()[:4096 + 100])
    code, _, err = _run(capsys, corpus, fold_models, tmp_path / "r", "--cache-dir", str(cache_dir))
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert str(path) in err and "--no-cache" in err and "Traceback" not in err
    assert _outputs(tmp_path / "r") == reference  # the earlier run's outputs are still there


def test_corrupted_rows_are_recomputed_by_the_engine(tmp_path, capsys, corpus, fold_models, reference):
    cache_dir = tmp_path / "cache"
    assert _run(capsys, corpus, fold_models, tmp_path / "a", "--cache-dir", str(cache_dir))[0] == 0
    db = sqlite3.connect(cache_dir / "predictions.sqlite")
    # silent damage: other probabilities under an intact key, digest left stale
    n = db.execute("UPDATE predictions SET probs = ? WHERE rowid % 3 = 0",
                   (np.array([1, 0, 0, 0], np.float32).tobytes(),)).rowcount
    db.commit()
    db.close()
    assert n > 0
    code, _, err = _run(capsys, corpus, fold_models, tmp_path / "b", "--cache-dir", str(cache_dir))
    assert code == 0, err
    assert _outputs(tmp_path / "b") == reference
    import json

    info = json.loads((tmp_path / "b" / "run.json").read_text())
    assert info["cache"]["misses"] == n


def _child_run(args: list[str]) -> None:
    from audit.cli import main

    main(args)  # exits with the CLI's code


def test_two_processes_on_one_cache_match_serial_runs(tmp_path, corpus, fold_models, capsys, reference):
    """Two ``audit run`` processes at once on one cache: overlapping work (clean and 0 dB in
    both) and different work (10 dB in one only), each committing every 4-utterance batch."""
    serial_b = tmp_path / "serial_b"
    code, _, err = cli(capsys, "run", "noise", "--snr", "0", "--snr", "10", "--data", str(corpus),
                       "--models", str(fold_models), "--out", str(serial_b), *FAST, "--no-cache")
    assert code == 0, err
    work = {"a": ["--snr", "0"], "b": ["--snr", "0", "--snr", "10"]}
    expected = {"a": reference, "b": _outputs(serial_b)}
    cache_dir = tmp_path / "shared_cache"
    # fork: the children start at once (no second torch import), as two real processes
    ctx = multiprocessing.get_context("fork")
    procs = {name: ctx.Process(target=_child_run, args=(
        ["run", "noise", *snr, "--data", str(corpus), "--models", str(fold_models),
         "--out", str(tmp_path / f"par_{name}"), *FAST, "--cache-dir", str(cache_dir)],))
        for name, snr in work.items()}
    for p in procs.values():
        p.start()
    for p in procs.values():
        p.join(timeout=240)
    assert [p.exitcode for p in procs.values()] == [0, 0]
    for name in work:
        assert _outputs(tmp_path / f"par_{name}") == expected[name], name
    db = sqlite3.connect(cache_dir / "predictions.sqlite")
    # 16 utterances x (clean, 0 dB, 10 dB): every prediction stored exactly once
    assert db.execute("SELECT COUNT(*) FROM predictions").fetchone()[0] == 16 * 3
    db.close()
