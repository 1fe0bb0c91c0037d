"""benchmarks/gpu_check.sh, dry-run on the CPU (every step runs and is timed, the agreement file is
written), and its agreement figures against hand-made prediction tables."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _agreement_module():
    spec = importlib.util.spec_from_file_location("gpu_agreement", ROOT / "benchmarks" / "gpu_agreement.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_agreement_counts_labels_and_probability_gaps():
    rows = [("m", 0, "clean", "u1", "a", 0.7, 0.3), ("m", 0, "clean", "u2", "b", 0.4, 0.6),
            ("n", 1, "clean", "u3", "a", 0.9, 0.1)]
    cols = ["model", "fold", "condition", "utt_id", "prediction", "p_a", "p_b"]
    cpu = pd.DataFrame(rows, columns=cols)
    gpu = cpu.copy()
    gpu.loc[1, ["prediction", "p_a", "p_b"]] = ["a", 0.55, 0.45]  # u2 flips: |0.55 - 0.4| = 0.15
    gpu = gpu.drop(index=2)  # u3 only on the CPU
    out = _agreement_module().agreement(gpu, cpu)
    assert out["overall"]["rows"] == 2 and out["only_cpu"] == 1 and out["only_gpu"] == 0
    assert out["overall"]["same_prediction"] == 0.5
    assert out["overall"]["max_abs_prob_diff"] == pytest.approx(0.15)
    assert out["overall"]["mean_abs_prob_diff"] == pytest.approx(0.15 / 2)  # 4 values: 0, 0, .15, .15
    assert set(out["per_model"]) == {"m"}


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_check_dry_run_on_the_cpu(corpus, fold_models, tmp_path):
    out = tmp_path / "check"
    env = {**os.environ, "DEVICE": "cpu", "DATA": str(corpus), "MODELS": str(fold_models),
           "SCENARIO": "noise --snr 10", "EPOCHS": "1", "WORKERS": "1", "OUT": str(out),
           "PYTHON": sys.executable, "PYTEST_ARGS": "tests/perturbations/test_perturb_batched.py",
           # the run compared with itself: the dry run checks the plumbing, not a GPU
           "REFERENCE": str(out / "work" / "audit" / "predictions.csv.gz")}
    done = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    doc = json.loads((out / "gpu_check.json").read_text())
    assert list(doc["steps"]) == ["train", "audit", "tests"]
    assert all(s["exit_code"] == 0 and s["wall_s"] > 0 for s in doc["steps"].values())
    assert doc["train"]["epochs"] == 1 and doc["train"]["device"] == "cpu"
    assert doc["audit"]["n_utterances"] == 16 and doc["audit"]["timings_s"]["evaluate"] > 0
    agree = doc["agreement_with_cpu"]["overall"]
    assert agree["rows"] == 2 * 16 and agree["same_prediction"] == 1.0 and agree["max_abs_prob_diff"] == 0.0
    assert "skipped" in doc["tests"]  # the GPU-marked tests skip cleanly without a GPU
