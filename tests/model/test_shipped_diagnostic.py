"""The speaker-dependent diagnostic shipped under results/checkpoints/ravdess_speaker_dependent/
(`audit train --split utterance`): its sidecar says what it is, it held out every actor's
utterances and trained on the rest of every actor, and, with the RAVDESS copy, the split is
the one the code deals and the held-out accuracy is reproduced from the shipped weights."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from model.checkpoint import sha256_file

_REPO = Path(__file__).resolve().parents[2]
SHIPPED = _REPO / "results" / "checkpoints" / "ravdess_speaker_dependent"
SIDECARS = sorted(SHIPPED.glob("*/fold*.json"))
ACTORS = {f"Actor_{a:02d}" for a in range(1, 25)}


def _ids(p: Path) -> str:
    return f"{p.parent.name}/{p.stem}"


def test_the_folder_holds_what_its_readme_reports():
    assert SIDECARS, f"no fold*.json under {SHIPPED}"
    readme = (SHIPPED / "README.md").read_text()
    for s in SIDECARS:
        wa = json.loads(s.read_text())["final_metrics"]["test_wa"]
        assert f"{100 * wa:.2f} %" in readme, f"{_ids(s)}: held-out WA {100 * wa:.2f} % not in the README"


@pytest.mark.parametrize("sidecar", SIDECARS, ids=_ids)
def test_sidecar_is_a_speaker_dependent_60_epoch_run(sidecar):
    meta = json.loads(sidecar.read_text())
    assert meta["metadata"]["split"] == "utterance"
    assert meta["epochs"] == meta["epochs_requested"] == 60 and not meta["stopped_early"]
    cfg = meta["train_config"]
    assert (cfg["lr"], cfg["weight_decay"], cfg["batch_size"], cfg["seed"]) == (1e-3, 1e-6, 32, 987654)
    assert set(meta["training_speakers"]) == set(meta["metadata"]["test_speakers"]) == ACTORS
    held_out = meta["metadata"]["test_utterances"]
    assert len(held_out) == len(set(held_out)) == meta["final_metrics"]["n_test"] == 240
    assert meta["n_train_utterances"] == 1440 - 240
    # every actor gives 10 of its 60 utterances to the held-out fold (the id's last field is the actor)
    per_actor = Counter(int(u.split("-")[-1]) for u in held_out)
    assert len(per_actor) == 24 and set(per_actor.values()) == {10}
    assert sha256_file(sidecar.with_name(meta["weights_file"])) == meta["weights_sha256"]
    with open(sidecar.with_suffix(".log.csv"), newline="") as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == list(range(1, 61))


@pytest.mark.parametrize("sidecar", SIDECARS, ids=_ids)
def test_split_and_held_out_accuracy_reproduce(sidecar, ravdess_root):
    from audit.data import ProblemLog, load_data, split_fold
    from audit.engine.training import apply_split, held_out_scores

    meta = json.loads(sidecar.read_text())
    df = apply_split(load_data(ravdess_root), "utterance", meta["train_config"]["seed"])
    _, test = split_fold(df, meta["fold"], speaker_dependent=True)
    assert sorted(test["utt_id"]) == meta["metadata"]["test_utterances"]
    wa, ua, n = held_out_scores(sidecar.with_suffix(".safetensors"), test, ProblemLog(), False, meta["classes"])
    assert n == 240
    assert round(wa, 6) == pytest.approx(meta["final_metrics"]["test_wa"], abs=1e-6)
    assert round(ua, 6) == pytest.approx(meta["final_metrics"]["test_ua"], abs=1e-6)
