"""Prediction precision: fp32 by default, bf16 on request, cached apart, recorded in run.json."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit.engine import MemoryCache, evaluate
from audit.models import load_models

needs_bf16 = pytest.mark.skipif(not __import__("model").precision.cpu_has_native_bf16(),
                                reason="this CPU has no native bf16")


def _proba(preds):
    return preds.filter(like="p_").to_numpy()


def test_default_precision_is_fp32_and_recorded(fold_models):
    (ms,) = load_models([fold_models])
    assert {p.precision for p in ms.predictors.values()} == {"fp32"}
    assert ms.describe()["checkpoints"]["0"]["precision"] == "fp32"


@needs_bf16
def test_bf16_predictions_are_close_but_cached_apart(manifest, fold_models):
    cache = MemoryCache()
    fp32 = evaluate(manifest, load_models([fold_models]), ["awgn:snr_db=10"], seed=1, cache=cache)
    misses = cache.misses
    bf16 = evaluate(manifest, load_models([fold_models], precision="bf16"), ["awgn:snr_db=10"], seed=1,
                    cache=cache)
    assert cache.misses == 2 * misses  # nothing of the fp32 run was reused for bf16
    a, b = _proba(fp32), _proba(bf16)
    assert a.shape == b.shape and not np.array_equal(a, b)
    np.testing.assert_allclose(a, b, atol=0.05)


def test_bf16_on_a_cpu_without_it_is_one_clear_line(fold_models, monkeypatch, capsys, corpus, tmp_path):
    import model.precision as prec
    from audit.cli import main

    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(SystemExit) as exc:
        main(["run", "noise", "--snr", "10", "--data", str(corpus), "--out", str(tmp_path / "r"),
              "--models", str(fold_models), "--precision", "bf16", "--device", "cpu"])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2
    assert len(err.splitlines()) == 1 and "precision=bf16: this CPU has no native bfloat16" in err


def test_run_json_records_precision_threads_and_cpu(corpus, fold_models, tmp_path, capsys):
    import torch

    from audit.cli import main

    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["run", "noise", "--snr", "10", "--data", str(corpus), "--models", str(fold_models),
              "--out", str(out), "--device", "cpu", "--n-boot", "20", "--no-cache"])
    assert exc.value.code == 0, capsys.readouterr().err
    doc = json.loads((out / "run.json").read_text())
    assert doc["precision"] == "fp32"
    assert doc["device"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert doc["device"]["torch_threads"] == torch.get_num_threads()
    assert set(doc["device"]["kernels"]) == {"env", "numpy_simd"}
    assert doc["models"][0]["checkpoints"]["0"]["precision"] == "fp32"


def test_onnx_predictions_match_fp32_and_are_cached_apart(manifest, fold_models):
    pytest.importorskip("onnxruntime")
    cache = MemoryCache()
    fp32 = evaluate(manifest, load_models([fold_models]), ["awgn:snr_db=10"], seed=1, cache=cache)
    misses = cache.misses
    onnx = evaluate(manifest, load_models([fold_models], precision="onnx"), ["awgn:snr_db=10"], seed=1,
                    cache=cache)
    assert cache.misses == 2 * misses  # the ONNX Runtime rows never come from the fp32 ones
    np.testing.assert_allclose(_proba(onnx), _proba(fp32), rtol=0, atol=1e-5)
    assert (onnx["prediction"] == fp32["prediction"]).all()


def test_onnx_run_is_recorded_and_refused_for_foreign_models(corpus, fold_models, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from audit.cli import main
    from audit.errors import AuditError
    from audit.models._windows import resolve_adapter_precision

    out = tmp_path / "run"
    with pytest.raises(SystemExit) as exc:
        main(["run", "noise", "--snr", "10", "--data", str(corpus), "--models", str(fold_models),
              "--out", str(out), "--device", "cpu", "--n-boot", "20", "--no-cache", "--precision", "onnx"])
    assert exc.value.code == 0, capsys.readouterr().err
    doc = json.loads((out / "run.json").read_text())
    assert doc["precision"] == "onnx"
    assert doc["models"][0]["checkpoints"]["0"]["precision"] == "onnx"
    with pytest.raises(AuditError, match="hf:x: precision=onnx applies to this toolkit's checkpoints"):
        resolve_adapter_precision("onnx", "cpu", "hf:x")
