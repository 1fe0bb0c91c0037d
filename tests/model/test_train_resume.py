"""Resume, thread-count independence and precision of the trainer (library level)."""

import csv
import json
import platform
from pathlib import Path

import pytest
import torch

from model import ModelError, TrainConfig, train_model
from model._resume import resume_path

FAST = dict(model="macnn_icasa", aug="aam", epochs=3, batch_size=8, progress=False, device="cpu")
META = {"fold": 0, "training_speakers": ["s1"], "manifest_hash": "h"}


class Killed(Exception):
    """Stands for a kill: raised from inside an epoch, after some optimiser steps."""


def _train(tmp_path, tones, name, *, on_step=None, **overrides):
    waves, labels = tones
    cfg = TrainConfig(**{**FAST, **overrides})
    return train_model(waves, labels, ["high", "low"], cfg, out_stem=tmp_path / name, metadata=META,
                       on_step=on_step)


@pytest.fixture(scope="module")
def tones():
    import numpy as np

    rng = np.random.default_rng(0)
    waves, labels = [], []
    for i in range(8):  # as conftest's tone_waveforms: low = 200 Hz, high = 1.5 kHz
        t = np.arange(int(16000 * rng.uniform(1.2, 2.6))) / 16000
        f = 200.0 if i % 2 == 0 else 1500.0
        waves.append((0.3 * np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(t.size)).astype(np.float32))
        labels.append(("low", "high")[i % 2])
    return waves, labels


