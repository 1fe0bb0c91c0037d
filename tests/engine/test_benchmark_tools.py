"""The measuring parts of benchmarks/memory.py and benchmarks/audit.py --stages: the long
recording memory.py builds is the corpus's utterances end to end, and the stage timers cover
every step of a real (tiny) audit without counting one twice."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

ROOT = Path(__file__).resolve().parents[2]


def _benchmark(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not Path("/usr/bin/time").exists() or not Path("/proc/self/status").exists(),
                    reason="needs /usr/bin/time and /proc (memory.py runs the audit under time -v)")
def test_rss_sampling_follows_the_process_under_time():
    """The sampler reads the resident memory of the process that /usr/bin/time runs, not
    time's own: a child holding 300 MiB of touched memory reads as at least that."""
    code = "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
    proc = subprocess.Popen(["/usr/bin/time", "-v", sys.executable, "-c", code],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    series = _benchmark("memory")._sample_rss(proc, 0.1)
    assert proc.returncode == 0 and len(series) >= 5
    assert 300 <= max(series) < 600


@pytest.mark.skipif(not Path("/proc/self/smaps_rollup").exists(), reason="needs /proc/PID/smaps_rollup")
def test_tree_sampling_counts_forked_shared_pages_once():
    """memory.py --jobs N sums the process tree: a parent touching 200 MiB that forks a child
    which only reads them holds about 200 MiB proportional (shared pages split between the
    two) but about 400 MiB resident summed (counted in each); a child writing its copy
    would raise both. The tree is found below a wrapper process, as under /usr/bin/time."""
    code = ("import os, time\n"
            "b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096])\n"
            "if os.fork() == 0:\n"
            "    sum(b[::4096]); time.sleep(3); os._exit(0)\n"
            "time.sleep(3); os.wait()\n")
    wrapper = "import subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]], check=True)"
    proc = subprocess.Popen([sys.executable, "-c", wrapper, code])
    series = _benchmark("memory")._sample_tree(proc, 0.2)
    assert proc.returncode == 0 and len(series) >= 5
    pss, rss, n = max(series, key=lambda t: t[2])  # a sample with the whole tree alive
    assert n == 3  # wrapper, parent, forked child
    assert 200 * 1024 <= pss < 300 * 1024, pss
    assert 400 * 1024 <= rss < 520 * 1024, rss


def test_long_recording_is_the_corpus_end_to_end(corpus, tmp_path):
    minutes = 1.5  # 90 s: longer than the 16 utterances together (2.5-4.5 s each), so it wraps round
    out = _benchmark("memory")._with_long(corpus, tmp_path, minutes)
    base = pd.read_csv(corpus)
    table = pd.read_csv(out)
    assert len(table) == len(base) + 1 and table["utt_id"].iloc[-1] == "zz_long"
    long_row = table.iloc[-1]
    wav, sr = sf.read(long_row["path"], dtype="int16")
    assert sr == 16000 and wav.size == int(minutes * 60 * 16000)
    assert long_row["duration_s"] == minutes * 60
    pieces = [sf.read(str(corpus.parent / p), dtype="int16")[0] for p in base["path"]]
    reference = np.concatenate(pieces * 2)[:wav.size]  # np.concatenate, independent of the block writer
    np.testing.assert_array_equal(wav, reference)
    assert all(Path(p).is_absolute() and Path(p).exists() for p in table["path"])


@pytest.mark.parametrize("kind, stated", [("w2v2-base", 94_569_604), ("w2v2-large", 315_702_148)])
def test_wav2vec2_sizes_are_those_stated(kind, stated):
    """memory.py's wav2vec 2.0 settings build the sizes its help and benchmarks/README state
    (94.6 M / 315.7 M with a 4-class head): 12 layers of 768 / 24 of 1,024, and the head is the
    projector and classifier, hidden*256+256 + 256*4+4 parameters, on top of the encoder."""
    transformers = pytest.importorskip("transformers")
    settings = _benchmark("memory")._W2V2[kind]
    with torch.device("meta"):  # shapes only: nothing is allocated or initialised
        net = transformers.Wav2Vec2ForSequenceClassification(transformers.Wav2Vec2Config(num_labels=4, **settings))
    hidden = net.config.hidden_size
    head = hidden * 256 + 256 + 256 * 4 + 4
    assert sum(t.numel() for t in net.parameters()) == stated
    assert net.config.num_hidden_layers == (12 if hidden == 768 else 24)
    assert sum(t.numel() for t in net.wav2vec2.parameters()) == stated - head


def test_stage_timers_cover_a_tiny_audit(corpus, fold_models, tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "audit.py"), "--data", str(corpus),
                           "--models", str(fold_models), "--workers", "1", "--threads", "1",
                           "--n-boot", "5", "--stages", "--work", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    cold = json.loads(done.stdout[done.stdout.index("{\n"):])["cold"]
    stages = cold["stages"]
    for name in ["decode", "resample", "features", "forward", "pooling", "cache"]:
        assert name in stages and stages[name]["wall_s"] >= 0, name
    assert len([k for k in stages if k.startswith("perturb:")]) == 6  # clean + scenarios/paper.toml's 5
    assert stages["forward"]["wall_s"] > 0  # (decoding 16 short files rounds to 0.0 s)
    # disjoint stages: what is left of the evaluation is not negative, and the shares add up to 1
    assert stages["other"]["wall_s"] >= 0
    shares = [v["share"] for k, v in stages.items() if k != "evaluate"]
    assert abs(sum(shares) - 1) < 0.01
    assert abs(stages["evaluate"]["wall_s"] - cold["timings_s"]["evaluate"]) < 0.5
    assert cold["overhead"] > 0 and cold["overhead_cpu"] > 0 and cold["segments"] > 0
    assert cold["bare_layout"] == "one process, 1 thread(s)" and min(cold["bare_forward_before_after_s"]) > 0


def test_precision_agreement_counts_what_differs():
    agreement = _benchmark("precision").agreement
    keys = {"model": ["m", "m", "m", "n"], "fold": [0, 0, 1, 0], "condition": ["clean"] * 4,
            "utt_id": ["a", "b", "c", "a"]}
    a = pd.DataFrame({**keys, "prediction": ["x", "y", "x", "y"],
                      "p_x": [0.7, 0.4, 0.9, 0.2], "p_y": [0.3, 0.6, 0.1, 0.8]})
    b = a.copy()
    b.loc[1, ["prediction", "p_x", "p_y"]] = ["x", 0.55, 0.45]  # m/b flips class: |diff| 0.15
    b.loc[2, ["p_x", "p_y"]] = [0.88, 0.12]                     # m/c moves 0.02, same class
    b = pd.concat([b, pd.DataFrame([{"model": "n", "fold": 0, "condition": "clean", "utt_id": "z",
                                     "prediction": "x", "p_x": 1.0, "p_y": 0.0}])])
    got = agreement(a, b)
    assert got["overall"]["rows"] == 4 and got["only_a"] == 0 and got["only_b"] == 1
    assert got["overall"]["same_prediction"] == 0.75
    assert got["overall"]["max_abs_prob_diff"] == pytest.approx(0.15)
    assert got["overall"]["mean_abs_prob_diff"] == pytest.approx((0.15 * 2 + 0.02 * 2) / 8)
    assert got["per_model"]["n"] == {"rows": 1, "same_prediction": 1.0, "max_abs_prob_diff": 0.0,
                                     "mean_abs_prob_diff": 0.0}
    with pytest.raises(ValueError, match="class columns"):
        agreement(a, b.rename(columns={"p_y": "p_w"}))


def test_precision_benchmark_runs_both_audits(corpus, fold_models, tmp_path):
    from model.precision import cpu_has_native_bf16

    if not cpu_has_native_bf16():
        pytest.skip("this CPU has no native bf16: --precision bf16 is refused here")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "precision.py"), "--data", str(corpus),
                           "--models", str(fold_models), "--condition", "awgn:snr_db=0", "--n-boot", "5",
                           "--work", str(tmp_path), "--json", str(tmp_path / "p.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["runs"]["fp32"]["precision"] == "fp32" and doc["runs"]["bf16"]["precision"] == "bf16"
    agree = doc["bf16_vs_fp32"]
    assert agree["overall"]["rows"] == 16 * 2 and agree["only_a"] == agree["only_b"] == 0
    assert 0 < agree["overall"]["max_abs_prob_diff"] < 0.5  # bf16 moves probabilities, a little
    fp32 = pd.read_csv(tmp_path / "fp32" / "predictions.csv")
    assert set(doc["ua"]["fp32"]["macnn"]) == {"clean", "awgn:snr_db=0"}
    assert doc["ua"]["fp32"]["macnn"]["clean"] == pytest.approx(
        100 * np.mean([(fp32[(fp32.condition == "clean") & (fp32.emotion == e)].prediction == e).mean()
                       for e in sorted(fp32.emotion.unique())]), abs=0.01)


def test_precision_benchmark_against_onnx_runtime(corpus, fold_models, tmp_path):
    pytest.importorskip("onnxruntime")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "precision.py"), "--data", str(corpus),
                           "--models", str(fold_models), "--against", "onnx", "--n-boot", "5",
                           "--work", str(tmp_path), "--json", str(tmp_path / "p.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads((tmp_path / "p.json").read_text())
    assert doc["runs"]["onnx"]["precision"] == "onnx" and "bf16_vs_fp32" not in doc
    agree = doc["onnx_vs_fp32"]
    conditions = doc["ua"]["fp32"]["macnn"]  # the default scenario's, clean among them
    assert "clean" in conditions and set(doc["ua"]["onnx"]["macnn"]) == set(conditions)
    assert agree["overall"]["rows"] == 16 * len(conditions) and agree["only_a"] == agree["only_b"] == 0
    assert agree["overall"]["same_prediction"] == 1.0
    assert agree["overall"]["max_abs_prob_diff"] < 1e-4  # last bits, unlike bf16
    assert doc["ua"]["onnx"]["macnn"]["clean"] == doc["ua"]["fp32"]["macnn"]["clean"]


def test_audit_benchmark_without_feature_share_computes_every_stream_again(monkeypatch):
    """``benchmarks/audit.py --no-feature-share``: inside an open share (as the engine opens
    one), two models reading the same MFCC compute it twice, with the same probabilities."""
    from model import FeatureConfig, Predictor, create_model, shared_features
    from model.feature_share import FeatureShare
    from model.features import MFCCExtractor

    monkeypatch.setattr(FeatureShare, "extract", FeatureShare.extract)  # restored after the test
    calls = []
    original = MFCCExtractor.forward
    monkeypatch.setattr(MFCCExtractor, "forward", lambda self, x: calls.append(1) or original(self, x))
    wave = (0.1 * np.sin(np.arange(16000 * 2) * 0.05)).astype(np.float32)
    preds = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        preds.append(Predictor(create_model("macnn", 4), ["a", "b", "c", "d"], FeatureConfig()))
    with shared_features():
        shared = [p.predict_proba([wave]) for p in preds]
    assert len(calls) == 1
    _benchmark("audit")._disable_feature_share()
    calls.clear()
    with shared_features() as share:
        unshared = [p.predict_proba([wave]) for p in preds]
    assert len(calls) == 2 and share.computed == share.reused == 0
    for a, b in zip(shared, unshared):
        np.testing.assert_array_equal(a, b)


def test_padding_counts_the_zero_rows_of_both_plans(tmp_path):
    """benchmarks/padding.py against a count by hand: four utterances of 1-3 s whose folds
    interleave in utt_id order, batches of two utterances, segment batches of 8."""
    from audit.data import write_manifest
    from model.features import segment_starts

    rows = []
    for i, (fold, seconds) in enumerate([(0, 1.0), (1, 2.0), (0, 3.0), (1, 1.5)]):
        path = tmp_path / f"u{i}.wav"
        sf.write(str(path), np.full(int(seconds * 16000), 0.1, dtype=np.float32), 16000)
        rows.append({"utt_id": f"u{i}", "path": str(path), "speaker": f"s{fold}", "gender": "female",
                     "emotion": "happy", "fold": fold})
    data = write_manifest(pd.DataFrame(rows), tmp_path / "manifest.csv")
    seg = [len(segment_starts(1 + int(s * 16000) // 160, 40)) for s in (1.0, 2.0, 3.0, 1.5)]
    out = _benchmark("padding").padding(str(data), batch_size=2, conditions=3, segment_batch=8)
    pad = lambda n: -n % 8  # noqa: E731
    # before: batches {u0 (fold 0), u1 (fold 1)}, {u2 (0), u3 (1)}: a padded call per utterance
    # and condition; after: batches {u0, u2} (fold 0), {u1, u3} (fold 1), conditions together
    before = 3 * sum(pad(n) for n in seg)
    after = pad(3 * (seg[0] + seg[2])) + pad(3 * (seg[1] + seg[3]))
    assert out["segments"] == 3 * sum(seg)
    assert (out["padded_before"], out["padded_after"]) == (before, after)
    assert before > after


class _FakeBare:
    """A bare-forward process that says ``first`` and then reports given per-segment (wall,
    CPU) seconds; ``events`` records, in order, what the benchmark did with each process."""

    def __init__(self, rates, events, first="ready\n"):
        self.rates, self.events, self.first = rates, events, first
        self.stdin = self
        self.stdout = self
        self.returncode = None

    def readline(self):
        self.events.append(("ready", self))
        return self.first

    def write(self, line):
        assert line == "go\n"
        self.events.append(("go", self))

    def flush(self):
        pass

    def communicate(self):
        assert ("go", self) in self.events
        self.returncode = 0
        return json.dumps(self.rates) + "\n", None

    def poll(self):
        return self.returncode

    def kill(self):
        self.events.append(("kill", self))
        self.returncode = -9

    def wait(self):
        return self.returncode


def test_bare_forward_layout_adds_throughputs(monkeypatch):
    """``--jobs 2``: two one-thread processes side by side forward 1/w1 + 1/w2 segments per
    second (a closed form: w = 2 and 4 s give 4/3 s per segment), CPU per segment is their mean;
    every process has said ready before any is told to go."""
    bench = _benchmark("audit")
    rates = iter([{"m": [2.0, 1.0], "n": [1.0, 1.0]}, {"m": [4.0, 3.0], "n": [1.0, 0.5]}])
    events, cmds = [], []

    def popen(cmd, **kw):
        cmds.append(cmd)
        return _FakeBare(next(rates), events)

    monkeypatch.setattr(bench.subprocess, "Popen", popen)
    args = bench.argparse.Namespace(jobs=2, threads=2, models=["x"], precision="fp32")
    got = bench._bare_in_layout(args)
    assert got == {"m": [pytest.approx(4 / 3), 2.0], "n": [pytest.approx(0.5), 0.75]}
    assert all(c[c.index("--threads") + 1] == "1" for c in cmds) and len(cmds) == 2
    assert [e for e, _ in events] == ["ready", "ready", "go", "go"]
    rates = iter([{"m": [2.0, 4.0]}])
    args.jobs = 1  # one process with --threads threads
    assert bench._bare_in_layout(args) == {"m": [2.0, 4.0]} and cmds[-1][cmds[-1].index("--threads") + 1] == "2"


def test_bare_forward_that_fails_to_start_ends_the_others(monkeypatch):
    bench = _benchmark("audit")
    events, made = [], []

    def popen(cmd, **kw):
        made.append(_FakeBare({}, events, first="ready\n" if not made else "Traceback ...\n"))
        return made[-1]

    monkeypatch.setattr(bench.subprocess, "Popen", popen)
    with pytest.raises(SystemExit, match="did not start.*Traceback"):
        bench._bare_in_layout(bench.argparse.Namespace(jobs=3, threads=1, models=["x"], precision="fp32"))
    assert not any(e == "go" for e, _ in events)
    assert {p for e, p in events if e == "kill"} == set(made)  # none left waiting for its go
