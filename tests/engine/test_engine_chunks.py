"""Long recordings in chunks and the memory window: the chunk rule against a by-hand
reference, silent chunks, one parameter draw per recording, and results that do not depend on
``max_audio_s`` or on the executor."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit._atomic import atomic_write_csv
from audit.data import ProblemLog, load_audio, resample
from audit.engine import chunks, evaluate
from audit.models import load_models

from _engine_helpers import CLASSES, with_extra_utterance

CHUNK = 5.0  # seconds: the tests shrink the 60 s chunk (the corpus's files last 2.5-4.5 s)


@pytest.fixture()
def short_chunks(monkeypatch):
    monkeypatch.setattr(chunks, "CHUNK_S", CHUNK)


def _long(manifest, tmp_path, utt_id="zz_long", seconds=12.0, silent=None):
    """Two short files of the corpus and one long recording (noise, optionally silenced)."""
    manifest = manifest.iloc[:2]
    rng = np.random.default_rng(7)
    wave = 0.1 * rng.standard_normal(int(seconds * 16000))
    if silent is not None:
        wave[int(silent[0] * 16000):int(silent[1] * 16000)] = 0.0
    return with_extra_utterance(manifest, tmp_path, utt_id, wave)


def _probs(preds, utt, cond="clean"):
    row = preds[(preds["utt_id"] == utt) & (preds["condition"] == cond)].iloc[0]
    return row, row[[f"p_{c}" for c in CLASSES]].to_numpy(dtype=float)


def test_a_long_recording_is_the_mean_of_its_chunks(manifest, toy_entry, tmp_path, short_chunks):
    df = _long(manifest, tmp_path)
    sets = load_models([toy_entry])
    preds = evaluate(df, sets, [], seed=1, batch_size=8)
    row, got = _probs(preds, "zz_long")
    # by hand: 5 s chunks at 0 and 5 s, plus one aligned to the end (7 s), each predicted alone
    wav, sr = load_audio(df.set_index("utt_id").loc["zz_long", "path"])
    n = int(CHUNK * sr)
    assert [0, n, wav.size - n] == [0, 80000, 112000]
    pred = sets[0].predictors[None]
    want = np.mean([pred.predict_proba([resample(wav[s:s + n], sr)])[0] for s in (0, n, wav.size - n)], axis=0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    rec = json.loads(row["params"])
    assert rec["chunks.n"] == 3 and rec["chunks.skipped"] == 0 and rec["chunks.length_s"] == CHUNK
    # a short file of the same run is untouched: its record has no chunk keys
    other = preds[preds["utt_id"] != "zz_long"].iloc[0]
    assert "chunks.n" not in json.loads(other["params"])


def test_silent_chunks_are_left_out_and_counted(manifest, toy_entry, tmp_path, short_chunks):
    df = _long(manifest, tmp_path, silent=(5.0, 10.0))  # the second chunk is all zeros
    sets = load_models([toy_entry])
    preds = evaluate(df, sets, [], seed=1)
    row, got = _probs(preds, "zz_long")
    wav, sr = load_audio(df.set_index("utt_id").loc["zz_long", "path"])
    pred = sets[0].predictors[None]
    want = np.mean([pred.predict_proba([resample(wav[s:s + 80000], sr)])[0] for s in (0, 112000)], axis=0)
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert json.loads(row["params"])["chunks.skipped"] == 1


def test_a_recording_with_only_silence_is_a_problem(manifest, toy_entry, tmp_path, short_chunks):
    df = _long(manifest, tmp_path, silent=(0.0, 12.0))
    log = ProblemLog()
    preds = evaluate(df, load_models([toy_entry]), ["awgn:snr_db=10"], seed=1, problems=log)
    assert "zz_long" not in set(preds["utt_id"])
    assert [(r["utt_id"], r["stage"]) for r in log.rows] == [("zz_long", "load")]
    assert "silent" in log.rows[0]["problem"]


def test_every_chunk_gets_the_recordings_parameters(manifest, toy_entry, tmp_path, short_chunks):
    df = _long(manifest, tmp_path)
    preds = evaluate(df, load_models([toy_entry]), ["awgn:snr_db=10"], seed=3)
    row, _ = _probs(preds, "zz_long", "awgn:snr_db=10")
    rec = json.loads(row["params"])
    # one draw per recording: the noise seed is the one a short file with this id would get
    import perturbations

    pert = perturbations.parse_condition("awgn:snr_db=10")
    want = pert.sample_params(perturbations.derive_rng(3, "zz_long", "awgn:snr_db=10"), 16000)
    assert rec["awgn.noise_seed"] == want["noise_seed"]
    assert abs(row["achieved_snr_db"] - 10) < 0.05  # each chunk at 10 dB; the record holds the mean


def test_results_do_not_depend_on_the_memory_window(manifest, toy_entry, tmp_path, short_chunks):
    df = _long(manifest, tmp_path)
    sets = load_models([toy_entry])
    a = evaluate(df, sets, ["awgn:snr_db=10"], seed=2)
    b = evaluate(df, sets, ["awgn:snr_db=10"], seed=2, max_audio_s=1.0)  # one piece per load
    assert atomic_write_csv(tmp_path / "a.csv", a).read_bytes() == atomic_write_csv(tmp_path / "b.csv", b).read_bytes()


def test_free_memory_is_handed_back_between_loads(manifest, toy_entry, tmp_path, short_chunks,
                                                  monkeypatch):
    """The kept-memory allocator would otherwise let a long recording's loads pile up (the RSS
    creep of a 2-hour file): memory is released after every load but the batch's last (the
    engine releases after each batch)."""
    df = _long(manifest, tmp_path)  # 2 short files + 12 s in 3 chunks: 5 pieces
    trims = []
    monkeypatch.setattr(chunks, "release_free_memory", lambda: trims.append(1))
    evaluate(df, load_models([toy_entry]), [], seed=2, batch_size=8, max_audio_s=1.0)  # a load per piece
    assert len(trims) == 5 - 1
    trims.clear()
    evaluate(df, load_models([toy_entry]), [], seed=2, batch_size=8)  # one load: nothing in between
    assert trims == []


def test_chunked_keys_differ_and_tasks_match(manifest, toy_entry, tmp_path, short_chunks):
    from audit.engine import MemoryCache
    from test_engine_tasks import SerialExecutor

    df = _long(manifest, tmp_path)
    sets = load_models([toy_entry])
    local = evaluate(df, sets, ["awgn:snr_db=10"], seed=2, batch_size=2)
    tasks = evaluate(df, sets, ["awgn:snr_db=10"], seed=2, batch_size=2, executor=SerialExecutor())
    assert atomic_write_csv(tmp_path / "a.csv", local).read_bytes() == atomic_write_csv(tmp_path / "b.csv", tasks).read_bytes()
    # the same file scored whole (a longer chunk length) is another cache entry
    cache = MemoryCache()
    evaluate(df, sets, [], seed=2, cache=cache)
    chunks.CHUNK_S = 20.0
    evaluate(df, sets, [], seed=2, cache=cache)
    assert cache.hits == len(df) - 1 and cache.misses == len(df) + 1


def test_pool_rendering_keeps_the_bytes_at_48_khz(toy_entry, tmp_path):
    """With workers > 1 every condition, clean and noise too, renders in the pool (one torch
    thread, resampling 48 -> 16 kHz there) while the models predict the previous condition."""
    from audit.data import read_manifest, write_synthetic_corpus

    corpus = write_synthetic_corpus(tmp_path / "c48", seed=1, n_speakers=2, utterances_per_emotion=1,
                                    emotions=CLASSES, sample_rate=48000)
    df = read_manifest(corpus)
    sets = load_models([toy_entry])
    conds = ["awgn:snr_db=5", "reverb:rt60_s=0.3"]
    a = evaluate(df, sets, conds, seed=9, batch_size=8, workers=1)
    b = evaluate(df, sets, conds, seed=9, batch_size=3, workers=2)
    assert len(a) == 3 * len(df)
    assert atomic_write_csv(tmp_path / "a.csv", a).read_bytes() == atomic_write_csv(tmp_path / "b.csv", b).read_bytes()
