"""How the engine fills the network's batches: fold by fold, and conditions sharing batches.

Every (model, fold) group of a batch of utterances is predicted together, and only the last
forward of a run of segments is padded with zeros. Two things keep that padding small: the
engine's batches take the utterances fold by fold (in plain ``utt_id`` order RAVDESS's six
folds were mixed in every batch, and 17 % of the forwarded rows were padding), and the
conditions of one load of audio share one stream of segments per model, so one padded forward
per model and load remains, not one per condition. Neither changes a prediction.
"""

from __future__ import annotations

import pandas as pd
import pytest

from _engine_helpers import save_untrained
from audit.engine import evaluate
from audit.models import load_models

CONDITIONS = ["awgn:snr_db=10", "awgn:snr_db=0"]


@pytest.fixture(scope="module")
def interleaved(tmp_path_factory, manifest):
    """The 16-utterance corpus with folds alternating by speaker (spk01 fold 1, spk02 fold 0,
    ...: in utt_id order the folds interleave) and fold checkpoints to match."""
    root = tmp_path_factory.mktemp("interleaved")
    man = manifest.copy()
    man["fold"] = [int(s[-2:]) % 2 for s in man["speaker"]]
    for k in (0, 1):
        train = man.loc[man["fold"] != k, "speaker"].unique()
        save_untrained(root / "macnn" / f"fold{k}", fold=k, seed=40 + k, train_speakers=train)
    return man, root / "macnn"


def test_batches_take_the_utterances_fold_by_fold(interleaved, monkeypatch):
    import audit.engine.runner as runner

    man, ckpt = interleaved
    seen = []
    real = runner._compute_batch

    def spy(batch, todo, **kw):
        seen.append(sorted({int(r.fold) for r in batch}))
        return real(batch, todo, **kw)

    monkeypatch.setattr(runner, "_compute_batch", spy)
    by_fold = evaluate(man, load_models([str(ckpt)]), [], seed=1, batch_size=8, workers=1)
    assert seen == [[0], [1]]
    monkeypatch.setattr(runner, "_compute_batch", real)
    plain = evaluate(man, load_models([str(ckpt)]), [], seed=1, batch_size=3, workers=1)
    pd.testing.assert_frame_equal(by_fold, plain, check_exact=True)
    assert by_fold["utt_id"].tolist() == sorted(man["utt_id"])  # the output keeps utt_id order


def test_the_conditions_of_a_load_share_one_padded_forward_per_model(interleaved):
    man, ckpt = interleaved
    model_set = load_models([str(ckpt)])[0]
    padded: dict[int, int] = {0: 0, 1: 0}
    forwards: dict[int, int] = {0: 0, 1: 0}

    def hook(fold):
        def count(module, args):
            x = args[0]
            forwards[fold] += 1
            # padding rows are exact zeros; a real segment never is
            padded[fold] += int((x.flatten(1) == 0).all(dim=1).any())
        return count

    for fold, pred in model_set.predictors.items():
        pred.model.register_forward_pre_hook(hook(fold))
    out = evaluate(man, [model_set], CONDITIONS, seed=1, batch_size=16, workers=1)
    assert len(out) == 16 * 3
    # one batch of 16 utterances = one load; per fold model: 3 conditions, one padded forward
    assert padded == {0: 1, 1: 1} and min(forwards.values()) > 3
    # the same bits as each utterance rendered and predicted on its own (one padded call each)
    from audit.data import load_audio
    from audit.engine.conditions import RenderItem, parse_conditions, render_item

    fresh = load_models([str(ckpt)])[0]
    perts = dict(parse_conditions(CONDITIONS))
    cols = [f"p_{c}" for c in fresh.classes]
    for row in out.sample(12, random_state=0).itertuples(index=False):
        path = man.loc[man["utt_id"] == row.utt_id, "path"].iloc[0]
        wav, sr = load_audio(path)
        item = RenderItem(row.utt_id, wav, sr, {"utt_id": row.utt_id, "speaker": row.speaker})
        rendered = render_item(perts[row.condition], row.condition, 1, item)
        alone = fresh.predictors[row.fold].predict_proba([rendered.waveform]).astype("float32")[0]
        got = out.loc[(out["utt_id"] == row.utt_id) & (out["condition"] == row.condition), cols]
        assert got.to_numpy(dtype="float32")[0].tobytes() == alone.tobytes()
