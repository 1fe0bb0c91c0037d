"""--augment: the spec grammar, per-item seeding, held-out conditions, rates."""

import numpy as np
import pandas as pd
import pytest

from audit.engine.augment import AugmentRenderer, parse_augment
from audit.errors import AuditError

SPEC = "awgn:snr_db=0..30@0.5, reverb:rt60_s=0.2..0.9@0.3, mp3:bitrate_kbps=32..128@0.2"


def _renderer(spec=SPEC, hold_out=(), n=4, sr=48000, seed=11):
    rng = np.random.default_rng(0)
    natives = [((0.1 * rng.standard_normal(int(sr * 1.2))).astype(np.float32), sr) for _ in range(n)]
    contexts = [{"utt_id": f"u{i}", "speaker": f"s{i % 2}"} for i in range(n)]
    return AugmentRenderer(parse_augment(spec, hold_out), natives, contexts, seed)


def test_entries_ranges_choices_and_probabilities_parse():
    entries = parse_augment(SPEC + ", pink:snr_db=5|10,power=active@0.25")
    assert [e.name for e in entries] == ["awgn", "reverb", "mp3", "pink"]
    assert entries[0].ranges == {"snr_db": (0.0, 30.0)} and entries[0].probability == 0.5
    assert entries[3].fixed == {"level": "active"} and entries[3].choices == {"snr_db": (5.0, 10.0)}
    # An integer range draws only values the perturbation accepts: MP3's legal bitrates.
    assert entries[2].choices["bitrate_kbps"] == (32, 40, 48, 56, 64, 80, 96, 112, 128)


@pytest.mark.parametrize("spec, message", [
    ("awgn:snr_db=0..30@1.5", "probability 1.5"),
    ("hum:freq=50", "unknown perturbation 'hum'"),
    ("awgn:snr_db=30..0", "needs a < b"),
    ("awgn:snr_db=-99..0", "snr_db=-99"),
    ("awgn:loudness=3", "bad token 'loudness=3'"),
])
def test_bad_specs_are_one_line_errors(spec, message):
    with pytest.raises(AuditError, match=message.replace("(", r"\(")):
        parse_augment(spec)


def test_a_held_out_condition_is_refused_and_never_drawn():
    with pytest.raises(AuditError, match="awgn is declared held out"):
        parse_augment(SPEC, hold_out=("awgn",))
    render = _renderer("pink:snr_db=0..20@0.5, reverb:rt60_s=0.3..0.6@0.5", hold_out=("awgn",), n=6)
    seen = set()
    for epoch in range(10):
        for i in range(6):
            out = render(i, epoch)
            seen |= set(out[1]) if out else set()
    assert seen == {"pink", "reverb"}


def test_the_same_utterance_and_epoch_give_the_same_audio_and_other_epochs_other_audio():
    a, b = _renderer(), _renderer()
    outs = {}
    for epoch in range(6):
        x, y = a(1, epoch), b(1, epoch)
        assert (x is None) == (y is None)
        if x is not None:
            assert np.array_equal(x[0], y[0]) and x[1] == y[1]
            outs[epoch] = x[0]
    assert len(outs) >= 2
    first, *rest = outs.values()
    assert any(len(r) != len(first) or not np.array_equal(r, first) for r in rest)
    # Order does not matter: utterance 1 after 3 renders as utterance 1 alone.
    c = _renderer()
    c(3, 2)
    again = c(1, 2)
    ref = a(1, 2)
    assert (again is None and ref is None) or np.array_equal(again[0], ref[0])


def test_each_entry_fires_at_about_its_probability():
    render = _renderer("awgn:snr_db=10..20@0.5, pink:snr_db=10@0.2", n=40)
    counts = {"awgn": 0, "pink": 0}
    for epoch in range(10):
        for i in range(40):
            out = render(i, epoch)
            for name in out[1] if out else []:
                counts[name] += 1
    # 400 Bernoulli draws each: 4.5 standard errors either side.
    assert abs(counts["awgn"] / 400 - 0.5) < 4.5 * np.sqrt(0.25 / 400)
    assert abs(counts["pink"] / 400 - 0.2) < 4.5 * np.sqrt(0.16 / 400)


def test_rendered_audio_is_at_16_khz_and_the_snr_is_in_range():
    from perturbations import AWGN, derive_rng, render

    r = _renderer("awgn:snr_db=5..6@1", n=1)
    out, names = r(0, 0)
    wav, sr = r.natives[0]
    assert names == ["awgn"] and abs(len(out) - len(wav) // 3) <= 1
    rng = derive_rng(11, "u0", "augment:0:awgn:snr_db=5..6@0")
    rng.uniform()
    params = r.entries[0].draw(rng)
    assert 5 <= params["snr_db"] <= 6
    _, record = render(AWGN(params["snr_db"]), wav, sr, rng)
    assert record["awgn.achieved_snr_db"] == pytest.approx(params["snr_db"], abs=1e-3)
