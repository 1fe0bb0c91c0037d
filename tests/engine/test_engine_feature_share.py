"""The engine computes the features of a rendered waveform once for every model that reads the
same streams, and the predictions equal those of each model audited alone, byte for byte."""

from __future__ import annotations

import pandas as pd

from audit.engine import evaluate
from audit.models import load_models

from _engine_helpers import save_untrained


def test_two_models_with_the_same_features_compute_them_once(manifest, tmp_path, monkeypatch):
    from model.features import MFCCExtractor

    stems = []
    for name, seed in (("a", 11), ("b", 12)):
        for k in sorted(manifest["fold"].unique()):
            train = manifest.loc[manifest["fold"] != k, "speaker"].unique()
            save_untrained(tmp_path / name / f"fold{k}", fold=int(k), seed=seed + 10 * int(k),
                           train_speakers=train)
        stems.append(tmp_path / name)
    conditions = ["awgn:snr_db=10"]
    alone = [evaluate(manifest, load_models([s]), conditions, seed=4) for s in stems]

    calls = []
    original = MFCCExtractor.forward
    monkeypatch.setattr(MFCCExtractor, "forward", lambda self, x: calls.append(1) or original(self, x))
    both = evaluate(manifest, load_models(stems), conditions, seed=4)

    assert len(calls) == len(manifest) * (1 + len(conditions))  # not twice that
    for name, one in zip(("a", "b"), alone, strict=True):
        got = both[both["model"] == name].reset_index(drop=True)
        pd.testing.assert_frame_equal(got.drop(columns="model"), one.drop(columns="model"),
                                      check_exact=True)
