"""McNemar's test of paired correctness: plain (utterances independent) and speaker-clustered.

The plain test counts discordant utterances, b (A right, B wrong) and c (A wrong, B right),
as if every utterance were an independent pair. Utterances of one speaker are not: a speaker on
whom B happens to do better contributes many discordant pairs in the same direction, and the
plain test then rejects far too often. The clustered test (Durkalski, Palesch, Lipsitz & Rust
2003, Statistics in Medicine 22:2417-2428) sums ``d_k = b_k - c_k`` per speaker and compares
``(sum d_k)^2 / sum d_k^2`` with chi-square(1): the variance comes from how much the speakers
disagree, not from the number of utterances. With one utterance per speaker it is the plain
statistic without continuity correction, ``(b - c)^2 / (b + c)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as st

__all__ = ["mcnemar", "clustered_mcnemar"]


def mcnemar(correct_a, correct_b) -> dict:
    """McNemar's test on paired correctness (n,) bools, utterances taken as independent.

    Returns b (A right, B wrong), c (A wrong, B right), method and p (two-sided): exact binomial
    ``min(1, 2 * P(X <= min(b, c)))``, X ~ Bin(b + c, 1/2), when b + c < 25, else the continuity
    corrected chi-square ``(|b - c| - 1)^2 / (b + c)`` with 1 degree of freedom.
    """
    a = np.asarray(correct_a, dtype=bool)
    b_ = np.asarray(correct_b, dtype=bool)
    b, c = int((a & ~b_).sum()), int((~a & b_).sum())
    if b + c == 0:
        return {"b": b, "c": c, "method": "exact", "p": 1.0}
    if b + c < 25:
        return {"b": b, "c": c, "method": "exact", "p": float(min(1.0, 2 * st.binom.cdf(min(b, c), b + c, 0.5)))}
    chi2 = (abs(b - c) - 1) ** 2 / (b + c)
    return {"b": b, "c": c, "method": "chi2_cc", "p": float(st.chi2.sf(chi2, 1))}


def clustered_mcnemar(correct_a, correct_b, clusters) -> dict:
    """Durkalski et al.'s (2003) McNemar test for pairs clustered by speaker.

    correct_a, correct_b : (n,) bools; clusters : (n,) the speaker of each pair.

    Returns ``statistic`` ``(sum_k d_k)^2 / sum_k d_k^2`` with ``d_k = b_k - c_k``, ``p`` from
    chi-square(1), and ``n_clusters``; p = 1 when no speaker has more discordant pairs one way
    than the other.
    """
    a = np.asarray(correct_a, dtype=bool)
    b = np.asarray(correct_b, dtype=bool)
    d = pd.Series((a & ~b).astype(int) - (~a & b).astype(int)).groupby(np.asarray(clusters)).sum().to_numpy()
    denom = float((d.astype(float) ** 2).sum())
    if denom == 0:
        return {"statistic": 0.0, "p": 1.0, "n_clusters": len(d)}
    stat = float(d.sum()) ** 2 / denom
    return {"statistic": stat, "p": float(st.chi2.sf(stat, 1)), "n_clusters": len(d)}