def test_killed_mid_epoch_then_resumed_equals_uninterrupted(tmp_path, tones):
    full = _train(tmp_path, tones, "full").read_bytes()

    def kill_in_epoch_2(epoch, step):
        if epoch == 1 and step == 0:  # epoch 1 of 3 finished, epoch 2 half way
            raise Killed

    with pytest.raises(Killed):
        _train(tmp_path, tones, "cut", on_step=kill_in_epoch_2)
    state = torch.load(resume_path(tmp_path / "cut"), weights_only=True)
    assert state["epoch"] == 1 and len(state["rows"]) == 1
    assert not (tmp_path / "cut.safetensors").exists()
    resumed = _train(tmp_path, tones, "cut")
    assert resumed.read_bytes() == full
    assert not resume_path(tmp_path / "cut").exists()  # finished: the resume state is gone
    rows = list(csv.DictReader(open(tmp_path / "cut.log.csv")))
    full_rows = list(csv.DictReader(open(tmp_path / "full.log.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [r["loss"] for r in rows] == [r["loss"] for r in full_rows]


def test_time_budget_pieces_resume_to_the_same_weights(tmp_path, tones):
    full = _train(tmp_path, tones, "full", model="macnn", aug="none").read_bytes()
    for expected in (1, 2):
        _train(tmp_path, tones, "piece", model="macnn", aug="none", time_budget_s=1e-3)
        doc = json.loads((tmp_path / "piece.json").read_text())
        assert doc["epochs"] == expected and doc["stopped_early"] is True
        assert resume_path(tmp_path / "piece").is_file()
    last = _train(tmp_path, tones, "piece", model="macnn", aug="none", time_budget_s=1e-3)
    assert json.loads((tmp_path / "piece.json").read_text())["stopped_early"] is False
    assert last.read_bytes() == full


def test_resume_state_of_another_config_is_refused(tmp_path, tones):
    _train(tmp_path, tones, "x", model="macnn", aug="none", time_budget_s=1e-3)
    with pytest.raises(ModelError, match=r"x\.resume\.pt: resume state of another training config"):
        _train(tmp_path, tones, "x", model="macnn", aug="none", lr=5e-4)
    resume_path(tmp_path / "y").write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match=r"y\.resume\.pt: unreadable resume state"):
        _train(tmp_path, tones, "y", model="macnn", aug="none")


def test_weights_do_not_depend_on_the_callers_thread_count(tmp_path, tones):
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        two = _train(tmp_path, tones, "t2", epochs=1).read_bytes()
        torch.set_num_threads(1)
        one = _train(tmp_path, tones, "t1", epochs=1).read_bytes()
        assert two == one
        assert torch.get_num_threads() == 1  # restored after training
        # The setting is real: two training threads give other weights (reduction order).
        other = _train(tmp_path, tones, "t2b", epochs=1, threads=2).read_bytes()
        assert other != one
    finally:
        torch.set_num_threads(previous)
    doc = json.loads((tmp_path / "t1.json").read_text())
    assert doc["threads"] == 1 and doc["train_config"]["threads"] == 1
    assert doc["cpu_capability"] == torch.backends.cpu.get_cpu_capability()


def test_precision_is_resolved_and_recorded(tmp_path, tones, monkeypatch):
    import model.precision as prec

    fp32 = _train(tmp_path, tones, "f", epochs=1, precision="fp32")
    assert json.loads((tmp_path / "f.json").read_text())["precision"] == "fp32"
    if prec.cpu_has_native_bf16():
        bf16 = _train(tmp_path, tones, "b", epochs=1, precision="bf16")
        doc = json.loads((tmp_path / "b.json").read_text())
        assert doc["precision"] == "bf16" and doc["train_config"]["precision"] == "bf16"
        assert bf16.read_bytes() != fp32.read_bytes()
        from safetensors.torch import load_file

        assert {v.dtype for v in load_file(str(bf16)).values()} <= {torch.float32, torch.int64}  # fp32 masters
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(ModelError, match="precision=bf16: this CPU has no native bfloat16"):
        _train(tmp_path, tones, "e", epochs=1, precision="bf16")
    _train(tmp_path, tones, "a", epochs=1, precision="auto")
    assert json.loads((tmp_path / "a.json").read_text())["precision"] == "fp32"
    with pytest.raises(ModelError, match="precision='fp16'"):
        TrainConfig(precision="fp16")


def test_legacy_train_config_with_amp_reads_as_a_precision():
    old = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("precision", "threads")}
    assert TrainConfig.from_dict({**old, "amp": False}).precision == "fp32"
    assert TrainConfig.from_dict({**old, "amp": True}).precision == "auto"


def test_sidecar_credits_the_commit_that_was_imported_not_the_one_at_save_time(tmp_path, tones, monkeypatch):
    import model.train as train_mod

    heads = iter(["a" * 40, "b" * 40, "c" * 40, "d" * 40])
    monkeypatch.setattr(train_mod, "git_commit", lambda: next(heads))
    _train(tmp_path, tones, "g", model="macnn", aug="none", time_budget_s=1e-3)  # piece 1: HEAD a
    _train(tmp_path, tones, "g", model="macnn", aug="none")  # resumed at HEAD b, finished
    doc = json.loads((tmp_path / "g.json").read_text())
    assert doc["git_commits"] == ["a" * 40, "b" * 40] and doc["git_commit"] == "b" * 40


def test_a_resume_on_a_cpu_that_resolves_auto_otherwise_is_refused_with_the_flag(tmp_path, tones, monkeypatch):
    import model.precision as prec

    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: False)
    _train(tmp_path, tones, "p", model="macnn", aug="none", time_budget_s=1e-3)  # auto -> fp32 here
    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: True)  # another machine: auto -> bf16
    with pytest.raises(ModelError, match=r"p\.resume\.pt: trained so far in fp32, but this run would train "
                                         r"in bf16; pass --precision fp32 to continue"):
        _train(tmp_path, tones, "p", model="macnn", aug="none")
    _train(tmp_path, tones, "p", model="macnn", aug="none", precision="fp32")  # the named flag continues
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["precision"] == "fp32" and doc["stopped_early"] is False


def test_sidecar_records_the_cpu_of_every_resumed_piece(tmp_path, tones, monkeypatch):
    import model.train as train_mod

    names = iter(["CPU one", "CPU two"])
    monkeypatch.setattr(train_mod, "cpu_name", lambda: next(names))
    _train(tmp_path, tones, "c", model="macnn", aug="none", time_budget_s=1e-3)
    _train(tmp_path, tones, "c", model="macnn", aug="none")
    pieces = json.loads((tmp_path / "c.json").read_text())["pieces"]
    assert [(p["from_epoch"], p["cpu"]) for p in pieces] == [(1, "CPU one"), (2, "CPU two")]
    assert {p["cpu_capability"] for p in pieces} == {torch.backends.cpu.get_cpu_capability()}


def test_cpu_name_is_the_model_name_the_os_reports():
    from model.precision import cpu_name

    name = cpu_name()
    assert isinstance(name, str) and name.strip() == name and name
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists() and "model name" in cpuinfo.read_text().lower():
        lines = [line for line in cpuinfo.read_text().splitlines()
                 if line.lower().startswith("model name")]
        assert any(line.split(":", 1)[1].strip() == name for line in lines), (name, lines[:1])
    else:  # no /proc, or a kernel that writes no model name (some ARM): platform's answer
        assert name in (platform.processor(), platform.machine(), "unknown")
