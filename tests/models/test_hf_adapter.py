"""``hf:FOLDER`` models: the library pipeline's numbers, class mapping, windows, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("transformers")

from audit.errors import AuditError  # noqa: E402
from audit.models import load_model  # noqa: E402

from _hf_helpers import tiny_wav2vec2, voices  # noqa: E402

CANON = {"ang": "angry", "hap": "happy", "neu": "neutral", "sad": "sad"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_wav2vec2(tmp_path_factory.mktemp("hf") / "tiny-w2v2-ser")


@pytest.fixture(scope="module")
def pipe(folder):
    from transformers import pipeline

    return pipeline("audio-classification", model=str(folder), top_k=None)


def _pipeline_probs(pipe, wave, classes, sampling_rate=None):
    """The pipeline's scores as a vector in ``classes`` order (labels mapped to emotion names)."""
    arg = wave if sampling_rate is None else {"raw": wave, "sampling_rate": sampling_rate}
    scores = {CANON[r["label"]]: r["score"] for r in pipe(arg)}
    return np.array([scores[c] for c in classes])


def test_predictions_equal_the_transformers_pipeline(folder, pipe):
    ms = load_model(f"hf:{folder}")
    assert ms.kind == "huggingface" and ms.classes == ["angry", "happy", "neutral", "sad"]
    waves = voices(3, lengths=(4000, 9000, 16000))
    got = ms.predictors[None].predict_proba(waves)
    want = np.stack([_pipeline_probs(pipe, w, ms.classes) for w in waves])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.ptp(want, axis=0).max() > 1e-3  # the inputs are told apart: the check has teeth


def test_long_utterance_is_the_mean_of_its_windows(folder, pipe):
    from audit.models._hf import load_hf

    pred = load_hf(str(folder), window_s=0.5, hop_s=0.25)  # 8000-sample windows every 4000
    wave = voices(1, seed=3, lengths=(20800,))[0]
    # the grid 0, 4000, 8000, 12000 leaves 20000..20800 uncovered: one more window at the end
    want = np.mean([_pipeline_probs(pipe, wave[s:s + 8000], pred.classes)
                    for s in (0, 4000, 8000, 12000, 12800)], axis=0)
    np.testing.assert_allclose(pred.predict_proba([wave])[0], want, atol=1e-5)
    whole = _pipeline_probs(pipe, wave, pred.classes)
    assert np.abs(whole - want).max() > 1e-4  # windowing is visible in the result


def test_an_utterance_does_not_depend_on_its_batch_partners(folder):
    pred = load_model(f"hf:{folder}").predictors[None]
    waves = voices(3, seed=5, lengths=(5000, 12000, 7000))
    together = pred.predict_proba(waves)
    alone = np.concatenate([pred.predict_proba([w]) for w in waves])
    np.testing.assert_array_equal(together, alone)


def test_resamples_to_the_extractor_rate(tmp_path):
    from transformers import pipeline

    folder = tiny_wav2vec2(tmp_path / "m8k", sampling_rate=8000)
    pred = load_model(f"hf:{folder}").predictors[None]
    assert pred.feature_config.sample_rate == 8000
    wave = voices(1, seed=2, lengths=(12000,))[0]  # 16 kHz, as the engine passes it
    p8 = pipeline("audio-classification", model=str(folder), top_k=None)
    want = _pipeline_probs(p8, wave, pred.classes, sampling_rate=16000)
    np.testing.assert_allclose(pred.predict_proba([wave])[0], want, atol=1e-5)


def _relabel(src, dest, labels):
    import shutil

    shutil.copytree(src, dest)
    cfg = json.loads((dest / "config.json").read_text())
    cfg["id2label"] = {str(i): name for i, name in enumerate(labels)}
    cfg["label2id"] = {name: i for i, name in enumerate(labels)}
    (dest / "config.json").write_text(json.dumps(cfg))
    return dest


def test_class_order_follows_id2label(folder, tmp_path):
    swapped = _relabel(folder, tmp_path / "swapped", ["sad", "neu", "hap", "ang"])
    a = load_model(f"hf:{folder}").predictors[None]
    b = load_model(f"hf:{swapped}").predictors[None]
    assert b.classes == ["sad", "neutral", "happy", "angry"]
    w = voices(2)
    # same weights, other names: column j is the same number, it just means another emotion
    np.testing.assert_array_equal(a.predict_proba(w), b.predict_proba(w))
    assert a.sha256 != b.sha256  # the class names are part of the cache identity


@pytest.mark.parametrize("labels, message", [
    (["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"], "class 0 'LABEL_0' is a placeholder name"),
    (["ang", "hap", "neu", "other"], "class 3 'other' is not an emotion name"),
    (["ang", "hap", "happy", "sad"], "give 'happy' twice"),
])
def test_unmapped_or_ambiguous_classes_are_one_clear_error(folder, tmp_path, labels, message):
    bad = _relabel(folder, tmp_path / "bad", labels)
    with pytest.raises(AuditError, match=message):
        load_model(f"hf:{bad}")


def test_classes_option_names_the_outputs(folder, tmp_path):
    bad = _relabel(folder, tmp_path / "placeholder", ["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3"])
    ms = load_model(f"hf:{bad}", classes=["Anger", "joy", "neutral", "sad"])
    assert ms.classes == ["angry", "happy", "neutral", "sad"]
    with pytest.raises(AuditError, match="--classes names 3 classes but the model has 4 outputs"):
        load_model(f"hf:{bad}", classes=["angry", "happy", "sad"])


def test_a_hub_name_is_refused_not_downloaded():
    with pytest.raises(AuditError, match=r"hf:facebook/wav2vec2-base: no such folder .*"
                                         r"download it first, e.g. `hf download facebook/wav2vec2-base"):
        load_model("hf:facebook/wav2vec2-base")


