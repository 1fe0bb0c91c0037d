"""The on-disk cache: round trip, persistence, and keys that change with every input."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from audit.engine.cache import PredictionCache, audio_key, encode_record, entry_key


def test_round_trip_and_persistence(tmp_path):
    probs = np.array([0.1, 0.2, 0.7], dtype=np.float32)
    rec = encode_record({"awgn.achieved_snr_db": np.float64(9.99), "awgn.seed": np.int64(3)})
    cache = PredictionCache(tmp_path)
    cache.put_many([("k1", probs, rec)])
    cache.commit()
    cache.close()
    again = PredictionCache(tmp_path)
    got = again.get_many(["k1", "k2"])
    assert list(got) == ["k1"] and again.hits == 1 and again.misses == 1
    assert got["k1"][0].tobytes() == probs.tobytes() and got["k1"][1] == rec
    assert rec == '{"awgn.achieved_snr_db":9.99,"awgn.seed":3}'


def test_keys_change_with_each_component(tmp_path):
    base = ("sha", "audio", "clean", 1, "feat")
    keys = {entry_key(*base)}
    for i, alt in enumerate(("sha2", "audio2", "awgn:snr_db=1", 2, "feat2")):
        changed = list(base)
        changed[i] = alt
        keys.add(entry_key(*changed))
    assert len(keys) == 6


def test_audio_key_follows_the_file(tmp_path):
    f = tmp_path / "a.wav"
    f.write_bytes(b"x" * 10)
    k1 = audio_key(f)
    assert audio_key(f) == k1
    os.utime(f, ns=(1, 1))
    assert audio_key(f) != k1


def test_babble_of_a_corpus_subset_is_never_reused_for_the_whole_corpus(manifest, fold_models):
    """Babble draws its talkers from the corpus it is given: a run on some speakers (``--folds``)
    picks other talkers than a run on all, so sharing a cache must not mix their predictions."""
    from audit.engine import MemoryCache, evaluate
    from audit.models import load_models

    cond = ["babble:snr_db=0,talkers=2"]
    models = load_models([fold_models])
    fresh = evaluate(manifest, models, cond, seed=3, cache=MemoryCache())
    cache = MemoryCache()
    subset = manifest[manifest["speaker"] != sorted(manifest["speaker"].unique())[-1]]
    evaluate(subset, models, cond, seed=3, cache=cache)
    shared = evaluate(manifest, models, cond, seed=3, cache=cache)
    cols = ["condition", "utt_id", "prediction", "params", *[c for c in fresh if c.startswith("p_")]]
    pd.testing.assert_frame_equal(shared[cols].reset_index(drop=True), fresh[cols].reset_index(drop=True))
