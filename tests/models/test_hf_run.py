"""`audit run` with ``hf:`` and ``speechbrain:`` models end to end: tables, cache hits, determinism."""

from __future__ import annotations

import json

import pandas as pd
import pytest

pytest.importorskip("transformers")
pytest.importorskip("speechbrain")

from audit.cli import main  # noqa: E402

from _hf_helpers import tiny_speechbrain, tiny_wav2vec2  # noqa: E402

FAST = ["--workers", "1", "--n-boot", "20", "--no-report"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audit.data import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("corpus"), seed=0, n_speakers=4,
                                  utterances_per_emotion=1, n_folds=2)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return [f"hf:{tiny_wav2vec2(root / 'w2v2')}", f"speechbrain:{tiny_speechbrain(root / 'xvec')}"]


def _run(capsys, out, corpus, models, *extra):
    with pytest.raises(SystemExit) as done:
        main(["run", "noise", "--snr", "10", "--data", str(corpus), "--models", *models,
              "--out", str(out), *FAST, *extra])
    err = capsys.readouterr().err
    assert done.value.code == 0, err
    return json.loads((out / "run.json").read_text())


def _csvs(run_dir):
    return {p.name: p.read_bytes() for p in sorted(run_dir.glob("*.csv"))}


def test_run_noise_with_foreign_models_writes_the_tables(tmp_path, capsys, corpus, models):
    cache = tmp_path / "cache"
    info = _run(capsys, tmp_path / "a", corpus, models, "--cache-dir", str(cache))
    assert (tmp_path / "a" / "table15_noise.csv").is_file()
    assert (tmp_path / "a" / "table17_gender.csv").is_file()
    preds = pd.read_csv(tmp_path / "a" / "predictions.csv")
    assert sorted(preds["model"].unique()) == ["w2v2", "xvec"]
    assert set(preds["condition"]) == {"clean", "awgn:snr_db=10"}
    assert len(preds) == 2 * 2 * 16
    kinds = {m["name"]: m["kind"] for m in info["models"]}
    assert kinds == {"w2v2": "huggingface", "xvec": "speechbrain"}
    assert info["cache"]["misses"] == 64 and info["cache"]["hits"] == 0

    # rerun: every prediction comes from the cache, the CSVs are byte-identical
    again = _run(capsys, tmp_path / "b", corpus, models, "--cache-dir", str(cache))
    assert again["cache"]["hits"] == 64 and again["cache"]["misses"] == 0
    assert _csvs(tmp_path / "b") == _csvs(tmp_path / "a")

    # and a cold run one utterance at a time gives the same bytes (no batch dependence)
    _run(capsys, tmp_path / "c", corpus, models, "--no-cache", "--batch-size", "1")
    assert _csvs(tmp_path / "c") == _csvs(tmp_path / "a")


def test_a_new_weight_file_is_a_cache_miss(tmp_path, capsys, corpus, models):
    cache = tmp_path / "cache"
    _run(capsys, tmp_path / "a", corpus, models[:1], "--cache-dir", str(cache))
    other = tiny_wav2vec2(tmp_path / "w2v2", seed=5)
    info = _run(capsys, tmp_path / "b", corpus, [f"hf:{other}"], "--cache-dir", str(cache))
    assert info["cache"]["hits"] == 0 and info["cache"]["misses"] == 32


def test_a_model_error_is_one_line_exit_2(tmp_path, capsys, corpus):
    with pytest.raises(SystemExit) as done:
        main(["run", "noise", "--snr", "10", "--data", str(corpus), "--models",
              "hf:facebook/wav2vec2-base", "--out", str(tmp_path / "x"), *FAST])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert err.startswith("error: hf:facebook/wav2vec2-base: no such folder") and err.count("\n") == 1


def test_run_on_an_hf_audiofolder(tmp_path, capsys, corpus, models):
    """The synthetic corpus as an audiofolder (metadata.csv) audited with the hf: model."""
    from audit.data import read_manifest

    man = read_manifest(corpus)
    meta = pd.DataFrame({"file_name": man["path"], "speaker_id": man["speaker"],
                         "sex": man["gender"], "label": man["emotion"].str[:3]})
    meta.to_csv(corpus.parent / "metadata.csv", index=False)
    try:
        _run(capsys, tmp_path / "a", f"hf:{corpus.parent}", models[:1], "--no-cache")
    finally:
        (corpus.parent / "metadata.csv").unlink()
    preds = pd.read_csv(tmp_path / "a" / "predictions.csv")
    assert len(preds) == 2 * 16 and set(preds["emotion"]) == {"angry", "happy", "neutral", "sad"}
    assert (tmp_path / "a" / "table15_noise.csv").is_file()
