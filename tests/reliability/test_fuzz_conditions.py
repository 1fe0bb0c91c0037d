"""Property tests (hypothesis, derandomised, bounded) over condition strings and perturbation
parameters. Each test tallies its cases; ``pytest -s`` prints the counts (docs/reliability.md)."""

from __future__ import annotations

import dataclasses
import math
import typing
from collections import Counter

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import perturbations as P
from _reliability_helpers import fuzz

# cheap to render (no room simulation, no MP3 encoder, no babble corpus); all are parsed
RENDERED = ["awgn", "pink", "brown", "gain", "clipping", "telephone", "clean"]
TALLY: dict[str, Counter] = {}


@pytest.fixture(scope="module", autouse=True)
def _print_tally():
    yield
    for name, counts in TALLY.items():
        print(f"\n[fuzz] {name}: {sum(counts.values())} cases {dict(sorted(counts.items()))}")


def _value(tp) -> st.SearchStrategy:
    if tp is float:
        return st.one_of(st.floats(0.05, 60), st.floats(0.05, 60), st.floats(-1e4, 1e4),
                         st.floats(allow_nan=True), st.sampled_from([0.0, -0.0, 1e-300, 1e300]))
    if tp is int:
        return st.one_of(st.sampled_from([1, 2, 4, 16, 64, 128]), st.integers(-10, 10**6))
    return st.one_of(st.sampled_from(["whole", "active", "mp3", "aac", "opus", "lame"]),
                     st.text(max_size=8))


@st.composite
def perturbation_kwargs(draw, names=None):
    """(name, kwargs) for a registered perturbation, with typed but otherwise wild values."""
    names = names or sorted(P.list_perturbations())
    name = draw(st.sampled_from(names))
    cls = type(P.parse_condition("clean")) if name == "clean" else _class_of(name)
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required or draw(st.booleans()):
            kwargs[f.name] = draw(_value(hints.get(f.name, float)))
    return name, kwargs


def _class_of(name: str):
    for obj in vars(P).values():
        if isinstance(obj, type) and issubclass(obj, P.Perturbation) and getattr(obj, "name", None) == name:
            return obj
    raise LookupError(name)


@fuzz(150)
@given(st.lists(perturbation_kwargs(), min_size=1, max_size=3))
def test_condition_string_round_trip(stages):
    tally = TALLY.setdefault("condition round trip", Counter())
    made = []
    for name, kwargs in stages:
        try:
            made.append(P.condition_from_dict({"name": name, **kwargs}))
        except P.PerturbationError:
            tally["rejected (PerturbationError)"] += 1
            return
    p = made[0] if len(made) == 1 else P.parse_condition("+".join(map(str, made)))
    assert P.parse_condition(str(p)) == p
    assert str(P.parse_condition(str(p))) == str(p)
    assert P.condition_from_dict(p.to_dict()) == p
    tally["round trip exact"] += 1


@fuzz(300)
@given(st.text(alphabet=st.sampled_from(list("awgnpikmp3rvb:=+,._-e0123456789 ")) | st.characters(),
               max_size=40))
def test_any_condition_string_parses_or_is_one_clear_error(text):
    tally = TALLY.setdefault("random condition strings", Counter())
    try:
        p = P.parse_condition(text)
    except P.PerturbationError as exc:
        assert str(exc) and "\n" not in str(exc)
        tally["PerturbationError"] += 1
        return
    assert P.parse_condition(str(p)) == p
    tally["parsed"] += 1


@fuzz(60)
@given(name=st.sampled_from(RENDERED), snr=st.floats(-20, 60), seed=st.integers(0, 2**32 - 1),
       x=hnp.arrays(np.float32, st.integers(16, 3000),
                    elements=st.floats(-1, 1, width=32, allow_subnormal=False)),
       sr=st.sampled_from([8000, 16000, 44100]))
def test_rendering_keeps_length_dtype_and_hits_the_snr(name, snr, seed, x, sr):
    tally = TALLY.setdefault("rendering", Counter())
    spec = {"awgn": f"awgn:snr_db={snr!r}", "pink": f"pink:snr_db={snr!r}",
            "brown": f"brown:snr_db={snr!r}", "gain": "gain:gain_db=-6",
            "clipping": "clipping:clipped_pct=5", "telephone": "telephone", "clean": "clean"}[name]
    p = P.parse_condition(spec)
    rng = np.random.default_rng(seed)
    power = float(np.mean(np.square(x.astype(np.float64))))
    # silent = no power in float32, the precision the noise is scaled in: all zeros, or values
    # so small (|x| < ~1e-23) that their squares underflow (found by this test)
    silent32 = float(np.dot(x, x)) == 0.0
    try:
        y, record = P.render(p, x, sr, rng)
    except P.SilentInputError:
        assert silent32 or name == "clipping"
        tally["silent input: SilentInputError"] += 1
        return
    except P.PerturbationError as exc:
        tally[f"PerturbationError ({name})"] += 1
        assert str(exc)
        return
    assert y.dtype == np.float32 and y.shape == x.shape and np.isfinite(y).all()
    if name in ("awgn", "pink", "brown"):
        assert not silent32
        noise = float(np.mean(np.square(y.astype(np.float64) - x)))
        achieved = 10 * math.log10(power / noise)
        assert abs(achieved - snr) < 0.01, (achieved, snr)
        assert abs(record[f"{name}.achieved_snr_db"] - snr) < 0.01
        tally["SNR within 0.01 dB"] += 1
    else:
        tally["length and dtype kept"] += 1
    again, _ = P.render(p, x, sr, np.random.default_rng(seed))
    assert np.array_equal(again, y)  # same seed, same samples
