"""Recorded noise and measured IRs through `audit run`: params per row, the folders' hashes in
run.json, and cache entries that follow the folder's content, not its path."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audit.cli import main
from audit.data.recordings import write_ir_folder, write_noise_folder

FAST = ["--workers", "1", "--n-boot", "10", "--batch-size", "8", "--no-report"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("recordings")
    return write_noise_folder(root / "noise", seed=1), write_ir_folder(root / "rir", seed=1)


@pytest.fixture(scope="module")
def first(corpus, folders, tmp_path_factory):
    """One run (cached) with the toy model; its root, predictions and run.json."""
    import sys
    import textwrap

    root = tmp_path_factory.mktemp("first")
    (root / "toy_mod.py").write_text(textwrap.dedent("""
        import numpy as np
        def predict(waveforms):
            rms = np.array([np.sqrt(np.mean(np.square(w))) for w in waveforms])
            z = np.stack([rms * 40, 1 - rms * 10, rms * 5, 0.5 + 0 * rms], axis=1)
            e = np.exp(z - z.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        predict.classes = ["angry", "happy", "neutral", "sad"]
    """))
    sys.path.insert(0, str(root))
    noise = shutil.copytree(folders[0], root / "noise")
    preds, info = _run(corpus, "toy_mod:predict", root / "a", root / "cache", noise, folders[1])
    yield root, noise, preds, info
    sys.path.remove(str(root))


def _run(corpus, model, out, cache, noise, rir):
    with pytest.raises(SystemExit) as done:
        main(["run", "--condition", f"noise:dir={noise},snr_db=5,level=p56",
              "--condition", f"rir:dir={rir}", "--data", str(corpus), "--models", model,
              "--out", str(out), "--cache-dir", str(cache), *FAST])
    assert done.value.code == 0
    return pd.read_csv(out / "predictions.csv"), json.loads((out / "run.json").read_text())


def test_rows_record_file_offset_and_decay_and_runjson_the_folders(first, folders):
    _, noise, preds, info = first
    rir = folders[1]
    nrow = preds[preds["condition"].str.startswith("noise:")]
    params = [json.loads(p) for p in nrow["params"]]
    assert all({"noise.file", "noise.sha256", "noise.offset_s"} <= set(p) for p in params)
    assert np.allclose(nrow["achieved_snr_db"], 5.0, atol=0.01)  # the P.56 definition asked for
    rrow = preds[preds["condition"].str.startswith("rir:")]
    rparams = [json.loads(p) for p in rrow["params"]]
    assert all(p["rir.t30_s"] > 0 for p in rparams)
    assert np.allclose(rrow["measured_rt60_s"], [p["rir.t30_s"] for p in rparams])
    sources = info["condition_sources"]
    assert set(sources) == {f"noise:dir={noise},snr_db=5,level=p56", f"rir:dir={rir}"}
    (src,) = sources[f"noise:dir={noise},snr_db=5,level=p56"]
    assert len(src["manifest_sha256"]) == 64 and src["n_files"] == 3


def test_cache_follows_the_folder_content(corpus, first, folders):
    root, copy, preds, _ = first
    rir, cache = folders[1], root / "cache"
    again, info = _run(corpus, "toy_mod:predict", root / "b", cache, copy, rir)
    assert info["cache"]["misses"] == 0  # same folder, same files: all cached
    pd.testing.assert_frame_equal(preds, again)
    data, rate = sf.read(str(copy / "hum_8k.wav"))
    sf.write(str(copy / "hum_8k.wav"), data[::-1], rate)  # same path, other recording
    _, info = _run(corpus, "toy_mod:predict", root / "c", cache, copy, rir)
    n_noise = len(preds[preds["condition"].str.startswith("noise:")])
    assert info["cache"]["misses"] == n_noise  # only the noise condition is recomputed


def test_a_bad_file_stops_the_run_with_one_line(corpus, toy_entry, folders, tmp_path, capsys):
    noise, _ = folders
    bad = shutil.copytree(noise, tmp_path / "bad")
    (bad / "broken.flac").write_bytes(b"fLaC but truncated")
    with pytest.raises(SystemExit) as done:
        main(["run", "--condition", f"noise:dir={bad},snr_db=5", "--data", str(corpus),
              "--models", toy_entry, "--out", str(tmp_path / "x"), *FAST])
    err = capsys.readouterr().err
    assert done.value.code != 0 and "broken.flac" in err and "Traceback" not in err
