"""``speechbrain:FOLDER`` models: classify_batch's posteriors, both folder layouts, clear errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("speechbrain")

from audit.errors import AuditError  # noqa: E402
from audit.models import load_model  # noqa: E402

from _hf_helpers import tiny_speechbrain, tiny_speechbrain_custom, voices  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tiny_speechbrain(tmp_path_factory.mktemp("sb") / "tiny-xvector-ser")


def _library_probs(interface_cls, folder, wave):
    """What SpeechBrain itself says: exp of classify_batch's log-posteriors, label order.

    Its StatisticsPooling adds seeded-by-nobody noise to the mean; seed 0 is what the adapter uses.
    """
    import torch

    sb = interface_cls.from_hparams(source=str(folder), savedir=None,
                                    overrides={"pretrained_path": str(folder)})
    sb.hparams.label_encoder.ignore_len()
    torch.manual_seed(0)
    with torch.no_grad():
        logp = sb.classify_batch(torch.from_numpy(wave)[None])[0].reshape(-1)
    labels = [sb.hparams.label_encoder.ind2lab[j] for j in range(len(logp))]
    return dict(zip(labels, torch.exp(logp).numpy().tolist()))


CANON = {"ang": "angry", "hap": "happy", "neu": "neutral", "sad": "sad"}


def test_predictions_equal_speechbrain_classify_batch(folder):
    from speechbrain.inference.classifiers import EncoderClassifier

    ms = load_model(f"speechbrain:{folder}")
    assert ms.kind == "speechbrain" and ms.classes == ["angry", "happy", "neutral", "sad"]
    waves = voices(3, lengths=(4000, 9000, 16000))
    got = ms.predictors[None].predict_proba(waves)
    want = np.array([[_library_probs(EncoderClassifier, folder, w)[lab] for lab in CANON]
                     for w in waves])
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.ptp(want, axis=0).max() > 1e-3
    assert sorted(p.name for p in folder.iterdir()) == [
        "classifier.ckpt", "embedding_model.ckpt", "hyperparams.yaml", "label_encoder.txt"]


def test_predictions_are_reproducible_and_leave_the_global_rng_alone(folder):
    import torch

    pred = load_model(f"speechbrain:{folder}").predictors[None]
    waves = voices(2, seed=8)
    torch.manual_seed(123)
    first = pred.predict_proba(waves)
    drawn_after = torch.rand(1)
    torch.manual_seed(456)  # another caller state: the same predictions, in any order
    np.testing.assert_array_equal(pred.predict_proba(list(reversed(waves)))[::-1], first)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(1), drawn_after)  # predicting did not move the global RNG


def test_custom_interface_layout_and_label_order(tmp_path):
    folder = tiny_speechbrain_custom(tmp_path / "iemocap-like")
    ms = load_model(f"speechbrain:{folder}")
    pred = ms.predictors[None]
    assert pred.meta["interface"] == "TinyEmotionClassifier"
    assert ms.classes == ["neutral", "angry", "happy", "sad"]  # the label encoder's order
    from speechbrain.inference.interfaces import Pretrained

    cls = next(c for c in Pretrained.__subclasses__() if c.__name__ == "TinyEmotionClassifier")
    wave = voices(1, seed=4, lengths=(12000,))[0]
    lib = _library_probs(cls, folder, wave)
    np.testing.assert_allclose(pred.predict_proba([wave])[0],
                               [lib[k] for k in ("neu", "ang", "hap", "sad")], atol=1e-5)


def test_long_utterance_is_the_mean_of_its_windows(folder):
    from speechbrain.inference.classifiers import EncoderClassifier

    from audit.models._speechbrain import load_speechbrain

    pred = load_speechbrain(str(folder), window_s=0.5, hop_s=0.5)
    wave = voices(1, seed=6, lengths=(17000,))[0]  # windows at 0, 8000 and the end, 9000
    want = np.mean([[_library_probs(EncoderClassifier, folder, wave[s:s + 8000])[lab] for lab in CANON]
                    for s in (0, 8000, 9000)], axis=0)
    np.testing.assert_allclose(pred.predict_proba([wave])[0], want, atol=1e-5)


def test_missing_pieces_are_one_clear_line(folder, tmp_path):
    noyaml = tmp_path / "noyaml"
    shutil.copytree(folder, noyaml)
    (noyaml / "hyperparams.yaml").unlink()
    with pytest.raises(AuditError, match="no hyperparams.yaml in this folder"):
        load_model(f"speechbrain:{noyaml}")
    noweights = tmp_path / "noweights"
    shutil.copytree(folder, noweights)
    for p in noweights.glob("*.ckpt"):
        p.unlink()
    with pytest.raises(AuditError, match=r"no weights \(\*.ckpt files\)"):
        load_model(f"speechbrain:{noweights}")
    with pytest.raises(AuditError, match="speechbrain:speechbrain/emotion-recognition-wav2vec2-IEMOCAP: "
                                         "no such folder.*download it first"):
        load_model("speechbrain:speechbrain/emotion-recognition-wav2vec2-IEMOCAP")


def test_a_file_on_the_hub_is_refused_not_fetched(folder, tmp_path):
    hub = tmp_path / "hubref"
    shutil.copytree(folder, hub)
    yaml = (hub / "hyperparams.yaml").read_text()
    (hub / "hyperparams.yaml").write_text(yaml.replace(
        "classifier: !ref <pretrained_path>/classifier.ckpt",
        "classifier: speechbrain/some-other-model/classifier.ckpt"))
    (hub / "classifier.ckpt").unlink()
    with pytest.raises(AuditError, match="cannot load the model .*every file it names must be in the folder") as err:
        load_model(f"speechbrain:{hub}")
    assert "\n" not in str(err.value)


def test_unmapped_label_is_one_clear_error(tmp_path):
    folder = tiny_speechbrain(tmp_path / "odd", labels=["ang", "hap", "neu", "xyz"])
    with pytest.raises(AuditError, match="class 3 'xyz' is not an emotion name"):
        load_model(f"speechbrain:{folder}")


@pytest.mark.skipif(not __import__("model.precision").precision.cpu_has_native_bf16(),
                    reason="this CPU has no native bf16")
def test_bf16_is_close_to_fp32(folder):
    fp32 = load_model(f"speechbrain:{folder}").predictors[None]
    bf16 = load_model(f"speechbrain:{folder}", precision="bf16").predictors[None]
    waves = voices(2)
    a, b = fp32.predict_proba(waves), bf16.predict_proba(waves)
    assert bf16.precision == "bf16" and not np.array_equal(a, b)
    np.testing.assert_allclose(a, b, atol=0.05)