def test_folder_without_weights(folder, tmp_path):
    import shutil

    empty = tmp_path / "noweights"
    empty.mkdir()
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy(folder / name, empty / name)
    with pytest.raises(AuditError, match="no weights in this folder") as err:
        load_model(f"hf:{empty}")
    assert "\n" not in str(err.value)


def test_a_config_for_another_task(tmp_path):
    import torch
    from transformers import (BertConfig, BertModel, Wav2Vec2Config, Wav2Vec2FeatureExtractor,
                              Wav2Vec2ForCTC)

    torch.manual_seed(0)
    ctc = tmp_path / "ctc"
    Wav2Vec2ForCTC(Wav2Vec2Config(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8), num_conv_pos_embeddings=8,
        num_conv_pos_embedding_groups=2, vocab_size=10)).save_pretrained(ctc)
    Wav2Vec2FeatureExtractor().save_pretrained(ctc)
    with pytest.raises(AuditError, match="the weights lack .* classifier.*Wav2Vec2ForCTC, not a "
                                         "fine-tuned audio-classification model"):
        load_model(f"hf:{ctc}")  # loading it anyway would score with a random head
    text = tmp_path / "bert"
    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=32, vocab_size=20)).save_pretrained(text)
    with pytest.raises(AuditError, match="config.json is a BertConfig .*not an audio-classification"):
        load_model(f"hf:{text}")


def test_regression_head_is_refused(folder, tmp_path):
    import shutil

    reg = tmp_path / "reg"
    shutil.copytree(folder, reg)
    cfg = json.loads((reg / "config.json").read_text())
    cfg["problem_type"] = "regression"
    (reg / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(AuditError, match="problem_type is 'regression'"):
        load_model(f"hf:{reg}")


def test_sha256_hashes_the_weights(folder, tmp_path):
    other = tiny_wav2vec2(tmp_path / "seed1", seed=1)
    a = load_model(f"hf:{folder}").predictors[None].sha256
    assert a == load_model(f"hf:{folder}").predictors[None].sha256
    assert a != load_model(f"hf:{other}").predictors[None].sha256


def test_default_precision_is_fp32(folder):
    pred = load_model(f"hf:{folder}").predictors[None]
    assert pred.precision == "fp32"
    assert load_model(f"hf:{folder}").describe()["checkpoints"]["all"]["precision"] == "fp32"


def test_bf16_without_native_support_is_one_clear_line(folder, monkeypatch):
    import model.precision as prec

    monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: False)
    with pytest.raises(AuditError, match=r"^hf:.*: precision=bf16: this CPU has no native bfloat16"):
        load_model(f"hf:{folder}", precision="bf16", device="cpu")


@pytest.mark.skipif(not __import__("model.precision").precision.cpu_has_native_bf16(),
                    reason="this CPU has no native bf16")
def test_bf16_is_close_to_fp32_and_cached_apart(folder):
    from audit.models import feature_key

    fp32 = load_model(f"hf:{folder}").predictors[None]
    bf16 = load_model(f"hf:{folder}", precision="bf16").predictors[None]
    assert bf16.precision == "bf16" and feature_key(bf16) != feature_key(fp32)
    waves = voices(3)
    a, b = fp32.predict_proba(waves), bf16.predict_proba(waves)
    assert not np.array_equal(a, b)  # autocast really ran
    # Bounded per kernel family. ATen's own bf16 kernels (oneDNN off) round the inputs of each
    # matmul/conv to bf16 and accumulate in fp32: on this model the largest difference was
    # 0.0011 on an AVX512-BF16 AMD EPYC and 0.001 on an AMX Intel Xeon; bound 0.005 on any CPU.
    import torch

    with torch.backends.mkldnn.flags(enabled=False):
        aten = bf16.predict_proba(waves)
    assert not np.array_equal(a, aten)
    np.testing.assert_allclose(aten, a, atol=0.005)
    # With oneDNN on an AVX512-BF16 CPU the difference is the same (0.0011); on an AMX CPU oneDNN
    # runs its AMX kernels and the largest difference was 0.094: bound 0.1 there only.
    np.testing.assert_allclose(b, a, atol=0.1 if _has_amx() else 0.005)


def _has_amx() -> bool:
    try:
        flags = next(line for line in open("/proc/cpuinfo") if line.startswith("flags"))
    except (OSError, StopIteration):
        return True  # unknown CPU: the wider, measured bound
    return "amx_bf16" in flags.split()


@pytest.mark.gpu
def test_cuda_matches_cpu(folder):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    waves = voices(3, lengths=(4000, 9000, 200000))  # the last one in windows
    cpu = load_model(f"hf:{folder}").predictors[None].predict_proba(waves)
    gpu = load_model(f"hf:{folder}", device="cuda").predictors[None].predict_proba(waves)
    np.testing.assert_allclose(gpu, cpu, atol=1e-4)


def test_weights_saved_in_fp16_run_in_fp32(folder, tmp_path):
    import torch
    from transformers import AutoModelForAudioClassification, pipeline

    half = tmp_path / "half"
    AutoModelForAudioClassification.from_pretrained(folder, dtype=torch.float16).save_pretrained(half)
    (half / "preprocessor_config.json").write_bytes((folder / "preprocessor_config.json").read_bytes())
    pred = load_model(f"hf:{half}").predictors[None]
    ref = pipeline("audio-classification", model=str(half), top_k=None, dtype=torch.float32)
    waves = voices(2)
    want = np.stack([_pipeline_probs(ref, w, pred.classes) for w in waves])
    np.testing.assert_allclose(pred.predict_proba(waves), want, atol=1e-5)
