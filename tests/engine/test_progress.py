"""Progress of long work when stderr is not a terminal: one line per interval with items done,
rate and time left, a last line only when an earlier one was printed; nothing for short work."""

from __future__ import annotations

import io

from audit.engine._progress import ProgressLines, progress_bar, progress_interval


class _Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_periodic_lines_with_rate_and_time_left():
    clock, stream = _Clock(), io.StringIO()
    bar = ProgressLines(40, "evaluating batches", interval=30, stream=stream, clock=clock)
    for _ in range(10):  # 10 items in 29 s: not yet a line
        clock.t += 2.9
        bar.advance()
    assert stream.getvalue() == ""
    clock.t += 1.0  # 30 s, 11 items: 11/30 per second, 29 items left -> 79 s
    bar.advance()
    assert stream.getvalue() == "evaluating batches: 11/40 (28 %), 0.37/s, about 79 s left\n"
    for _ in range(29):
        clock.t += 10
        bar.advance()
    bar.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 + 9 + 1  # one line per 30 s (every third item), then the end
    assert lines[-1] == "evaluating batches: 40/40 (100 %), 0.12/s, done in 5 min 20 s"
    assert all(len(line) < 80 for line in lines)


def test_short_work_stays_silent():
    clock, stream = _Clock(), io.StringIO()
    bar = ProgressLines(5, "x", interval=30, stream=stream, clock=clock)
    for _ in range(5):
        clock.t += 1
        bar.advance()
    bar.close()
    assert stream.getvalue() == ""


def test_interval_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("SER_AUDIT_PROGRESS_S", "0")
    assert progress_interval() == 0 and type(progress_bar(True, 10)).__name__ == "_NoBar"
    monkeypatch.setenv("SER_AUDIT_PROGRESS_S", "5")
    assert progress_interval() == 5 and isinstance(progress_bar(True, 10), ProgressLines)
    monkeypatch.setenv("SER_AUDIT_PROGRESS_S", "soon")
    assert progress_interval() == 30
    assert type(progress_bar(False, 10)).__name__ == "_NoBar"


def test_an_audit_prints_progress_lines_on_a_pipe(tmp_path, monkeypatch, corpus, fold_models, audit_cli):
    monkeypatch.setenv("SER_AUDIT_PROGRESS_S", "0.000001")
    code, out, err = audit_cli("run", "noise", "--snr", "10", "--data", str(corpus), "--models",
                               str(fold_models), "--out", str(tmp_path / "run"), "--no-cache",
                               "--n-boot", "10", "--batch-size", "4", "--workers", "1", "--no-report")
    assert code == 0, err
    lines = [line for line in err.splitlines() if line.startswith("evaluating batches: ")]
    assert lines[0].startswith("evaluating batches: 1/4 (25 %)") and "left" in lines[0]
    assert lines[-1].startswith("evaluating batches: 4/4 (100 %)") and "done in" in lines[-1]
    assert "WA / UA (%)" in out and "report.html" not in out  # --no-report: not announced
