"""The streaming engine: rows, folds, problems, cache, resume, and invariance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.data import ProblemLog
from audit.engine import MemoryCache, PredictionCache, evaluate, prediction_columns
from audit._atomic import atomic_write_csv
from audit.errors import AuditError
from audit.models import load_models

from _engine_helpers import CLASSES, save_untrained, with_extra_utterance

NOISE = ["awgn:snr_db=10"]


def _csv(df: pd.DataFrame, path) -> bytes:
    return atomic_write_csv(path, df).read_bytes()


def test_rows_columns_and_fold_routing(manifest, fold_models):
    sets = load_models([str(fold_models)])
    preds = evaluate(manifest, sets, NOISE, seed=1, batch_size=8)
    assert list(preds.columns) == prediction_columns(manifest, CLASSES)
    assert len(preds) == 2 * len(manifest)  # clean + one noise condition
    assert list(preds["condition"].unique()) == ["clean", "awgn:snr_db=10"]
    noisy = preds[preds["condition"] == "awgn:snr_db=10"]
    assert (noisy["achieved_snr_db"] - 10).abs().max() < 0.05  # measured, from the record
    assert preds.loc[preds["condition"] == "clean", "achieved_snr_db"].isna().all()
    # fold k's rows come from fold k's checkpoint: recompute one utterance per fold by hand
    from audit.data import load_audio, resample

    for k, pred in sets[0].predictors.items():
        row = preds[(preds["condition"] == "clean") & (preds["fold"] == k)].iloc[0]
        wav, sr = load_audio(manifest.set_index("utt_id").loc[row["utt_id"], "path"])
        want = pred.predict_proba([resample(wav, sr)])[0]
        got = row[[f"p_{c}" for c in pred.classes]].to_numpy(dtype=float)
        np.testing.assert_allclose(got, want, atol=1e-6)
    np.testing.assert_allclose(preds[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0, atol=1e-5)


def test_cache_hit_recomputes_nothing(manifest, toy_entry, tmp_path, monkeypatch):
    import audit.data
    import toy_ser

    sets = load_models([toy_entry])
    first = evaluate(manifest, sets, NOISE, seed=3, batch_size=5, cache=PredictionCache(tmp_path))
    assert sum(toy_ser.CALLS) == 2 * len(manifest)
    toy_ser.CALLS.clear()
    loads = []
    real = audit.data.load_audio
    monkeypatch.setattr(audit.data, "load_audio", lambda p: loads.append(p) or real(p))
    cache = PredictionCache(tmp_path)
    again = evaluate(manifest, sets, NOISE, seed=3, batch_size=5, cache=cache)
    assert toy_ser.CALLS == [] and loads == []
    assert cache.hits == 2 * len(manifest) and cache.misses == 0
    assert _csv(first, tmp_path / "a.csv") == _csv(again, tmp_path / "b.csv")
    # another seed is another key: everything is recomputed
    evaluate(manifest, sets, NOISE, seed=4, batch_size=5, cache=PredictionCache(tmp_path))
    assert sum(toy_ser.CALLS) == len(manifest)  # only the noisy condition depends on the seed


def test_killed_run_resumes_to_identical_csv(manifest, toy_entry, tmp_path):
    sets = load_models([toy_entry])
    whole = evaluate(manifest, sets, NOISE, seed=5, batch_size=6)

    class Killed(Exception):
        pass

    def die(batch):
        if batch == 1:
            raise Killed

    cache = PredictionCache(tmp_path / "cache")
    with pytest.raises(Killed):
        evaluate(manifest, sets, NOISE, seed=5, batch_size=6, cache=cache, after_batch=die)
    cache.close()
    cache = PredictionCache(tmp_path / "cache")
    resumed = evaluate(manifest, sets, NOISE, seed=5, batch_size=6, cache=cache)
    assert cache.hits == 2 * 2 * 6  # two batches of 6 utterances x 2 conditions were kept
    assert _csv(whole, tmp_path / "a.csv") == _csv(resumed, tmp_path / "b.csv")


def test_independent_of_workers_and_batch_size(manifest, toy_entry, tmp_path):
    sets = load_models([toy_entry])
    conds = ["awgn:snr_db=5", "mp3:bitrate_kbps=64"]  # the main-process path and the pool
    a = evaluate(manifest, sets, conds, seed=9, batch_size=3, workers=1)
    b = evaluate(manifest, sets, conds, seed=9, batch_size=16, workers=2)
    assert _csv(a, tmp_path / "a.csv") == _csv(b, tmp_path / "b.csv")


def test_silent_utterance_is_a_problem_row_not_a_crash(manifest, toy_entry, tmp_path):
    df = with_extra_utterance(manifest, tmp_path, "zz_silent", np.zeros(16000))
    problems = ProblemLog()
    preds = evaluate(df, load_models([toy_entry]), NOISE, seed=1, problems=problems)
    assert "zz_silent" not in set(preds["utt_id"])
    assert len(preds) == 2 * len(manifest)
    rows = problems.to_frame()
    assert list(rows["utt_id"]) == ["zz_silent"]
    assert "silent" in rows["problem"].iloc[0]


def test_silence_under_awgn_is_reported_by_the_renderer():
    from audit.engine.conditions import RenderItem, Renderer, parse_conditions

    (_, clean), (cond, awgn) = parse_conditions(NOISE)
    items = [RenderItem("a", np.ones(800, np.float32) * 0.1, 16000, {}),
             RenderItem("b", np.zeros(800, np.float32), 16000, {})]
    out = Renderer(seed=1).render(awgn, cond, items)
    assert out[0].error == "" and out[0].waveform.shape == (800,)
    assert out[1].waveform is None and out[1].error


def test_missing_fold_checkpoint(manifest, fold_models, tmp_path):
    sets = load_models([str(fold_models)])
    del sets[0].predictors[1]
    with pytest.raises(AuditError, match=r"no checkpoint for fold\(s\) \[1\]"):
        evaluate(manifest, sets, [], seed=1)


def test_class_mismatch(manifest, tmp_path):
    ckpt = save_untrained(tmp_path / "m", fold=None, seed=0, classes=["angry", "calm", "sad", "x"])
    with pytest.raises(AuditError, match=r"no class for \['happy', 'neutral'\]"):
        evaluate(manifest, load_models([str(ckpt)]), [], seed=1)


def test_training_speaker_in_test_fold_is_refused(manifest, tmp_path):
    root = tmp_path / "leaky"
    for k in (0, 1):
        save_untrained(root / f"fold{k}", fold=k, seed=k, train_speakers=manifest["speaker"].unique())
    with pytest.raises(AuditError, match="trained or validated on test speaker"):
        evaluate(manifest, load_models([str(root)]), [], seed=1)


def test_unknown_condition(manifest, toy_entry):
    with pytest.raises(AuditError, match="awgm"):
        evaluate(manifest, load_models([toy_entry]), ["awgm:snr_db=3"], seed=1)


def test_single_model_evaluates_every_utterance(manifest, tmp_path):
    ckpt = save_untrained(tmp_path / "one", fold=None, seed=0)
    sets = load_models([str(ckpt)])
    assert not sets[0].per_fold
    assert "all utterances" in sets[0].describe()["scope"]
    part = manifest.groupby("fold").head(2)  # a few utterances of every fold
    preds = evaluate(part, sets, [], seed=1, cache=MemoryCache())
    assert sorted(preds["utt_id"]) == sorted(part["utt_id"])
