"""Simulated SER test sets with a known truth, analysed with the project's own interval
machinery, many corpora at once.

A corpus: ``n_folds`` folds of ``per_fold`` speakers, half of them women; every speaker has the
RAVDESS class counts (4 neutral, 8 of each other emotion: 60 utterances). Each fold has its own
model, some better than others (a fixed offset per fold), and speakers differ in skill:

- a speaker's accuracy ``p_s ~ Beta`` with mean ``0.45 + fold offset +- gap / 2`` (women +,
  men -) and concentration 16 (a spread of about 12 points, as RAVDESS's speakers);
- per class ``p_sc ~ Beta`` with mean ``p_s * r_c`` (``r_c`` the class difficulty) and
  concentration 20; the number right of the ``n_c`` utterances ``~ Binomial(n_c, p_sc)``;
- under noise, each speaker keeps a share ``q_s ~ Beta`` (mean 0.6) of their accuracy.

So the truth is known in closed form: the fold-mean UA is ``mean_f mean_{s in f} r_bar *
E[p_s]``, the drop is 0.4 of it, the women - men UA gap is ``r_bar * gap``.

The analysis uses the functions ``audit.analysis.analyse`` uses (``make_design`` for the Rao-Wu
replicates and strata, ``fold_mean``, ``design_df``, ``replicate_se``, ``t_interval``,
``t_test``, ``minimum_detectable``); only the per-fold UA of replicate-weighted counts is
written out here, vectorised over corpora.
``test_analysis_coverage.test_the_simulation_is_the_project_analysis`` checks on one corpus that
this path and ``analyse`` / ``findings_frame`` give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from audit.analysis import design_df, fold_mean, minimum_detectable, replicate_se, t_interval, t_test
from audit.analysis.bootstrap import make_design

CLASSES = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
PER_CLASS = np.array([4] + [8] * 7)  # utterances per speaker and class (RAVDESS)
DIFFICULTY = np.linspace(0.55, 1.0, len(CLASSES))
BASE, NOISE_KEEP = 0.45, 0.6
WOMEN, MEN = "gender=female", "gender=male"


def _beta(rng, mean, concentration, size):
    return rng.beta(mean * concentration, (1 - mean) * concentration, size)


@dataclass
class Corpora:
    """``clean``, ``noisy`` : (C, S, K) utterances right per corpus, speaker and class;
    folds, groups : (S,) each speaker's fold and gender label; truth : the true UA fold mean
    (``ua``), drop (``drop``) and women - men gap (``gap``), in points."""

    clean: np.ndarray
    noisy: np.ndarray
    folds: np.ndarray
    groups: np.ndarray
    truth: dict


def simulate(seed: int, n_corpora: int, *, n_folds: int = 6, per_fold: int = 4, gap: float = 0.0) -> Corpora:
    """``gap`` : the true women - men UA gap in points."""
    rng = np.random.default_rng(seed)
    folds = np.repeat([str(f) for f in range(n_folds)], per_fold)
    groups = np.tile(np.where(np.arange(per_fold) < (per_fold + 1) // 2, WOMEN, MEN), n_folds)
    offset = np.linspace(-0.08, 0.08, n_folds)[folds.astype(int)]
    half = gap / 100 / DIFFICULTY.mean() / 2
    mean = BASE + offset + np.where(groups == WOMEN, half, -half)  # (S,)
    skill = _beta(rng, np.broadcast_to(mean, (n_corpora, len(mean))), 16.0, (n_corpora, len(mean)))
    p = _beta(rng, skill[..., None] * DIFFICULTY, 20.0, skill.shape + (len(CLASSES),))
    keep = _beta(rng, NOISE_KEEP, 20.0, skill.shape)[..., None]
    clean, noisy = rng.binomial(PER_CLASS, p), rng.binomial(PER_CLASS, p * keep)
    ua = 100 * DIFFICULTY.mean() * pd.Series(mean).groupby(folds).mean().mean()
    return Corpora(clean, noisy, folds, groups, {"ua": ua, "drop": ua * (1 - NOISE_KEEP), "gap": gap})


def _fold_ua(own: np.ndarray, fold_w: list[np.ndarray], fold_idx, members: np.ndarray):
    """own (C, S) each speaker's UA (%) -> the per-fold UA (R, C, F) of every replicate over
    ``members``, and the folds' shares of ``fold_mean`` (R, 1, F).

    Every speaker has the same ``n_c`` utterances of each class, so a fold's UA, the mean over
    classes of (weighted hits / weighted utterances), is the weighted mean of its speakers' own
    UAs: one matrix product per fold instead of one per class.
    """
    out, shares = [], []
    for w, idx in zip(fold_w, fold_idx):
        ws = w[:, members[idx]].astype(np.float64)  # (R, n) weights of the members
        total = ws.sum(axis=1)  # (R,)
        with np.errstate(invalid="ignore", divide="ignore"):
            out.append((ws @ own[:, idx[members[idx]]].T) / total[:, None])  # (R, C)
        shares.append(total / total[0])
    return np.stack(out, axis=-1), np.stack(shares, axis=-1)[:, None, :]


@dataclass
class Tests:
    """Per corpus (C,): estimate, SE, df, interval, p and per-test MDG of one statistic."""

    estimate: np.ndarray
    se: np.ndarray
    df: float
    low: np.ndarray
    high: np.ndarray
    p: np.ndarray
    mdg: np.ndarray

    def covers(self, truth: float) -> np.ndarray:
        return (self.low <= truth) & (truth <= self.high)


def _tests(replicates: np.ndarray, df: float, ci: float = 0.95) -> Tests:
    """replicates (1 + n_boot, C), row 0 the estimates -> the tests of each corpus."""
    est = replicates[0]
    se = replicate_se(replicates[1:])
    low, high = t_interval(est, se, df, ci)
    return Tests(est, se, df, low, high, t_test(est, se, df), minimum_detectable(se, df))


def analyse(c: Corpora, *, n_boot: int = 300, seed: int = 0) -> dict[str, Tests]:
    """``ua`` (clean UA, all speakers), ``drop`` (clean - noisy UA), ``gap`` (women - men UA
    on clean), ``gap_noisy`` and ``gap_change`` (noisy gap - clean gap): fold means."""
    with threadpool_limits(1):  # small products: BLAS threads only add waiting (as in analyse)
        return _analyse(c, n_boot, seed)


def _analyse(c: Corpora, n_boot: int, seed: int) -> dict[str, Tests]:
    fold_list = sorted(set(c.folds.tolist()), key=int)
    fold_idx = [np.flatnonzero(c.folds == f) for f in fold_list]
    everyone = np.ones(len(c.folds), dtype=bool)
    out = {}
    design = make_design(c.folds, fold_idx, n_boot, seed)  # strata: folds
    df = design_df(design.strata, everyone, c.folds, fold_list)[-1]
    own = {k: 100 * (x / PER_CLASS).mean(axis=-1) for k, x in (("clean", c.clean), ("noisy", c.noisy))}
    ua = {k: fold_mean(*_fold_ua(x, design.fold_w, fold_idx, everyone)) for k, x in own.items()}
    out["ua"] = _tests(ua["clean"], df)
    out["drop"] = _tests(ua["clean"] - ua["noisy"], df)
    by_gender = make_design(c.folds, fold_idx, n_boot, seed, c.groups)  # strata: fold x gender
    df = design_df(by_gender.strata, everyone, c.folds, fold_list)[-1]
    gaps = {}
    for k, x in own.items():
        women, men = (fold_mean(*_fold_ua(x, by_gender.fold_w, fold_idx, c.groups == g)) for g in (WOMEN, MEN))
        gaps[k] = women - men
    out["gap"] = _tests(gaps["clean"], df)
    out["gap_noisy"] = _tests(gaps["noisy"], df)
    out["gap_change"] = _tests(gaps["noisy"] - gaps["clean"], df)
    return out


def predictions(c: Corpora, corpus: int = 0) -> pd.DataFrame:
    """One corpus as predictions.csv rows (conditions ``clean`` and ``awgn:snr_db=0``): of a
    speaker's ``n_c`` utterances of class c the first ``right`` are predicted c, the others the
    next class."""
    rows = []
    for cond, right in (("clean", c.clean[corpus]), ("awgn:snr_db=0", c.noisy[corpus])):
        for s, (fold, group) in enumerate(zip(c.folds, c.groups)):
            for k, cls in enumerate(CLASSES):
                for u in range(PER_CLASS[k]):
                    pred = cls if u < right[s, k] else CLASSES[(k + 1) % len(CLASSES)]
                    rows.append((cls, "m", fold, cond, f"s{s:03d}_{cls}_{u}", f"s{s:03d}",
                                 group.split("=", 1)[1], pred))
    return pd.DataFrame(rows, columns=["emotion", "model", "fold", "condition", "utt_id", "speaker", "gender",
                                       "prediction"])
