"""Byte-identical outputs across interpreters (``--workers 2``, MP3 and reverb), and the measured
RT60 that a reverb run writes into predictions.csv.

One ``audit run`` runs in a fresh interpreter (its own ``PYTHONHASHSEED``), the same command
runs at the same time inside the test process, both with two pool workers, on an 8-utterance
48 kHz corpus: anything that leaks process state into the results (``hash()``, a per-process
or per-worker seed, the order in which pool workers finish) makes their CSVs differ. It costs
~37 s of CPU over 10 processes, mostly interpreter and pool start-up: what is being tested.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _engine_helpers import save_untrained, toy_model_source

pytestmark = pytest.mark.slow  # two interpreters and two pools of two workers

_REPO = Path(__file__).resolve().parents[2]
SEED = 5
SR = 48000  # RAVDESS' rate: reverb and MP3 run at the native rate, before resampling
REVERB = "reverb:rt60_s=0.3"
ARGS = ["--bitrate", "32", "--rt60", "0.3", "--seed", str(SEED), "--workers", "2",
        "--batch-size", "4", "--n-boot", "20", "--no-cache", "--no-report", "--device", "cpu"]

# A waveform-sensitive entry-point model beside the (nearly constant) untrained checkpoint, so
# a change in the rendered audio shows in the p_<class> columns and not only in the records.
_TOY = toy_model_source()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Run folders of one `audit run` in a subprocess and the same command run in this one."""
    from audit.cli import main
    from audit.data import read_manifest, write_synthetic_corpus

    root = tmp_path_factory.mktemp("determinism")
    corpus = write_synthetic_corpus(root / "corpus", seed=1, n_speakers=2, utterances_per_emotion=1,
                                    n_folds=2, sample_rate=SR)
    manifest = read_manifest(corpus)
    for k in sorted(manifest["fold"].unique()):
        train = manifest.loc[manifest["fold"] != k, "speaker"].unique()
        save_untrained(root / "macnn" / f"fold{k}", fold=int(k), seed=7 + int(k), train_speakers=train)
    (root / "det_toy.py").write_text(_TOY)

    def args(name: str) -> list[str]:
        return ["run", "--data", str(corpus), "--models", str(root / "macnn"), "det_toy:predict",
                "--out", str(root / name), *ARGS]

    # another hash seed than this process's (random unless the environment fixes it)
    own = os.environ.get("PYTHONHASHSEED", "")
    hash_seed = str(int(own) + 1) if own.isdigit() else "1"
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(_REPO), str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "audit", *args("a")], env=env, cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.path.insert(0, str(root))
    try:
        with pytest.raises(SystemExit) as done:
            main(args("b"))
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("det_toy", None)
        _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, f"the subprocess run failed: {err[-2000:]}"
    assert done.value.code == 0
    return root / "a", root / "b"


def _csvs(run_dir: Path) -> dict[str, bytes]:
    names = ["predictions.csv", "metrics.csv", "problems.csv",
             *sorted(p.name for p in run_dir.glob("table*.*"))]
    return {n: (run_dir / n).read_bytes() for n in names}


def test_two_processes_with_two_workers_give_byte_identical_csvs(two_runs):
    a, b = two_runs
    info = json.loads((a / "run.json").read_text())
    assert info["workers"] == 2 and info["data"]["n_utterances"] == 8
    preds = pd.read_csv(a / "predictions.csv")
    assert sorted(preds["condition"].unique()) == ["clean", "mp3:bitrate_kbps=32", REVERB]
    assert sorted(preds["model"].unique()) == ["macnn", "predict"]
    assert len(preds) == 2 * 3 * 8  # nothing skipped
    toy = preds[preds["model"] == "predict"]
    # the renders differ from clean, so the comparison below sees the rendered audio
    by_cond = toy.pivot(index="utt_id", columns="condition", values="p_angry")
    assert (by_cond["mp3:bitrate_kbps=32"] != by_cond["clean"]).all()
    assert (by_cond[REVERB] != by_cond["clean"]).all()
    files_a, files_b = _csvs(a), _csvs(b)
    assert files_a.keys() == files_b.keys() and "table16_codec_reverb.csv" in files_a
    for name in files_a:
        assert files_a[name] == files_b[name], f"{name} differs between the two processes"


def test_reverb_rows_carry_the_measured_rt60_of_their_room(two_runs):
    import pyroomacoustics.experimental as pe

    import perturbations as P
    from perturbations import _room

    preds = pd.read_csv(two_runs[0] / "predictions.csv", keep_default_na=False, na_values=[""])
    reverb = preds[preds["condition"] == REVERB]
    assert len(reverb) == 16
    assert preds.loc[preds["condition"] != REVERB, "measured_rt60_s"].isna().all()
    p = P.Reverb(0.3)
    rooms = set()
    for row in reverb.itertuples(index=False):
        params = {k.split(".", 1)[1]: v for k, v in json.loads(row.params).items()}
        # the room this utterance's own generator picks, rebuilt here from the seed
        drawn = p.sample_params(P.derive_rng(SEED, row.utt_id, REVERB), SR)
        assert params["room"] == drawn["room"]
        bank = _room.bank_room(0.3, SR, p.bank_seed, drawn["room"])
        assert row.measured_rt60_s == pytest.approx(bank.measured_rt60_s, abs=5e-7)
        assert abs(row.measured_rt60_s / 0.3 - 1) <= _room.TOLERANCE
        # and measured independently from the RIR of the recorded room, at 48 kHz
        rir = p.rir(SR, params)
        assert pe.measure_rt60(rir, SR, decay_db=20) == pytest.approx(row.measured_rt60_s, rel=0.03)
        rooms.add(params["room"])
    assert len(rooms) > 1
    assert np.isfinite(reverb["measured_rt60_s"]).all()
