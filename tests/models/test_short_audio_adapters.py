"""Issue 33, defect 1 for the waveform adapters: an ``hf:`` or ``speechbrain:`` model states the
shortest utterance it accepts (measured on the model), refuses shorter ones with one clear
line, and the engine skips such a file for every model of the run with its reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audit.errors import AuditError
from audit.models import load_model

from _hf_helpers import tiny_speechbrain, tiny_wav2vec2


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def _receptive_field(kernels, strides) -> int:
    """Closed form: the input samples one output frame of a stack of strided convolutions needs."""
    field, step = 1, 1
    for k, s in zip(kernels, strides):
        field += (k - 1) * step
        step *= s
    return field


@pytest.mark.parametrize("rate", [16000, 8000])
def test_hf_minimum_is_the_conv_front_end_receptive_field(tmp_path, rate):
    pytest.importorskip("transformers")
    folder = tiny_wav2vec2(tmp_path / "w2v2", sampling_rate=rate)
    pred = load_model(f"hf:{folder}").predictors[None]
    at_model_rate = _receptive_field((10, 8, 8), (5, 8, 8))  # the tiny model's conv stack: 325
    # the 16 kHz length whose resampled length (ceil(n * rate / 16000)) reaches it
    want = next(n for n in range(1, 2000) if -(-n * rate // 16000) >= at_model_rate)
    assert pred.min_samples == want
    assert np.isfinite(pred.predict_proba([_noise(want)])).all()
    with pytest.raises(AuditError, match=rf"waveform 0: {want - 1} samples at 16 kHz, too short "
                                         rf"for {folder.name}.*at least {want}"):
        pred.predict_proba([_noise(want - 1)])


def test_speechbrain_minimum_is_where_the_library_stops_failing(tmp_path):
    pytest.importorskip("speechbrain")
    import torch
    from speechbrain.inference.classifiers import EncoderClassifier

    folder = tiny_speechbrain(tmp_path / "sb")
    pred = load_model(f"speechbrain:{folder}").predictors[None]
    m = pred.min_samples
    sb = EncoderClassifier.from_hparams(source=str(folder), savedir=None,
                                        overrides={"pretrained_path": str(folder)})
    sb.hparams.label_encoder.ignore_len()
    with torch.no_grad():
        sb.classify_batch(torch.from_numpy(_noise(m))[None])  # the library accepts m samples
        with pytest.raises(RuntimeError):  # and fails on one fewer (TDNN reflect padding)
            sb.classify_batch(torch.from_numpy(_noise(m - 1))[None])
    assert np.isfinite(pred.predict_proba([_noise(m)])).all()
    with pytest.raises(AuditError, match="too short"):
        pred.predict_proba([_noise(m - 1)])


def test_engine_skips_a_file_too_short_for_one_model_for_all_of_them(tmp_path):
    """300 samples suit an MFCC network (>= 257) but not the tiny wav2vec2 (>= 325): the file
    is left out for both models, so they are compared on the same utterances."""
    pytest.importorskip("transformers")
    import torch

    from audit.data import ProblemLog
    from audit.engine import evaluate
    from model import FeatureConfig, create_model
    from model.checkpoint import save_checkpoint

    classes = ["angry", "happy", "neutral", "sad"]
    torch.manual_seed(0)
    net = create_model("macnn", 4, n_heads=1, hidden=4).eval()
    save_checkpoint(tmp_path / "macnn", net, {"name": "macnn", "classes": classes,
                                              "feature_config": FeatureConfig().to_dict()})
    rows = []
    for i, n in enumerate((300, 4000, 5000, 6000)):
        path = tmp_path / f"u{i}.wav"
        sf.write(str(path), _noise(n, seed=i), 16000, subtype="PCM_16")
        rows.append(dict(utt_id=f"u{i}", path=str(path), speaker=f"s{i % 2}",
                         gender=("female", "male")[i % 2], emotion=classes[i]))
    models = [load_model(tmp_path / "macnn.json"), load_model(f"hf:{tiny_wav2vec2(tmp_path / 'w')}")]
    problems = ProblemLog()
    preds = evaluate(pd.DataFrame(rows), models, ["awgn:snr_db=10"], seed=0, problems=problems)
    assert sorted(set(preds["utt_id"])) == ["u1", "u2", "u3"]
    assert len(preds) == 3 * 2 * 2  # 3 utterances x 2 conditions x 2 models
    (row,) = problems.rows
    assert row["utt_id"] == "u0" and row["stage"] == "predict" and row["model"] == "w"
    assert "300 samples at 16 kHz" in row["problem"] and "at least 325" in row["problem"]


def test_a_predictor_without_min_samples_falls_back_on_its_feature_config(tmp_path):
    """A wrapper that states no minimum (e.g. a seed ensemble of checkpoints) is judged by its
    feature config; one with neither (an entry point) gets every length."""
    from types import SimpleNamespace

    from audit.data import ProblemLog
    from audit.engine._length import drop_too_short
    from model import FeatureConfig

    rows = []
    for i, n in enumerate((256, 257)):
        path = tmp_path / f"u{i}.wav"
        sf.write(str(path), _noise(n), 16000, subtype="PCM_16")
        rows.append(SimpleNamespace(utt_id=f"u{i}", path=str(path)))
    wrapper = SimpleNamespace(name="ens", predictors={None: SimpleNamespace(feature_config=FeatureConfig())})
    entry = SimpleNamespace(name="fn", predictors={None: SimpleNamespace(feature_config=None)})
    pick = lambda ms, row: (ms.predictors[None], None)  # noqa: E731
    problems = ProblemLog()
    assert [r.utt_id for r in drop_too_short(rows, [wrapper], pick, problems)] == ["u1"]
    assert [r["model"] for r in problems.rows] == ["ens"]
    assert [r.utt_id for r in drop_too_short(rows, [entry], pick, ProblemLog())] == ["u0", "u1"]
