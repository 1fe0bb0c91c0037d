"""``precision="onnx"``: the fp32 network run by ONNX Runtime, compared with PyTorch's forward."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from model import FeatureConfig, ModelError, Predictor, create_model
from model.precision import resolve_precision

pytest.importorskip("onnxruntime")

IFN_STREAMS = ("mfcc", "spectral", "prosodic")


def _net(name: str, seed: int):
    torch.manual_seed(seed)
    net = create_model(name, 8)
    rows = 39 if name.startswith("macnn") else net.config.n_features
    with torch.no_grad():  # non-trivial BatchNorm statistics, so eval mode matters
        net.train()
        net(torch.randn(8, 1, rows, 200) * 5)
    return net.eval()


def _config(name: str) -> FeatureConfig:
    return FeatureConfig() if name.startswith("macnn") else FeatureConfig(streams=IFN_STREAMS)


@pytest.mark.parametrize("name", ["macnn", "macnn_icasa", "ifn"])
def test_onnx_logits_are_pytorchs_to_the_last_bits(name, make_tones):
    net = _net(name, 3)
    classes = [f"c{i}" for i in range(8)]
    # logit pooling keeps the network's own outputs (a saturated softmax would hide differences)
    fp32 = Predictor(net, classes, _config(name), pooling="logit")
    onnx = Predictor(net, classes, _config(name), pooling="logit", precision="onnx")
    assert (fp32.precision, onnx.precision) == ("fp32", "onnx")
    waves, _ = make_tones(5)
    a, b = fp32.predict_proba(waves), onnx.predict_proba(waves)
    assert a.shape == b.shape == (5, 8)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)
    assert (a.argmax(1) == b.argmax(1)).all()
    x = torch.randn(32, 1, 39 if name.startswith("macnn") else net.config.n_features, 200)
    with torch.no_grad():  # the raw forward too, one fixed batch
        np.testing.assert_allclose(onnx._forward(x).numpy(), net(x).numpy(), rtol=1e-4, atol=1e-4)


def test_onnx_does_not_depend_on_grouping_or_threads(make_tones):
    net = _net("macnn", 4)
    pred = Predictor(net, [f"c{i}" for i in range(8)], FeatureConfig(), pooling="logit", precision="onnx")
    waves, _ = make_tones(7)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        ref = pred.predict_proba(waves)
        got = np.concatenate([pred.predict_proba(waves[a:b]) for a, b in ((0, 3), (3, 4), (4, 7))])
        np.testing.assert_array_equal(got, ref)
        torch.set_num_threads(2)  # a new session with two threads
        two = Predictor(net, pred.classes, FeatureConfig(), pooling="logit", precision="onnx")
        np.testing.assert_array_equal(two.predict_proba(waves), ref)
    finally:
        torch.set_num_threads(previous)


def test_onnx_reruns_give_the_same_bytes_in_fresh_processes(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, numpy as np, torch\n"
        "from model import FeatureConfig, Predictor, create_model\n"
        "torch.manual_seed(5)\n"
        "net = create_model('macnn', 8).eval()\n"
        "pred = Predictor(net, [str(i) for i in range(8)], FeatureConfig(), pooling='logit', precision='onnx')\n"
        "rng = np.random.default_rng(0)\n"
        "waves = [rng.standard_normal(n).astype('float32') * 0.1 for n in (16000, 24000, 40000)]\n"
        "sys.stdout.write(pred.predict_proba(waves).tobytes().hex())\n")
    root = Path(__file__).resolve().parents[2]
    runs = [subprocess.run([sys.executable, str(script)], cwd=root, capture_output=True, text=True,
                           env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), runs[0].stderr[-2000:]
    assert runs[0].stdout and runs[0].stdout == runs[1].stdout


def test_onnx_is_refused_off_the_cpu_and_without_onnxruntime(monkeypatch):
    with pytest.raises(ModelError, match="precision=onnx runs on the CPU"):
        resolve_precision("onnx", "cuda")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ModelError, match=r"precision=onnx needs onnxruntime: pip install 'ser-audit\[onnx\]'"):
        resolve_precision("onnx", "cpu")


def test_training_refuses_onnx():
    from model import TrainConfig

    with pytest.raises(ModelError, match="precision"):
        TrainConfig(model="macnn", precision="onnx")
