"""check_gates(): rule parsing and violations naming model, condition and value."""

import pandas as pd
import pytest

from audit.errors import AuditError
from audit.analysis import check_gates, parse_rule


def _rows():
    recs = [
        ("m1", "clean", "ua", 80.0), ("m1", "awgn:snr_db=0", "ua", 60.0), ("m1", "awgn:snr_db=0", "ua_drop", 20.0),
        ("m1", "awgn:snr_db=20", "ua_drop", 4.0), ("m1", "clean", "gender_ua_difference", 6.5),
        ("m2", "awgn:snr_db=0", "ua_drop", 9.0), ("m2", "clean", "gender_ua_difference", float("nan")),
        ("m1", "clean", "ece", 3.0),
    ]
    rows = [dict(scenario="s", model=m, fold="mean", condition=c, group="all", metric=k, value=v,
                 ci_low=None, ci_high=None, n=10) for m, c, k, v in recs]
    # per-fold rows are ignored by the gates
    rows.append(dict(scenario="s", model="m2", fold="0", condition="awgn:snr_db=0", group="all",
                     metric="ua_drop", value=99.0, ci_low=None, ci_high=None, n=3))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("text, metric, op, num", [
    ("ua_drop>10", "ua_drop", ">", 10.0), (" gender_ua_gap >= 5 ", "gender_ua_gap", ">=", 5.0),
    ("ua<50.5", "ua", "<", 50.5), ("ece<=1e-1", "ece", "<=", 0.1), ("wa_drop>-2", "wa_drop", ">", -2.0),
])
def test_parse(text, metric, op, num):
    r = parse_rule(text)
    assert (r.metric, r.op, r.threshold) == (metric, op, num)


@pytest.mark.parametrize("bad", ["ua_drop", "ua_drop >> 10", "ua_drop > ten", "> 10", "ua_drop=10", ""])
def test_malformed_rule_names_it(bad):
    with pytest.raises(AuditError, match="gate rule"):
        check_gates(_rows(), [bad])


def test_violations_worst_cases_and_gap_alias():
    v = check_gates(_rows(), ["ua_drop>10", "gender_ua_gap>5", "ua<70", "ece>5"])
    assert v == [
        "ua_drop>10: model m1, condition awgn:snr_db=0: ua_drop = 20.00",
        "gender_ua_gap>5: model m1, condition clean: gender_ua_gap = 6.50",
        "ua<70: model m1, condition awgn:snr_db=0: ua = 60.00",
    ]
    assert check_gates(_rows(), ["ua_drop>25"]) == []
    assert check_gates(_rows(), []) == []


def test_unknown_metric():
    with pytest.raises(AuditError, match="'flip_rat' is not in the results"):
        check_gates(_rows(), ["flip_rat>5"])


def test_on_real_analysis(preds, classes):
    from audit.analysis import analyse

    m = analyse(preds, classes=classes, scenario="s", groups=["gender"], n_boot=10, seed=0)
    worst = m[(m.fold == "mean") & (m.group == "all") & (m.metric == "ua_drop")].value.max()
    v = check_gates(m, [f"ua_drop>{worst - 0.01}"])
    assert len(v) == 1 and f"ua_drop = {worst:.2f}" in v[0]
    assert check_gates(m, [f"ua_drop>{worst + 0.01}"]) == []
