"""Fixtures for the reliability tests: a tiny synthetic corpus and untrained checkpoints."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

torch.set_num_threads(1)

from _reliability_helpers import FAST, record_writes, save_untrained  # noqa: E402


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """4 speakers x 4 emotions x 1 utterance (16 WAVs, 16 kHz, cut to 1 s so that prediction is
    cheap), 2 folds; the manifest path."""
    from audit.data import read_manifest, write_audio, write_manifest, write_synthetic_corpus
    from audit.data.audio import load_audio

    path = write_synthetic_corpus(tmp_path_factory.mktemp("corpus"), seed=0, n_speakers=4,
                                  utterances_per_emotion=1, n_folds=2)
    df = read_manifest(path)
    for wav in df["path"]:
        wave, sr = load_audio(wav)
        write_audio(wav, wave[int(0.2 * sr):int(1.2 * sr)], sr, subtype="PCM_16")
    df["duration_s"] = 1.0
    return write_manifest(df, path)


@pytest.fixture(scope="session")
def manifest(corpus) -> pd.DataFrame:
    from audit.data import read_manifest

    return read_manifest(corpus)


@pytest.fixture(scope="session")
def fold_models(tmp_path_factory, manifest) -> Path:
    """A checkpoint folder with fold0/fold1, each knowing its training speakers."""
    root = tmp_path_factory.mktemp("ckpt") / "macnn"
    for k in sorted(manifest["fold"].unique()):
        train = manifest.loc[manifest["fold"] != k, "speaker"].unique()
        save_untrained(root / f"fold{k}", fold=int(k), seed=100 + int(k), train_speakers=train)
    return root


@pytest.fixture(scope="session")
def run_args(corpus, fold_models):
    """``audit run`` arguments of the reference audit (noise at 0 dB, with the report)."""
    return lambda out, *extra: ["run", "noise", "--snr", "0", "--data", str(corpus), "--models",
                                str(fold_models), "--out", str(out), *FAST, *extra]


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory, run_args):
    """The reference audit, without the cache; its folder and the paths it opened for writing."""
    from audit.cli import main

    out = tmp_path_factory.mktemp("reference") / "run"
    with record_writes() as writes, pytest.raises(SystemExit) as done:
        main(run_args(out, "--no-cache"))
    assert done.value.code == 0
    return out, list(writes)
