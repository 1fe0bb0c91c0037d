"""Manifest read/write/validate/hash: round trip, relative paths, every validation failure."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from _data_trees import generic_csv, ravdess_tree, write_wav
from audit.data import (CORE_COLUMNS, ProblemLog, load_data, manifest_hash, read_manifest,
                        validate_manifest, write_manifest)
from audit.errors import AuditError


def test_generic_csv_is_read_validated_and_completed(tmp_path):
    df = load_data(generic_csv(tmp_path))
    assert list(df.columns[: len(CORE_COLUMNS)]) == list(CORE_COLUMNS) and df.columns[-1] == "fold"
    assert df["emotion"].tolist() == ["happy", "sad", "angry", "neutral"]
    assert df["gender"].tolist() == ["female", "male", "female", "male"]
    assert df["utt_id"].tolist() == ["a", "b", "c", "d"] and (df["corpus"] == "generic").all()
    assert (df["sample_rate"] == 8000).all() and (df["duration_s"] == 0.1).all()
    assert df["fold"].nunique() == 2  # 2 female + 2 male speakers -> 2 folds of one each


def test_round_trip_relative_paths_and_hash(tmp_path):
    df = load_data(ravdess_tree(tmp_path / "corpus"))
    out = write_manifest(df, tmp_path / "corpus" / "manifest.csv")
    text = out.read_text()
    assert "Actor_01/03-01-01-01-01-01-01.wav" in text and str(tmp_path) not in text
    back = read_manifest(out)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    assert manifest_hash(back) == manifest_hash(df)
    # a copy elsewhere hashes the same; a changed label does not
    shutil.copytree(tmp_path / "corpus", tmp_path / "copy")
    assert manifest_hash(read_manifest(tmp_path / "copy" / "manifest.csv")) == manifest_hash(df)
    changed = df.copy()
    changed.loc[0, "emotion"] = "sad"
    assert manifest_hash(changed) != manifest_hash(df)
    # outside the manifest's folder: absolute paths are kept
    elsewhere = write_manifest(df, tmp_path / "other" / "m.csv")
    assert str((tmp_path / "corpus").resolve()) in elsewhere.read_text()
    assert read_manifest(elsewhere)["path"].tolist() == df["path"].tolist()


def test_extras_keep_types_and_text_ids(tmp_path):
    write_wav(tmp_path / "a.wav")
    write_wav(tmp_path / "b.wav")
    (tmp_path / "m.csv").write_text("utt_id,path,emotion,speaker,gender,session,note\n"
                                    "001,a.wav,sad,NA,female,1,x\n002,b.wav,sad,07,male,2,\n")
    df = read_manifest(tmp_path / "m.csv")
    assert df["utt_id"].tolist() == ["001", "002"] and df["speaker"].tolist() == ["NA", "07"]
    assert df["session"].tolist() == [1, 2] and df["note"].tolist() == ["x", ""]


@pytest.mark.parametrize("rows, message", [
    ([("a.wav", "sad", "", "female")], "missing speaker"),
    ([("a.wav", "sad", "s1", "")], "missing gender"),
    ([("a.wav", "sad", "s1", "robot")], "unknown gender 'robot'"),
    ([("a.wav", "", "s1", "female")], "missing emotion"),
    ([("gone.wav", "sad", "s1", "female")], "audio file not found"),
    ([("", "sad", "s1", "female")], "missing path"),
])
def test_bad_rows_raise_one_line(tmp_path, rows, message):
    write_wav(tmp_path / "a.wav")
    csv = tmp_path / "list.csv"
    csv.write_text("path,emotion,speaker,gender\n" + "".join(",".join(r) + "\n" for r in rows))
    with pytest.raises(AuditError, match=message) as err:
        load_data(csv)
    assert str(csv) in str(err.value) and "\n" not in str(err.value)


def test_duplicate_ids_raise_or_are_recorded(tmp_path):
    csv = generic_csv(tmp_path)
    csv.write_text(csv.read_text().replace("b.wav,", "a.wav,"))  # two rows -> utt_id 'a'
    with pytest.raises(AuditError, match="duplicate utt_id 'a'"):
        load_data(csv)
    log = ProblemLog()
    df = load_data(csv, skip_bad=True, problems=log)
    assert len(df) == 3 and len(log) == 1 and "duplicate" in log.rows[0]["problem"]


def test_missing_columns_and_bad_csv(tmp_path):
    (tmp_path / "m.csv").write_text("path,emotion\na.wav,sad\n")
    with pytest.raises(AuditError, match="missing column.*speaker, gender"):
        read_manifest(tmp_path / "m.csv")
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(AuditError, match="not a readable CSV"):
        read_manifest(tmp_path / "e.csv")
    with pytest.raises(AuditError, match="not found"):
        read_manifest(tmp_path / "none.csv")


def test_bad_fold_value(tmp_path):
    df = load_data(generic_csv(tmp_path))
    df["fold"] = df["fold"].astype(object)
    df.loc[1, "fold"] = "x"
    with pytest.raises(AuditError, match="fold 'x' is not a non-negative integer"):
        validate_manifest(df, "test")
