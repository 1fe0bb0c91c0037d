"""Label maps: built-in corpus maps, synonyms, TOML maps, projection, and their errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit.data import CORPUS_EMOTIONS, list_label_maps, load_label_map
from audit.errors import AuditError

RAVDESS = ["angry", "calm", "disgust", "fearful", "happy", "neutral", "sad", "surprised"]
EMODB = ["angry", "boredom", "disgust", "fearful", "happy", "neutral", "sad"]


def _toml(tmp_path, text: str):
    path = tmp_path / "map.toml"
    path.write_text(text)
    return load_label_map(str(path))


def test_builtin_ravdess_emodb_maps_shared_and_lists_dropped():
    m = load_label_map("ravdess-emodb").resolve(RAVDESS, EMODB)
    assert m.shared == ("angry", "disgust", "fearful", "happy", "neutral", "sad")
    assert m.dropped_model == ("calm", "surprised") and m.dropped_data == ("boredom",)
    assert m.model_to_shared == {c: c for c in m.shared} == m.data_to_shared


def test_every_builtin_pair_resolves_on_the_corpora_label_sets():
    names = [n for n in list_label_maps() if n != "synonyms"]
    assert len(names) == 20
    for name in names:
        src, dst = name.split("-")
        m = load_label_map(name).resolve(CORPUS_EMOTIONS[src], CORPUS_EMOTIONS[dst])
        assert set(m.shared) <= set(CORPUS_EMOTIONS[dst]) and len(m.shared) >= 4
        # every label of either side is either mapped or reported dropped
        assert set(m.model_to_shared) | set(m.dropped_model) == set(CORPUS_EMOTIONS[src])
        assert set(m.data_to_shared) | set(m.dropped_data) == set(CORPUS_EMOTIONS[dst])


def test_renamed_model_classes_map_through_synonyms_and_keep_column_order():
    # an outside model with IEMOCAP-style short names, in its own column order
    m = load_label_map("synonyms").resolve(["sad", "neu", "hap", "ang"], ["angry", "happy", "neutral", "sad", "calm"])
    assert m.shared == ("angry", "happy", "neutral", "sad")
    assert m.model_to_shared == {"sad": "sad", "neu": "neutral", "hap": "happy", "ang": "angry"}
    assert m.dropped_model == () and m.dropped_data == ("calm",)
    probs = np.array([[0.1, 0.2, 0.3, 0.4]])  # sad, neu, hap, ang
    np.testing.assert_allclose(m.project(probs), [[0.4, 0.3, 0.2, 0.1]])  # angry, happy, neutral, sad


def test_projection_sums_merged_classes_and_renormalises(tmp_path):
    lm = _toml(tmp_path, 'name = "calm-as-neutral"\ndrop_model = ["surprised"]\n'
                         '[model]\ncalm = "neutral"\n')
    m = lm.resolve(["calm", "happy", "neutral", "surprised"], ["happy", "neutral"])
    assert m.shared == ("happy", "neutral") and m.dropped_model == ("surprised",)
    probs = np.array([[0.1, 0.2, 0.3, 0.4], [0.25, 0.25, 0.25, 0.25]])
    # happy 0.2, neutral 0.1 + 0.3 = 0.4 -> / 0.6; second row: 0.25, 0.5 -> / 0.75
    np.testing.assert_allclose(m.project(probs), [[1 / 3, 2 / 3], [1 / 3, 2 / 3]])
    np.testing.assert_allclose(m.dropped_mass(probs), [0.4, 0.25])
    np.testing.assert_allclose(m.project(probs).sum(axis=1), 1.0)


def test_iemocap_builtin_counts_excited_as_happy_on_both_sides():
    m = load_label_map("iemocap-ravdess").resolve(["ang", "exc", "hap", "neu", "sad"], RAVDESS)
    assert m.model_to_shared["exc"] == "happy" and m.model_to_shared["hap"] == "happy"
    np.testing.assert_allclose(m.project(np.array([[0.1, 0.3, 0.2, 0.2, 0.2]]))[0, m.shared.index("happy")], 0.5)
    m2 = load_label_map("ravdess-iemocap").resolve(RAVDESS, ["angry", "excited", "happy", "sad"])
    assert m2.data_to_shared["excited"] == "happy"


def test_select_relabels_and_returns_removed_utterances(tmp_path):
    lm = _toml(tmp_path, 'drop_data = ["boredom"]\n[data]\nexcited = "happy"\n')
    df = pd.DataFrame({"utt_id": list("abcd"), "emotion": ["excited", "boredom", "sad", "happy"]})
    m = lm.resolve(["happy", "sad"], df["emotion"])
    kept, removed = m.select(df)
    assert kept["utt_id"].tolist() == ["a", "c", "d"] and kept["emotion"].tolist() == ["happy", "sad", "happy"]
    assert removed["utt_id"].tolist() == ["b"] and m.dropped_data == ("boredom",)


def test_strict_map_refuses_an_unlisted_missing_class(tmp_path):
    lm = _toml(tmp_path, "[model]\n")
    with pytest.raises(AuditError, match="data class 'boredom' has no counterpart.*drop_data"):
        lm.resolve(["angry", "happy", "sad"], ["angry", "boredom", "happy", "sad"])
    with pytest.raises(AuditError, match="model class 'calm' has no counterpart.*drop_model"):
        lm.resolve(["angry", "calm", "sad"], ["angry", "sad"])


def test_ambiguous_synonyms_are_an_error_unless_merged_explicitly(tmp_path):
    with pytest.raises(AuditError, match="ambiguous: model classes 'hap' and 'happy' both mean 'happy'"):
        load_label_map("synonyms").resolve(["hap", "happy", "sad"], ["happy", "sad"])
    lm = _toml(tmp_path, '[model]\nhap = "happy"\nhappy = "happy"\n')
    assert lm.resolve(["hap", "happy", "sad"], ["happy", "sad"]).shared == ("happy", "sad")


def test_builtin_refuses_a_class_outside_the_corpus_label_set():
    with pytest.raises(AuditError, match="model class 'boredom' is not one of"):
        load_label_map("ravdess-emodb").resolve(["angry", "boredom", "sad"], EMODB)
    with pytest.raises(AuditError, match="data class 'calm' is not one of"):
        load_label_map("ravdess-emodb").resolve(RAVDESS, ["angry", "calm", "sad"])


def test_too_few_shared_classes():
    with pytest.raises(AuditError, match="share 1 class"):
        load_label_map("synonyms").resolve(["angry", "calm"], ["angry", "boredom"])


@pytest.mark.parametrize("text, message", [
    ("colour = 1\n", "unknown key 'colour'"),
    ("[model]\ncalm = 3\n", r"\[model\] must map class names"),
    ("drop_model = \"calm\"\n", "drop_model must be a list"),
    ("[model\n", "invalid TOML"),
])
def test_toml_format_errors_name_the_file_and_key(tmp_path, text, message):
    with pytest.raises(AuditError, match=message) as exc:
        _toml(tmp_path, text)
    assert "map.toml" in str(exc.value)


def test_toml_entries_must_name_real_classes(tmp_path):
    lm = _toml(tmp_path, '[model]\nclam = "neutral"\n')
    with pytest.raises(AuditError, match=r"map.toml.*model class 'clam' is not among the model classes"):
        lm.resolve(["calm", "neutral"], ["neutral", "sad"])
    lm = _toml(tmp_path, 'drop_model = ["calm"]\n[model]\ncalm = "neutral"\n')
    with pytest.raises(AuditError, match="both mapped and in drop_model"):
        lm.resolve(["calm", "neutral", "sad"], ["neutral", "sad"])


def test_unknown_map_name_and_missing_file(tmp_path):
    with pytest.raises(AuditError, match="unknown label map 'ravdess-foo'"):
        load_label_map("ravdess-foo")
    with pytest.raises(AuditError, match="label map file not found"):
        load_label_map(str(tmp_path / "nope.toml"))


def test_projection_shape_and_zero_mass_errors():
    m = load_label_map("synonyms").resolve(["angry", "calm", "sad"], ["angry", "sad"])
    with pytest.raises(AuditError, match=r"expected \(N, 3\)"):
        m.project(np.ones((2, 2)))
    with pytest.raises(AuditError, match="no probability on any shared class"):
        m.project(np.array([[0.0, 1.0, 0.0]]))
