"""``--data hf:PATH``: datasets save_to_disk folders and audiofolders as validated manifests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from audit.data import ProblemLog, load_audio, load_data
from audit.errors import AuditError

EMOS = ["ang", "hap", "neu", "sad"]


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Datasets load from local folders only: any TCP/UDP connection fails the test."""
    import socket

    real_connect = socket.socket.connect

    def connect(self, address):
        if self.family == getattr(socket, "AF_UNIX", None):
            return real_connect(self, address)
        raise AssertionError(f"a test tried to connect to {address!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)


@pytest.fixture(autouse=True)
def audio_cache(tmp_path, monkeypatch):
    """Embedded audio goes to a per-test cache, never to the user's home."""
    monkeypatch.setenv("SER_AUDIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "hf-audio"


def _wavs(folder, n=8):
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        wave = (0.1 * np.random.default_rng(i).standard_normal(4000 + 400 * i)).astype(np.float32)
        sf.write(folder / f"utt{i}.wav", wave, 16000, subtype="PCM_16")
        out.append(folder / f"utt{i}.wav")
    return out


def _columns(n=8):
    return {"speaker_id": [f"s{i % 4}" for i in range(n)], "label": [i % 4 for i in range(n)],
            "sex": ["F", "M", "F", "M"] * (n // 4), "accent": ["north", "south"] * (n // 2)}


@pytest.fixture()
def saved(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    files = _wavs(tmp_path / "src")
    ds = datasets.Dataset.from_dict({"audio": [str(f) for f in files], **_columns()})
    ds = ds.cast_column("audio", datasets.Audio(sampling_rate=16000))
    ds = ds.cast_column("label", datasets.ClassLabel(names=EMOS))
    ds.save_to_disk(str(tmp_path / "saved"))
    for f in files:  # the dataset must not need its source files any more (bytes embedded)
        f.rename(f.with_suffix(".moved"))
    return tmp_path / "saved", files


def test_save_to_disk_becomes_a_manifest(saved, audio_cache):
    folder, files = saved
    df = load_data(f"hf:{folder}")
    assert list(df["utt_id"]) == [f"utt{i}" for i in range(8)]
    assert list(df["emotion"][:4]) == ["angry", "happy", "neutral", "sad"]  # ClassLabel names
    assert set(df["gender"]) == {"female", "male"} and df["speaker"].nunique() == 4
    assert list(df["accent"][:2]) == ["north", "south"]  # extras stay, for --by accent
    assert df["fold"].notna().all() and (df["corpus"] == "saved").all()
    for row, src in zip(df.itertuples(), files, strict=True):
        assert str(audio_cache) in row.path
        with open(src.with_suffix(".moved"), "rb") as fh:
            want, _ = sf.read(fh, dtype="float32")
        got, sr = load_audio(row.path)
        assert sr == 16000
        np.testing.assert_array_equal(got, want)


def test_reloading_does_not_rewrite_the_audio(saved):
    folder, _ = saved
    first = load_data(f"hf:{folder}")
    stamps = [Path(p).stat().st_mtime_ns for p in first["path"]]
    again = load_data(f"hf:{folder}")
    assert list(again["path"]) == list(first["path"])
    # unchanged mtimes keep the engine's audio keys, so a rerun is served from its cache
    assert [Path(p).stat().st_mtime_ns for p in again["path"]] == stamps


def test_split_must_be_chosen_when_there_are_several(tmp_path):
    datasets = pytest.importorskip("datasets")
    datasets.disable_progress_bars()
    files = _wavs(tmp_path / "src")
    ds = datasets.Dataset.from_dict({"audio": [str(f) for f in files], **_columns()})
    ds = ds.cast_column("audio", datasets.Audio(sampling_rate=16000))
    datasets.DatasetDict({"train": ds.select(range(4)), "test": ds.select(range(4, 8))}).save_to_disk(
        str(tmp_path / "dd"))
    with pytest.raises(AuditError, match="holds splits test, train; choose one with split=NAME"):
        load_data(f"hf:{tmp_path / 'dd'}")
    test = load_data(f"hf:{tmp_path / 'dd'}?split=test")
    assert list(test["utt_id"]) == [f"utt{i}" for i in range(4, 8)]
    with pytest.raises(AuditError, match="no split 'dev'"):
        load_data(f"hf:{tmp_path / 'dd'}", options={"split": "dev"})


def _audiofolder(root, columns=None, n=8):
    files = _wavs(root, n)
    meta = pd.DataFrame({"file_name": [f.name for f in files], **(columns or _columns(n))})
    meta.to_csv(root / "metadata.csv", index=False)
    return root


def test_audiofolder_with_metadata_csv(tmp_path):
    root = _audiofolder(tmp_path / "af", {"client_id": [f"c{i % 4}" for i in range(8)],
                                          "emo": EMOS * 2, "gender": ["female", "male"] * 4})
    df = load_data(f"hf:{root}")
    assert list(df["speaker"][:2]) == ["c0", "c1"] and list(df["emotion"][:2]) == ["angry", "happy"]
    assert (df["path"].map(lambda p: p.startswith(str(root)))).all()
    assert np.allclose(df["duration_s"], [(4000 + 400 * i) / 16000 for i in range(8)])


def test_columns_mapped_by_toml_or_query(tmp_path):
    cols = {"who": [f"p{i % 4}" for i in range(8)], "feeling": EMOS * 2, "g": ["f", "m"] * 4}
    root = _audiofolder(tmp_path / "af", cols)
    with pytest.raises(AuditError, match=r"no speaker column \(looked for speaker, speaker_id.*"
                                         r"map one with speaker=COLUMN"):
        load_data(f"hf:{root}")
    by_query = load_data(f"hf:{root}?speaker=who&emotion=feeling&gender=g")
    (root / "ser-audit.toml").write_text('[columns]\nspeaker = "who"\nemotion = "feeling"\ngender = "g"\n')
    by_toml = load_data(f"hf:{root}")
    pd.testing.assert_frame_equal(by_query, by_toml)
    assert list(by_toml["speaker"][:2]) == ["p0", "p1"]


def test_bad_options_are_one_clear_line(tmp_path):
    root = _audiofolder(tmp_path / "af")
    with pytest.raises(AuditError, match="unknown option 'spekaer'"):
        load_data(f"hf:{root}?spekaer=x")
    with pytest.raises(AuditError, match="speaker='nobody' is not a column"):
        load_data(f"hf:{root}?speaker=nobody")
    (root / "ser-audit.toml").write_text('[columns]\nemotoin = "label"\n')
    with pytest.raises(AuditError, match=r"ser-audit.toml \[columns\]: unknown option 'emotoin'"):
        load_data(f"hf:{root}")
    with pytest.raises(AuditError, match="no such folder .*never downloaded"):
        load_data("hf:someone/some-dataset")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AuditError, match="neither a datasets save_to_disk folder"):
        load_data(f"hf:{tmp_path / 'empty'}")


def test_bad_rows_go_to_problems_csv(tmp_path):
    cols = _columns()
    cols["sex"] = ["F", "M", "F", "robot", "F", "M", "F", "M"]
    root = _audiofolder(tmp_path / "af", cols)
    (root / "utt5.wav").unlink()
    with pytest.raises(AuditError, match="unknown gender 'robot'"):
        load_data(f"hf:{root}")
    log = ProblemLog()
    df = load_data(f"hf:{root}", skip_bad=True, problems=log)
    assert sorted(set(map(str, range(8))) - {u[-1] for u in df["utt_id"]}) == ["3", "5"]
    assert sorted(r["utt_id"] for r in log.rows) == ["utt3", "utt5"]
