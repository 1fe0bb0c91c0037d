"""``audit train`` and ``audit model`` end to end (tiny synthetic corpus, one epoch)."""

import json

import pytest


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audit.data import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("synth"), seed=3, n_speakers=4, utterances_per_emotion=1)


def test_model_list_and_info(audit_cli):
    code, out, _ = audit_cli("model", "list", "--classes", "4")
    assert code == 0
    assert "macnn_icasa" in out and "155,636" in out  # the baseline's 4-class size
    code, out, _ = audit_cli("model", "info", "macnn_icasa", "--classes", "4", "--runs", "3", "--device", "cpu")
    assert code == 0
    assert "162,400" in out and "2.45 M" in out and "MACs" in out and "latency" in out


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
