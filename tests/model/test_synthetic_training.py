"""A short real training run: held-out speakers of the synthetic corpus, >= 2x chance UA."""

import numpy as np

from audit.data import load_audio, load_data, split_fold, write_synthetic_corpus
from audit.analysis.metrics import unweighted_accuracy
from model import FeatureConfig, TrainConfig, load_checkpoint, train_model


def test_short_run_beats_twice_chance_on_held_out_speakers(tmp_path):
    # 8 speakers -> 4 folds; fold 0 holds out 2 speakers (one female, one male).
    df = load_data(write_synthetic_corpus(tmp_path / "synth", seed=0, n_speakers=8, utterances_per_emotion=6))
    train_df, test_df = split_fold(df, 0)
    assert set(train_df.speaker).isdisjoint(test_df.speaker)
    classes = sorted(df.emotion.unique())
    waves = lambda d: [load_audio(p)[0] for p in d.path]  # noqa: E731 - 16 kHz already
    # Few epochs on a small corpus: a larger lr, batch 8, a 2 s train stride, and exact
    # BatchNorm statistics at the end keep this within the suite's time budget.
    config = TrainConfig(model="macnn", aug="none", epochs=6, batch_size=8, lr=2e-3, bn_recalibrate=True,
                         features=FeatureConfig(standardize=True, train_stride=200), device="cpu", progress=False)
    weights = train_model(waves(train_df), list(train_df.emotion), classes, config, out_stem=tmp_path / "fold0")
    proba = load_checkpoint(weights).predict_proba(waves(test_df))
    ua = unweighted_accuracy(list(test_df.emotion), list(np.array(classes)[proba.argmax(axis=1)]))
    assert ua >= 2 / len(classes), f"held-out UA {ua:.3f} < 2x chance"
