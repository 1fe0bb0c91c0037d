"""``audit train`` and ``audit model`` end to end (tiny synthetic corpus, one epoch)."""

import json

import pytest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audit.data import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("synth"), seed=3, n_speakers=4, utterances_per_emotion=1)


def _macnn_parameters(classes: int, n_heads: int = 4, hidden: int = 64) -> int:
    """MACNN's parameters from its architecture (Xu et al. 2020, as docs/model.md lays it out):
    conv + BatchNorm (weight, bias, 2 affine) per layer, Q/K/V 1x1 convs per head, the classifier."""
    def conv_bn(c_in, c_out, kh, kw):
        return c_in * c_out * kh * kw + c_out + 2 * c_out
    trunk = (conv_bn(1, 8, 10, 2) + conv_bn(1, 8, 2, 8) + conv_bn(16, 32, 3, 3) + conv_bn(32, 48, 3, 3)
             + conv_bn(48, 64, 3, 3) + conv_bn(64, 80, 3, 3))
    heads = n_heads * 3 * (80 * hidden + hidden)
    return trunk + heads + hidden * classes + classes


def _icasa_parameters(c: int, reduction: int = 32, groups: int = 4) -> int:
    """One ICASA block on c channels: ICA (depthwise 3x1 without bias, pointwise to mip, its
    BatchNorm, two 1x1 convs back to c; mip = max(8, c // r)), SA (4 gates + GroupNorm affine on
    c / 2g channels) and beta."""
    mip = max(8, c // reduction)
    ica = 3 * c + (c * mip + mip) + 2 * mip + 2 * (mip * c + c)
    sa = 6 * (c // (2 * groups))
    return ica + sa + 1


def test_model_list_and_info(audit_cli):
    base = _macnn_parameters(4)
    icasa = base + sum(_icasa_parameters(c) for c in (32, 48, 64, 80))
    assert (base, _macnn_parameters(8)) == (155_636, 155_896)  # the README's 8-class figure too
    code, out, _ = audit_cli("model", "list", "--classes", "4")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if not line.startswith(" ")}
    assert rows["macnn"][2] == f"{base:,}" and rows["macnn_icasa"][2] == f"{icasa:,}"
    code, out, _ = audit_cli("model", "info", "macnn_icasa", "--classes", "4", "--runs", "3", "--device", "cpu")
    assert code == 0
    assert f"{icasa:,}" in out and "2.45 M" in out and "MACs" in out and "latency" in out


def _one_line_error(err: str) -> bool:
    """stderr is exactly one ``error: ...`` line, with no traceback."""
    return err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


def test_model_info_unknown_name_is_one_line_error(audit_cli):
    code, out, err = audit_cli("model", "info", "nope")
    assert code == 2 and _one_line_error(err)
    assert err.startswith("error: unknown model 'nope'; available: ifn, ") and "macnn_icasa" in err


def test_train_writes_checkpoint_skips_and_refuses_other_config(audit_cli, corpus, tmp_path):
    out_dir = tmp_path / "ck"
    args = ["train", "--data", str(corpus), "--model", "macnn", "--aug", "aam", "--fold", "1",
            "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--out", str(out_dir)]
    code, out, err = audit_cli(*args)
    assert code == 0, err
    assert {p.name for p in out_dir.iterdir()} == {"fold1.safetensors", "fold1.json", "fold1.log.csv"}
    doc = json.loads((out_dir / "fold1.json").read_text())
    assert doc["fold"] == 1 and doc["name"] == "macnn" and doc["epochs"] == 1
    assert len(doc["manifest_hash"]) == 64 and doc["classes"] == sorted(doc["classes"])
    assert set(doc["training_speakers"]).isdisjoint(doc["metadata"]["test_speakers"])
    assert 0 <= doc["final_metrics"]["test_ua"] <= 1 and "held-out WA" in out
    mtime = (out_dir / "fold1.safetensors").stat().st_mtime_ns
    code, out, _ = audit_cli(*args)
    assert code == 0 and "skipped" in out
    assert (out_dir / "fold1.safetensors").stat().st_mtime_ns == mtime
    code, _, err = audit_cli(*[a if a != "1" or i != args.index("--epochs") + 1 else "2"
                                  for i, a in enumerate(args)])
    assert code == 2 and "use --force" in err


def test_train_bad_model_is_one_line_error(audit_cli, corpus, tmp_path):
    code, _, err = audit_cli("train", "--data", str(corpus), "--model", "resnet", "--fold", "0",
                             "--epochs", "1", "--out", str(tmp_path / "o"))
    # the bad value, the problem, and what --model accepts instead
    assert code == 2 and _one_line_error(err)
    assert err.startswith("error: unknown model 'resnet'; available: ifn, ") and "macnn_icasa" in err


def test_train_lr_reaches_the_optimiser_and_the_sidecar(audit_cli, corpus, tmp_path):
    args = ["train", "--data", str(corpus), "--model", "macnn", "--aug", "none", "--fold", "0", "--epochs", "1",
            "--batch-size", "8", "--device", "cpu", "--lr-step", "1"]
    code, _, err = audit_cli(*args, "--lr", "3e-3", "--out", str(tmp_path / "a"))
    assert code == 0, err
    assert json.loads((tmp_path / "a" / "fold0.json").read_text())["train_config"]["lr"] == 3e-3
    assert (tmp_path / "a" / "fold0.log.csv").read_text().splitlines()[1].split(",")[1] == "0.003"
    code, _, err = audit_cli(*args, "--out", str(tmp_path / "b"))  # the paper's 1e-3 by default
    assert code == 0, err
    assert json.loads((tmp_path / "b" / "fold0.json").read_text())["train_config"]["lr"] == 1e-3
    code, _, err = audit_cli(*args, "--lr", "0", "--out", str(tmp_path / "c"))
    assert code == 2 and _one_line_error(err) and "lr=0.0" in err
