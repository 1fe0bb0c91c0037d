"""Metric functions against hand-computed values (and sklearn where it defines the same thing)."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, f1_score, precision_recall_fscore_support

from audit.analysis import metrics as M

YT = ["a", "a", "a", "b", "b", "c"]
YP = ["a", "a", "b", "b", "c", "c"]


def test_confusion_matrix_hand():
    cm = M.confusion_matrix(YT, YP, labels=["a", "b", "c"])
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    w = M.confusion_matrix(YT, YP, labels=["a", "b", "c"], sample_weight=[1, 1, 3, 1, 1, 1])
    assert w[0, 1] == 3


def test_accuracy_family_hand():
    assert M.weighted_accuracy(YT, YP) == pytest.approx(4 / 6)
    # recalls a 2/3, b 1/2, c 1
    assert M.unweighted_accuracy(YT, YP) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # F1: a = 2*2/(3+2) = 0.8, b = 2*1/(2+2) = 0.5, c = 2*1/(1+2) = 2/3
    assert M.per_class_f1(YT, YP) == pytest.approx({"a": 0.8, "b": 0.5, "c": 2 / 3})
    assert M.macro_f1(YT, YP) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert M.per_class_precision(YT, YP) == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.5})
    assert M.micro_f1(YT, YP) == pytest.approx(M.weighted_accuracy(YT, YP))
    assert M.class_f1("b")(YT, YP) == pytest.approx(0.5)
    assert np.isnan(M.class_f1("zzz")(YT, YP))


def test_ua_uses_classes_present_in_truth_macro_f1_the_union():
    yt, yp = ["a", "a"], ["a", "b"]
    assert M.unweighted_accuracy(yt, yp) == pytest.approx(0.5)  # only class a has a recall
    assert M.macro_f1(yt, yp) == pytest.approx((2 / 3 + 0.0) / 2)  # b predicted, never true: F1 0


def test_sample_weight_and_empty():
    assert M.weighted_accuracy(["a", "b"], ["a", "a"], sample_weight=[3, 1]) == pytest.approx(0.75)
    assert np.isnan(M.weighted_accuracy([], []))
    assert np.isnan(M.unweighted_accuracy([], []))
    with pytest.raises(ValueError, match="sample_weight"):
        M.weighted_accuracy(["a"], ["a"], sample_weight=[1, 2])


def test_against_sklearn_random():
    rng = np.random.default_rng(3)
    yt = rng.choice(list("wxyz"), 300)
    yp = rng.choice(list("wxyz"), 300)
    assert M.unweighted_accuracy(yt, yp) == pytest.approx(balanced_accuracy_score(yt, yp))
    assert M.macro_f1(yt, yp) == pytest.approx(f1_score(yt, yp, average="macro"))
    p, r, f, _ = precision_recall_fscore_support(yt, yp, labels=list("wxyz"))
    assert list(M.per_class_recall(yt, yp).values()) == pytest.approx(list(r))
    assert list(M.per_class_precision(yt, yp).values()) == pytest.approx(list(p))


PROBA = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.4, 0.6]])
TRUE = ["x", "y", "x", "y"]


def test_calibration_hand():
    # bins of width 1/15: 0.9 -> bin 13 (acc 1/2, conf 0.9), 0.6 -> bin 8 (acc 1, conf 0.6)
    assert M.ece(TRUE, PROBA, classes=["x", "y"]) == pytest.approx(0.5 * 0.4 + 0.5 * 0.4)
    assert M.mce(TRUE, PROBA, classes=["x", "y"]) == pytest.approx(0.4)
    # Brier: (0.01+0.01) + (0.81+0.81) + (0.16+0.16) + (0.16+0.16), over 4
    assert M.brier(TRUE, PROBA, classes=["x", "y"]) == pytest.approx(2.28 / 4)
    count, conf, acc = M.reliability(TRUE, PROBA, classes=["x", "y"])
    assert count.sum() == 4 and count[13] == 2 and count[8] == 2
    assert M.bin_index([0.0, 1 / 15, 1 / 15 + 1e-9, 1.0]).tolist() == [0, 0, 1, 14]


def test_calibration_bad_input():
    with pytest.raises(ValueError, match="shape"):
        M.ece(TRUE, PROBA[:, :1], classes=["x", "y"])
    with pytest.raises(ValueError, match="not in classes"):
        M.brier(["x", "q", "x", "y"], PROBA, classes=["x", "y"])


def test_robustness_hand():
    assert M.drop(80.0, 70.0) == pytest.approx(10.0)
    assert M.relative_drop(80.0, 70.0) == pytest.approx(0.125)
    assert np.isnan(M.relative_drop(0.0, 0.0))
    assert M.flip_rate(["a", "b", "c", "d"], ["a", "c", "c", "a"]) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        M.flip_rate(["a"], ["a", "b"])
