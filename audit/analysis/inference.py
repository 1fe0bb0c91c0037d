"""Intervals, tests and minimum detectable effects from bootstrap replicates, with a t reference.

The standard error of a statistic is the standard deviation of its Rao-Wu replicates
(``audit.analysis.bootstrap``), unbiased in the variance for linear statistics at any stratum
size. With 4 speakers per fold and 6 folds that variance rests on 24 - 6 = 18 degrees of
freedom (12 for a gender gap, 6 for one gender), so the reference distribution is Student's t
with the design degrees of freedom, clusters - strata (Korn & Graubard 1999, Analysis of Health
Surveys, sec. 5.2), not the normal:

- interval: ``estimate +- t_{df, (1 + ci) / 2} * SE``, clipped to the metric's range;
- test: ``t = estimate / SE``, two-sided p from t with ``df`` (a Wald t-test);
- minimum detectable effect: the true effect that this test detects with the given power,
  from the noncentral t (``delta`` solving ``P(|T_{df, delta}| > t_crit) = power``), times SE.

A percentile interval of the replicates cannot reach ``t_{6, 0.975} = 2.45`` standard errors
(the replicates of a group with 2 speakers per fold take few values), and is too narrow in
small samples in general (Hesterberg 2015, The American Statistician 69:371-386); the t
interval has the coverage the simulation in ``tests/analysis/test_analysis_coverage.py`` checks.
Where ``df`` is 0 (one speaker per stratum after collapsing) nothing is estimable: NaN.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from scipy import optimize
from scipy import stats as st

__all__ = ["ALPHA", "POWER", "replicate_se", "t_interval", "t_test", "mdg_factor", "minimum_detectable"]

ALPHA = 0.05
POWER = 0.80
_NORMAL_DF = 1e5  # beyond this, t = normal to 5 decimals
_FLOAT32_NOISE = 64 * float(np.finfo(np.float32).eps)  # relative spread of equal float32 replicates


def replicate_se(replicates: np.ndarray) -> np.ndarray:
    """Standard deviation (ddof 1) over axis 0 of (n_boot, ...) replicates, finite ones only.

    Returns (...); NaN where fewer than half the replicates (or fewer than 3) are finite; 0
    where the replicates differ by float32 rounding only (the rescaled weights n / (n - 1) are
    not exact in float32, so a statistic that is the same in every replicate wobbles in its
    7th digit).
    """
    r = np.asarray(replicates, dtype=np.float64)
    if r.shape[0] < 3:
        return np.full(r.shape[1:], np.nan)
    ok = np.isfinite(r)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        if ok.all():
            se = r.std(axis=0, ddof=1)
            spread, scale = np.ptp(r, axis=0), np.abs(r).max(axis=0)
        else:
            m = ok.sum(axis=0)
            x = np.where(ok, r, np.nan)
            se = np.where((m * 2 >= r.shape[0]) & (m >= 3), np.nanstd(x, axis=0, ddof=1), np.nan)
            spread, scale = np.nanmax(x, axis=0) - np.nanmin(x, axis=0), np.nanmax(np.abs(x), axis=0)
    return np.where(spread <= _FLOAT32_NOISE * np.maximum(scale, 1.0), np.where(np.isnan(se), se, 0.0), se)


@functools.lru_cache(maxsize=4096)
def _t_quantile(q: float, df: float) -> float:
    return float(st.t.ppf(q, min(df, _NORMAL_DF))) if df > 0 else np.nan


def _t_crit(df, q: float) -> np.ndarray:
    """t quantile per element of ``df`` (NaN where df <= 0); a few distinct df per run, cached."""
    df = np.asarray(df, dtype=np.float64)
    values, inverse = np.unique(np.nan_to_num(df, nan=0.0), return_inverse=True)
    return np.array([_t_quantile(float(q), float(d)) for d in values])[inverse].reshape(df.shape)


def t_interval(estimate, se, df, ci: float = 0.95, bounds=(-np.inf, np.inf)) -> tuple[np.ndarray, np.ndarray]:
    """``estimate +- t_{df, (1 + ci) / 2} * se`` clipped to ``bounds`` (arrays broadcast).

    NaN where ``df <= 0`` or ``se`` is not finite (not estimable); a zero SE with ``df > 0``
    (every replicate equal) gives the point.
    """
    half = _t_crit(df, 0.5 + ci / 2) * np.asarray(se, dtype=np.float64)
    est = np.asarray(estimate, dtype=np.float64)
    low, high = est - half, est + half
    ok = np.isfinite(half) & np.isfinite(est)
    low = np.where(ok, np.clip(low, bounds[0], bounds[1]), np.nan)
    high = np.where(ok, np.clip(high, bounds[0], bounds[1]), np.nan)
    return low, high


def t_test(estimate, se, df) -> np.ndarray:
    """Two-sided p of ``estimate / se`` against t with ``df``; NaN where SE is 0 or undefined
    or ``df <= 0`` (such tests stay outside a multiplicity family)."""
    est = np.asarray(estimate, dtype=np.float64)
    se = np.asarray(se, dtype=np.float64)
    df = np.asarray(df, dtype=np.float64)
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0) & (df > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.abs(est) / np.where(ok, se, 1.0)
    p = 2 * st.t.sf(t, np.minimum(np.where(df > 0, df, 1.0), _NORMAL_DF))
    return np.where(ok, p, np.nan)


@functools.lru_cache(maxsize=4096)
def _factor(alpha: float, power: float, df: float) -> float:
    if not df > 0:
        return np.nan
    df = min(df, _NORMAL_DF)
    crit = st.t.ppf(1 - alpha / 2, df)

    def missing_power(delta):  # rejection probability of the two-sided test minus the target
        # the far tail is < 1e-8 wherever the power is near the target; scipy's nct returns
        # NaN for some of those tiny values
        far = np.nan_to_num(st.nct.cdf(-crit, df, delta))
        return st.nct.sf(crit, df, delta) + far - power

    guess = crit + st.t.ppf(power, df)  # the usual approximation, a little low at small df
    return float(optimize.brentq(missing_power, 0.5 * guess, 2.0 * guess + 1.0, xtol=1e-10))


def mdg_factor(alpha: float = ALPHA, power: float = POWER, df: float = np.inf) -> float:
    """Noncentrality ``delta`` at which the two-sided t-test at ``alpha`` with ``df`` degrees of
    freedom rejects with probability ``power``: minimum detectable effect = factor * SE.
    2.80 for the defaults with the normal (``df`` infinite), 3.05 at 12 degrees of freedom."""
    return _factor(float(alpha), float(power), float(df))


def minimum_detectable(se, df, alpha: float = ALPHA, power: float = POWER) -> np.ndarray:
    """``mdg_factor(alpha, power, df) * se`` elementwise (arrays broadcast); NaN where
    ``df <= 0`` or SE undefined."""
    se, df = np.broadcast_arrays(np.asarray(se, dtype=np.float64), np.asarray(df, dtype=np.float64))
    factor = np.array([mdg_factor(alpha, power, d) if np.isfinite(d) else mdg_factor(alpha, power)
                       for d in df.ravel().tolist()]).reshape(df.shape)
    return factor * se
