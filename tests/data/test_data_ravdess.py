"""The real RAVDESS copy (skipped cleanly when absent): counts, stereo files, the 6 folds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit.cli import main
from audit.data import load_audio, load_data, split_fold

pytestmark = pytest.mark.ravdess


@pytest.fixture(scope="module")
def ravdess(ravdess_root):
    return load_data(ravdess_root)


def test_counts(ravdess):
    assert len(ravdess) == 1440 and ravdess["speaker"].nunique() == 24
    assert ravdess.groupby("gender")["speaker"].nunique().to_dict() == {"female": 12, "male": 12}
    counts = ravdess["emotion"].value_counts().to_dict()
    assert counts.pop("neutral") == 96 and set(counts.values()) == {192} and len(counts) == 7
    assert (ravdess["sample_rate"] == 48000).all()


def test_stereo_files_are_downmixed(ravdess):
    stereo = ravdess[ravdess["channels"] == 2]
    assert len(stereo) == 5
    for path in stereo["path"]:
        wave, sr = load_audio(path)
        assert wave.ndim == 1 and sr == 48000 and np.isfinite(wave).all()


def test_six_folds(ravdess):
    assert sorted(ravdess["fold"].unique()) == list(range(6))
    for k in range(6):
        train, test = split_fold(ravdess, k)
        assert len(test) == 240 and len(train) == 1200
        actors = test.drop_duplicates("speaker")
        assert actors["gender"].value_counts().to_dict() == {"male": 2, "female": 2}
        assert set(actors["actor"]) == {2 * k + 1, 2 * k + 2, 2 * k + 13, 2 * k + 14}


def test_info_command(ravdess_root, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["data", "info", str(ravdess_root), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert exit_.value.code == 0 and summary["utterances"] == 1440
    assert summary["speakers_by_gender"] == {"female": 12, "male": 12}
    assert summary["channels"] == {"1": 1435, "2": 5}
    assert all(f["utterances"] == 240 for f in summary["folds"].values())
