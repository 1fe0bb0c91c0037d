"""The tuned-recipe trainer: validation and best-epoch selection, schedules, label smoothing,
SpecAugment, speed perturbation, balance weights, resume with validation, recipes."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from model import ModelError, TrainConfig, train_model
from model._schedule import lr_factor
from model._trainset import TrainingSet
from model._validation import unweighted_accuracy
from model.features import FeatureConfig
from model.recipes import build_config, list_recipes
from model.specaugment import apply_masks, mask_plan
from model.speed import change_speed

FAST = dict(model="macnn", aug="none", batch_size=8, progress=False, device="cpu", precision="fp32")
META = {"fold": 0, "training_speakers": ["s1", "s2"], "manifest_hash": "h", "validation_speakers": ["v1"]}


def _log(stem):
    with open(f"{stem}.log.csv", newline="") as f:
        return list(csv.DictReader(f))


def _train_validated(tmp_path, make_tones, name="m", **overrides):
    waves, labels = make_tones(8, seed=1)
    val = make_tones(4, seed=2)
    cfg = TrainConfig(**{**FAST, "epochs": 4, "val_speakers": 1, "select": "best", **overrides})
    weights = train_model(waves, labels, ["high", "low"], cfg, out_stem=tmp_path / name, metadata=META,
                          validation=val)
    return weights, val


def test_best_selection_saves_the_epoch_the_log_names_and_its_score_reproduces(tmp_path, make_tones):
    from model import load_checkpoint

    weights, (vwaves, vlabels) = _train_validated(tmp_path, make_tones, lr=5e-2, bn_recalibrate=True)
    rows = _log(tmp_path / "m")
    ua = [float(r["val_ua"]) for r in rows]
    best = 1 + int(np.argmax(ua))  # the first of equal maxima: a later tie does not replace it
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["validation"]["selected_epoch"] == best and doc["validation"]["val_ua"] == pytest.approx(max(ua))
    # The saved model, loaded as any checkpoint, scores the validation speakers as logged.
    pred = load_checkpoint(weights)
    y_pred = np.array(pred.classes)[pred.predict_proba(vwaves).argmax(1)]
    ua_again = unweighted_accuracy(np.array(vlabels), y_pred)
    assert ua_again == pytest.approx(float(rows[best - 1]["val_ua"]), abs=1e-6)


def test_select_last_keeps_the_last_epoch_even_when_an_earlier_one_validated_better(tmp_path, make_tones):
    _train_validated(tmp_path, make_tones, select="last", lr=5e-2)
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["validation"]["selected_epoch"] == 4


def test_validating_does_not_change_the_training_trajectory(tmp_path, make_tones):
    waves, labels = make_tones(8, seed=1)
    cfg = TrainConfig(**{**FAST, "epochs": 3, "select": "last", "bn_recalibrate": True, "val_speakers": 1,
                         "model_overrides": {"dropout": 0.3}})
    with_val = train_model(waves, labels, ["high", "low"], cfg, out_stem=tmp_path / "a", metadata=META,
                           validation=make_tones(4, seed=2))
    plain = train_model(waves, labels, ["high", "low"], TrainConfig(**{**FAST, "epochs": 3, "bn_recalibrate": True,
                                                                       "model_overrides": {"dropout": 0.3}}),
                        out_stem=tmp_path / "b", metadata=META)
    a, b = load_file(str(with_val)), load_file(str(plain))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_patience_stops_and_the_run_counts_as_finished(tmp_path, make_tones):
    _train_validated(tmp_path, make_tones, epochs=12, patience=1, lr=1e-9)
    rows = _log(tmp_path / "m")
    doc = json.loads((tmp_path / "m.json").read_text())
    assert len(rows) < 12 and doc["validation"]["early_stopped"] and doc["stopped_early"] is False
    assert not (tmp_path / "m.resume.pt").exists()


def test_an_interrupted_validated_run_resumes_to_the_same_weights(tmp_path, make_tones):
    full, _ = _train_validated(tmp_path, make_tones, "full", lr=5e-2, bn_recalibrate=True,
                               specaug_time_width=30, speed_factors=(0.9, 1.0, 1.1), label_smoothing=0.1)
    _train_validated(tmp_path, make_tones, "cut", lr=5e-2, bn_recalibrate=True, specaug_time_width=30,
                     speed_factors=(0.9, 1.0, 1.1), label_smoothing=0.1, time_budget_s=1e-3)
    assert (tmp_path / "cut.resume.pt").exists()
    resumed, _ = _train_validated(tmp_path, make_tones, "cut", lr=5e-2, bn_recalibrate=True,
                                  specaug_time_width=30, speed_factors=(0.9, 1.0, 1.1), label_smoothing=0.1)
    a, b = load_file(str(full)), load_file(str(resumed))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((tmp_path / "cut.json").read_text())["validation"]["selected_epoch"] == \
        json.loads((tmp_path / "full.json").read_text())["validation"]["selected_epoch"]


def test_selection_and_patience_refuse_to_run_without_validation(tmp_path, make_tones):
    waves, labels = make_tones(4)
    with pytest.raises(ModelError, match="val_speakers >= 1"):
        TrainConfig(**FAST, select="best")
    with pytest.raises(ModelError, match="needs validation data"):
        train_model(waves, labels, ["high", "low"], TrainConfig(**FAST, select="best", val_speakers=1),
                    out_stem=tmp_path / "x")


def test_cosine_schedule_with_warmup_is_the_closed_form():
    cfg = TrainConfig(**FAST, epochs=10, schedule="cosine", warmup_epochs=2)
    got = [lr_factor(e, cfg) for e in range(10)]
    want = [0.5, 1.0] + [0.5 * (1 + math.cos(math.pi * (e - 2) / 8)) for e in range(2, 10)]
    assert got == pytest.approx(want)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    from model._schedule import build_scheduler

    sched = build_scheduler(opt, cfg)
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.1 * w for w in want])


def test_label_smoothing_loss_equals_torch_cross_entropy():
    from model._epoch import _soft_cross_entropy

    logits = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    eps = 0.1
    target = torch.nn.functional.one_hot(y, 4).float() * (1 - eps) + eps / 4
    ref = torch.nn.functional.cross_entropy(logits, y, label_smoothing=eps)
    assert _soft_cross_entropy(logits, target).item() == pytest.approx(ref.item(), rel=1e-6)
    w = torch.tensor([1.0, 2.0, 0.5, 1.0, 1.5, 0.0])
    ref_w = (torch.nn.functional.cross_entropy(logits, y, label_smoothing=eps, reduction="none") * w).mean()
    assert _soft_cross_entropy(logits, target, w).item() == pytest.approx(ref_w.item(), rel=1e-6)


def test_specaugment_masks_depend_on_the_segment_not_the_batch():
    plan = mask_plan(7, 3, 10, 39, 200, freq_width=8, freq_masks=2, time_width=20, time_masks=2)
    again = mask_plan(7, 3, 10, 39, 200, freq_width=8, freq_masks=2, time_width=20, time_masks=2)
    assert np.array_equal(plan.freq, again.freq) and np.array_equal(plan.time, again.time)
    other = mask_plan(7, 4, 10, 39, 200, freq_width=8, freq_masks=2, time_width=20, time_masks=2)
    assert not np.array_equal(plan.time, other.time)
    x = torch.randn(10, 1, 39, 200)
    whole = apply_masks(x, plan, np.arange(10))
    pieces = torch.cat([apply_masks(x[[3, 7]], plan, np.array([3, 7])), apply_masks(x[[0]], plan, np.array([0]))])
    assert torch.equal(pieces, whole[[3, 7, 0]])
    # Each masked band is where the plan says, and nothing else is touched.
    (f0, fw), (t0, tw) = plan.freq[5, 0], plan.time[5, 0]
    assert torch.all(whole[5, 0, f0:f0 + fw] == 0) and torch.all(whole[5, 0, :, t0:t0 + tw] == 0)
    keep = torch.ones(39, 200, dtype=torch.bool)
    for s, w in plan.freq[5]:
        keep[s:s + w] = False
    for s, w in plan.time[5]:
        keep[:, s:s + w] = False
    assert torch.equal(whole[5, 0][keep], x[5, 0][keep])
    assert all(w <= 8 for _, w in plan.freq.reshape(-1, 2)) and all(w <= 20 for _, w in plan.time.reshape(-1, 2))


def test_speed_perturbation_changes_length_and_pitch_by_the_factor():
    sr = 16000
    t = np.arange(sr) / sr
    tone = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    for factor in (0.9, 1.1):
        out = change_speed(tone, factor, sr)
        assert abs(len(out) - len(tone) / factor) <= 1
        spectrum = np.abs(np.fft.rfft(out * np.hanning(len(out))))
        peak_hz = np.argmax(spectrum) * sr / len(out)
        assert peak_hz == pytest.approx(440 * factor, abs=2)
    assert np.array_equal(change_speed(tone, 1.0, sr), tone)


def test_speed_factor_draws_are_per_utterance_and_epoch(make_tones):
    waves, labels = make_tones(6)
    cfg = TrainConfig(**FAST, speed_factors=(0.9, 1.0, 1.1), seed=3)
    ts = TrainingSet(waves, [0, 1] * 3, FeatureConfig(), cfg)
    a, b = ts.epoch(2), TrainingSet(waves, [0, 1] * 3, FeatureConfig(), cfg).epoch(2)
    assert torch.equal(a.x, b.x) and set(a.stats) <= {"speed_0.9", "speed_1", "speed_1.1"}
    assert sum(a.stats.values()) == pytest.approx(1.0)
    factors = [ts._factors(e) for e in range(8)]
    assert len({tuple(f) for f in factors}) > 1  # epochs differ


def test_balance_weights_give_every_cell_the_same_total(make_tones):
    waves, labels = make_tones(8)
    cells = [0, 0, 0, 1, 1, 2, 2, 2]
    ts = TrainingSet(waves, [0, 1] * 4, FeatureConfig(), TrainConfig(**FAST, balance="gender"), cells=cells)
    ep = ts.epoch(0)
    seg_cells = np.concatenate([np.full(s.shape[0], c) for s, c in zip(ts.segments(1.0), cells)])
    totals = [float(ep.weight[torch.as_tensor(seg_cells == c)].sum()) for c in range(3)]
    assert totals == pytest.approx([totals[0]] * 3) and float(ep.weight.mean()) == pytest.approx(1.0)


def test_paper_recipe_reproduces_every_shipped_checkpoint_config():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "results" / "checkpoints" / "ravdess"
    for name in ("macnn", "macnn_icasa", "ifn"):
        for sidecar in sorted((root / name).glob("fold*.json")):
            shipped = json.loads(sidecar.read_text())["train_config"]
            cfg = build_config("paper", model=shipped["model"], aug=shipped["aug"], seed=shipped["seed"],
                               device=shipped["device"], precision=shipped["precision"])
            assert cfg.to_dict() == shipped, sidecar


def test_recipes_are_named_and_an_unknown_one_is_a_clear_error():
    assert list_recipes()[0] == "paper" and "tuned" in list_recipes()
    tuned = build_config("tuned")
    assert tuned.val_speakers == 2 and tuned.select == "last" and tuned.bn_recalibrate
    assert build_config("regularised").select == "best"
    assert build_config("tuned", val_speakers=0, select="last").val_speakers == 0
    with pytest.raises(ModelError, match="unknown recipe 'fast'"):
        build_config("fast")


def test_trimming_keeps_the_loud_span_with_its_margin_in_every_feature_path():
    from model.features import MFCCExtractor, fit_stats, speech_span, utterance_segments

    sr = 16000
    x = np.zeros(4 * sr, np.float32)
    x[sr:3 * sr] = 0.3 * np.sin(2 * np.pi * 300 * np.arange(2 * sr) / sr)
    cfg = FeatureConfig(trim_db=40)
    # Frame k's 400-sample window is centred on sample 160 k: frames 99..301 touch the tone.
    assert speech_span(torch.from_numpy(x), cfg) == (99 - 10, 302 + 10)
    assert speech_span(torch.from_numpy(x), FeatureConfig()) == (0, 401)
    ((_, trimmed),) = utterance_segments([x], MFCCExtractor(cfg), 100)
    full = MFCCExtractor(FeatureConfig())(torch.from_numpy(x))
    assert torch.allclose(trimmed[0, 0], full[:, 89:289])
    stats = fit_stats([x], MFCCExtractor(cfg))
    assert stats.mean == pytest.approx(tuple(full[:, 89:312].double().mean(dim=1).tolist()))
    assert "trim_db" not in FeatureConfig().to_dict() and cfg.to_dict()["trim_db"] == 40
    with pytest.raises(ModelError, match="trim_db=5"):
        FeatureConfig(trim_db=5)


def test_the_tuned_recipe_is_the_candidate_the_committed_search_chose():
    """``tuned`` is the finished candidate of results/recipe_search with the highest mean
    final-epoch validation UA (read here from its epoch logs, not from the search's own table),
    with its overrides on ``regularised`` (what the search ran), less the search's validation
    count, and the last epoch kept."""
    import csv
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "results" / "recipe_search"
    if not (root / "search.csv").exists():
        pytest.skip("no committed recipe search")
    rows = [r for r in csv.DictReader((root / "search.csv").open()) if r["finished"] == "True"]
    last: dict[str, list[float]] = {}
    for r in rows:
        log = list(csv.DictReader((root / r["candidate"] / f"fold{r['fold']}.log.csv").open()))
        assert len(log) == int(r["epochs"])
        last.setdefault(r["candidate"], []).append(float(log[-1]["val_ua"]))
    means = {c: sum(v) / len(v) for c, v in last.items() if len(v) == 2}
    best = max(means, key=means.get)
    overrides = json.loads(next(r["overrides"] for r in rows if r["candidate"] == best))
    overrides.pop("val_speakers")
    searched = build_config("regularised", **overrides, select="last").to_dict()
    tuned = build_config("tuned").to_dict()
    assert {k: v for k, v in searched.items() if k != "recipe"} == {k: v for k, v in tuned.items() if k != "recipe"}
