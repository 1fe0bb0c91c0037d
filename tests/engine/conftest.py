"""Fixtures for the engine tests: a tiny synthetic corpus and seeded, untrained checkpoints."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

torch.set_num_threads(1)

from _engine_helpers import save_untrained, toy_model_source  # noqa: E402  (after the thread setting)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Path:
    """4 speakers x 4 emotions x 1 utterance (16 WAVs at 16 kHz), 2 folds; the manifest path."""
    from audit.data import write_synthetic_corpus

    return write_synthetic_corpus(tmp_path_factory.mktemp("corpus"), seed=0, n_speakers=4,
                                  utterances_per_emotion=1, n_folds=2)


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


@pytest.fixture()
def toy_entry(tmp_path, monkeypatch) -> str:
    """An importable ``toy_ser:predict`` entry point (counts its calls) and its spec string."""
    mod = tmp_path / "toy_ser.py"
    mod.write_text(toy_model_source(prelude="CALLS = []", first="CALLS.append(len(waveforms))"))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("toy_ser", None)
    return "toy_ser:predict"


