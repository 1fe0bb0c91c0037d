"""Corpus adapters on tiny trees with the real layouts; detection; adapter-level bad input."""

from __future__ import annotations

import os

import pytest

from _data_trees import cremad_tree, emodb_tree, iemocap_tree, ravdess_tree, tess_tree, write_wav
from audit.data import ProblemLog, detect_corpus, load_data
from audit.errors import AuditError


@pytest.mark.parametrize("flat, ext", [(False, "wav"), (True, "wav"), (False, "flac")])
def test_ravdess(tmp_path, flat, ext):
    df = load_data(ravdess_tree(tmp_path, ext=ext, flat=flat))
    assert detect_corpus(tmp_path) == "ravdess" and len(df) == 4 * 7
    row = df.set_index("utt_id").loc["03-01-05-02-01-01-03"]
    assert (row.speaker, row.gender, row.emotion, row.intensity, row.actor) == ("Actor_03", "male", "angry", "strong", 3)
    assert df.groupby("gender")["speaker"].nunique().to_dict() == {"female": 2, "male": 2}
    assert set(df.loc[df["speaker"] == "Actor_02", "fold"]) == {0}
    assert set(df.loc[df["speaker"] == "Actor_03", "fold"]) == {1}


def test_emodb(tmp_path):
    df = load_data(emodb_tree(tmp_path)).set_index("utt_id")
    assert detect_corpus(tmp_path) == "emodb"
    assert df.loc["03a01Wa", ["speaker", "gender", "emotion"]].tolist() == ["03", "male", "angry"]
    assert df.loc["08a02Fb", ["gender", "emotion", "text"]].tolist() == ["female", "happy", "a02"]
    assert df.loc["13b01Ld", "emotion"] == "boredom" and df.loc["15a05Ea", "emotion"] == "disgust"
    assert df.loc["09b03Tc", "emotion"] == "sad" and df.loc["10a04Na", "emotion"] == "neutral"


def test_tess(tmp_path):
    df = load_data(tess_tree(tmp_path))
    assert detect_corpus(tmp_path) == "tess"
    assert set(df["gender"]) == {"female"} and set(df["speaker"]) == {"OAF", "YAF"}
    assert set(df["emotion"]) == {"angry", "surprised", "fearful", "neutral"}
    assert df["fold"].nunique() == 2


def test_cremad(tmp_path):
    df = load_data(cremad_tree(tmp_path)).set_index("utt_id")
    assert detect_corpus(tmp_path) == "cremad"
    assert df.loc["1001_DFA_ANG_XX", ["speaker", "gender", "emotion", "intensity"]].tolist() == \
        ["1001", "male", "angry", "unspecified"]
    assert df.loc["1002_TIE_SAD_LO", ["gender", "intensity", "sentence"]].tolist() == ["female", "low", "TIE"]


def test_cremad_without_demographics_is_an_error(tmp_path):
    with pytest.raises(AuditError, match="VideoDemographics.csv: not found"):
        load_data(cremad_tree(tmp_path, demographics=False), corpus="cremad")


def test_iemocap_four_classes_and_recorded_exclusions(tmp_path):
    log = ProblemLog()
    df = load_data(iemocap_tree(tmp_path), problems=log).set_index("utt_id")
    assert detect_corpus(tmp_path) == "iemocap"
    assert df.loc["Ses01F_impro01_M000", ["emotion", "speaker", "gender", "method"]].tolist() == \
        ["happy", "Ses01M", "male", "improvised"]  # exc merged into happy
    assert df.loc["Ses02M_script01_1_F000", ["emotion", "session", "fold"]].tolist() == ["angry", 2, 1]
    assert "Ses01F_impro01_F001" not in df.index  # 'fru' is outside the 4 classes ...
    assert [r["utt_id"] for r in log.rows] == ["Ses01F_impro01_F001"]  # ... and recorded
    improvised = load_data(tmp_path, options={"improvised_only": True})
    assert set(improvised["method"]) == {"improvised"}
    everything = load_data(tmp_path, options={"all_labels": True, "merge_excited": False})
    assert {"frustrated", "excited"} <= set(everything["emotion"])


@pytest.mark.parametrize("name, message", [
    ("03-01-09-01-01-01-01.wav", "unknown emotion code 09"),
    ("03-02-03-01-01-01-01.wav", "vocal channel code 02 is not speech"),
    ("03-01-01-02-01-01-01.wav", "unknown intensity code 02 for emotion 01"),
    ("03-01-03-01-01-01-02.wav", "does not match its folder Actor_01"),
    ("notes.wav", "does not follow the RAVDESS pattern"),
])
def test_ravdess_bad_names(tmp_path, name, message):
    ravdess_tree(tmp_path, actors=(1, 2))
    bad = write_wav(tmp_path / "Actor_01" / name)
    with pytest.raises(AuditError, match=message) as err:
        load_data(tmp_path)
    assert str(bad) in str(err.value)
    log = ProblemLog()
    df = load_data(tmp_path, skip_bad=True, problems=log)
    assert len(df) == 14 and len(log) == 1 and log.rows[0]["path"] == str(bad)


def test_emodb_unknown_codes(tmp_path):
    emodb_tree(tmp_path)
    write_wav(tmp_path / "wav" / "03a01Xa.wav")
    with pytest.raises(AuditError, match="unknown emotion letter 'X'"):
        load_data(tmp_path)
    (tmp_path / "wav" / "03a01Xa.wav").unlink()
    write_wav(tmp_path / "wav" / "99a01Wa.wav")
    with pytest.raises(AuditError, match="unknown speaker code '99'"):
        load_data(tmp_path)


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(b"RIFF" + b"\0" * 40), "not a readable audio file"),
    (lambda p: p.write_bytes(p.read_bytes()[:200]), "truncated"),
])
def test_damaged_files_in_a_corpus(tmp_path, damage, message):
    ravdess_tree(tmp_path, actors=(1, 2))
    victim = tmp_path / "Actor_02" / "03-01-03-01-01-01-02.wav"
    damage(victim)
    with pytest.raises(AuditError, match=message):
        load_data(tmp_path)
    log = ProblemLog()
    assert len(load_data(tmp_path, skip_bad=True, problems=log)) == 13
    assert log.rows[0]["utt_id"] == victim.stem and message.split()[0] in log.rows[0]["problem"]


def test_unknown_layout_and_unreadable_folder(tmp_path, monkeypatch):
    (tmp_path / "stuff").mkdir()
    write_wav(tmp_path / "stuff" / "x.wav")
    with pytest.raises(AuditError, match="unknown corpus layout.*--corpus"):
        load_data(tmp_path / "stuff")
    with pytest.raises(AuditError, match="no such file or folder"):
        load_data(tmp_path / "absent")
    with pytest.raises(AuditError, match="unknown corpus 'timit'"):
        load_data(tmp_path / "stuff", corpus="timit")

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(os, "scandir", denied)  # root ignores chmod, so simulate the OS refusal
    with pytest.raises(AuditError, match="cannot read folder \\(Permission denied\\)"):
        load_data(tmp_path / "stuff")


def test_corpus_override(tmp_path):
    ravdess_tree(tmp_path / "r", actors=(1, 2))
    with pytest.raises(AuditError, match="no usable emodb audio"):
        load_data(tmp_path / "r" / "Actor_01", corpus="emodb", skip_bad=True)
    assert len(load_data(tmp_path / "r" / "Actor_01", corpus="ravdess")) == 7
