"""A long utterance's windows run in forward passes of at most ``pass_s`` seconds of audio."""

import numpy as np
import pytest

from audit.errors import AuditError
from audit.models._windows import WindowConfig, WindowedPredictor


def _predictor(config: WindowConfig, calls: list[int]) -> WindowedPredictor:
    def forward(batch: np.ndarray) -> np.ndarray:  # each row's output from that row alone
        calls.append(len(batch))
        m = batch.mean(axis=1, dtype=np.float64)
        return np.stack([1 / (1 + np.exp(-m)), 1 - 1 / (1 + np.exp(-m))], axis=1).astype(np.float32)

    pred = WindowedPredictor(forward, ["a", "b"], config, name="t", sha256="0")
    pred._min_samples = 1  # no probing calls in the count
    return pred


@pytest.mark.parametrize("pass_s, passes", [(20.0, [2, 2, 2, 2, 1]), (10.0, [1] * 9), (5.0, [1] * 9),
                                            (45.0, [4, 4, 1]), (1000.0, [9])])
def test_windows_run_in_passes_of_pass_s(pass_s, passes):
    wave = np.sin(np.arange(16000 * 47) / 300.0).astype(np.float32) + np.linspace(0, 1, 16000 * 47,
                                                                                   dtype=np.float32)
    calls: list[int] = []
    got = _predictor(WindowConfig("t", 16000, 10.0, 5.0, pass_s), calls).predict_proba([wave])
    assert calls == passes  # 47 s: windows at 0, 5, ..., 35 and one aligned to the end (37 s)
    ref: list[int] = []
    one_pass = _predictor(WindowConfig("t", 16000, 10.0, 5.0, 1000.0), ref).predict_proba([wave])
    assert got.tobytes() == one_pass.tobytes()  # the same windows and mean, however split
    assert np.ptp(got) > 0  # the windows differ: a wrong split would show


def test_the_default_pass_is_two_ten_second_windows_and_batch_size_overrides():
    cfg = WindowConfig("t", 16000)
    assert cfg.pass_s == 20.0 and cfg.windows_per_pass == 2
    assert cfg.to_dict()["pass_s"] == 20.0  # part of every cache key
    calls: list[int] = []
    _predictor(cfg, calls).predict_proba([np.ones(16000 * 47, dtype=np.float32)], batch_size=16)
    assert calls == [9]


def test_whole_windows_are_counted_without_float_floor_error():
    assert WindowConfig("t", 16000, 0.1, 0.1, 0.3).windows_per_pass == 3  # 0.3 // 0.1 == 2.0
    assert WindowConfig("t", 16000, 10.0, 5.0, 29.9).windows_per_pass == 2
    assert WindowConfig("t", 16000, 10.0, 5.0, 1.0).windows_per_pass == 1


@pytest.mark.parametrize("pass_s", [0.0, -1.0, float("nan")])
def test_a_pass_needs_a_positive_length(pass_s):
    with pytest.raises(AuditError, match="pass_s"):
        WindowConfig("t", 16000, pass_s=pass_s)
