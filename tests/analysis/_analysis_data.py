"""Synthetic predictions in the predictions.csv format (seeded; no corpus audio)."""

from __future__ import annotations

import numpy as np
import pandas as pd

CLASSES = ["neutral", "happy", "sad", "angry"]


def make_predictions(*, seed: int = 0, models=("base", "prop"), n_folds: int = 3, spk_per_fold: int = 4,
                     utt_per_spk: int = 12, conditions=("clean", "awgn:snr_db=20", "awgn:snr_db=0"),
                     classes=CLASSES) -> pd.DataFrame:
    """Rows: model, fold, condition, utt_id, speaker, gender, emotion, intensity, prediction,
    correct, p_<class>..., achieved_snr_db, measured_rt60_s, params.

    Speakers differ in skill (a per-speaker offset) so clustering matters; classes are
    imbalanced (class i appears with weight 1 + i); noise lowers accuracy; model "prop" is better.
    """
    rng = np.random.default_rng(seed)
    k = len(classes)
    weights = np.arange(1, k + 1) / np.arange(1, k + 1).sum()
    utts = []
    for f in range(n_folds):
        for s in range(spk_per_fold):
            spk = f * spk_per_fold + s + 1
            skill = rng.normal(0, 1.0)
            for u in range(utt_per_spk):
                utts.append((f, spk, f"a{spk:02d}_u{u:02d}", int(rng.choice(k, p=weights)), skill,
                             "high" if u % 2 else "normal"))
    rows = []
    for mi, model in enumerate(models):
        for ci, cond in enumerate(conditions):
            for f, spk, utt, t, skill, intensity in utts:
                logits = rng.normal(0, 1, k)
                logits[t] += 1.5 + skill + mi * 0.8 - ci * 0.7
                p = np.exp(logits) / np.exp(logits).sum()
                pred = int(p.argmax())
                row = dict(model=model, fold=f, condition=cond, utt_id=utt, speaker=spk,
                           gender="male" if spk % 2 else "female", emotion=classes[t], intensity=intensity,
                           prediction=classes[pred], correct=int(pred == t))
                row.update({f"p_{c}": p[i] for i, c in enumerate(classes)})
                row.update(achieved_snr_db=np.nan if cond == "clean" else 20.0 - 20 * (ci - 1),
                           measured_rt60_s=np.nan, params="{}")
                rows.append(row)
    return pd.DataFrame(rows)
