"""``audit data ...`` through ``audit.cli.main``: exit codes, one-line errors, files written."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from _data_trees import generic_csv, ravdess_tree, write_wav
from audit.cli import main
from audit.data import load_data, read_manifest


def run(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def test_info_text_and_json(tmp_path, capsys):
    ravdess_tree(tmp_path, actors=(1, 2, 13, 14))
    code, out, err = run(["data", "info", str(tmp_path)], capsys)
    assert code == 0 and "utterances: 28   speakers: 4 (2 female, 2 male)" in out
    assert "fold 0: 28 utterances, 4 speakers (2 female, 2 male)" in out and "problems: 0" in out
    code, out, _ = run(["data", "info", str(tmp_path), "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["utterances_by_emotion_gender"]["angry"] == {"female": 4, "male": 4}
    assert summary["sample_rates"] == {"16000": 28} and summary["folds"]["0"]["utterances"] == 28


def test_manifest_command(tmp_path, capsys, monkeypatch):
    ravdess_tree(tmp_path / "c", actors=(1, 2))
    out_csv = tmp_path / "out" / "manifest.csv"
    code, out, _ = run(["data", "manifest", str(tmp_path / "c"), "-o", str(out_csv)], capsys)
    assert code == 0 and "14 utterances, 2 speakers, 1 fold," in out
    df = read_manifest(out_csv)
    assert len(df) == 14 and "fold" in df.columns and not (tmp_path / "out" / "problems.csv").exists()
    code, out, _ = run(["data", "manifest", str(out_csv), "-o", str(tmp_path / "m2.csv"), "--folds", "2"], capsys)
    assert code == 0 and read_manifest(tmp_path / "m2.csv")["fold"].nunique() == 2


def test_synth_command_uses_root_seed(tmp_path, capsys):
    args = ["data", "synth", "--speakers", "2", "--per-emotion", "1"]
    code, out, _ = run(["--seed", "5", *args, str(tmp_path / "a")], capsys)
    assert code == 0 and "seed 5" in out and "utterances: 8" in out
    code, _, _ = run([*args, str(tmp_path / "b"), "--seed", "5"], capsys)
    assert code == 0
    a, b = (read_manifest(tmp_path / d / "manifest.csv") for d in "ab")
    assert (tmp_path / "a" / "wav" / "spk01_sad_01.wav").read_bytes() == \
        (tmp_path / "b" / "wav" / "spk01_sad_01.wav").read_bytes()
    assert a["duration_s"].tolist() == b["duration_s"].tolist()


@pytest.mark.parametrize("kind", ["corrupt", "empty", "truncated", "nan", "silent", "label", "speaker",
                                  "duplicate", "layout", "missing"])
def test_bad_input_one_line_or_problems_csv(tmp_path, capsys, monkeypatch, kind):
    monkeypatch.chdir(tmp_path)
    corpus = ravdess_tree(tmp_path / "c", actors=(1, 2))
    victim = corpus / "Actor_01" / "03-01-03-02-01-01-01.wav"
    source, decode = corpus, kind in ("nan", "silent")
    if kind == "corrupt":
        victim.write_bytes(b"junk" * 50)
    elif kind == "empty":
        victim.write_bytes(b"")
    elif kind == "truncated":
        victim.write_bytes(victim.read_bytes()[:300])
    elif kind == "nan":
        data = np.full(800, np.nan, np.float32)
        sf.write(str(victim), data, 16000, subtype="FLOAT")
    elif kind == "silent":
        sf.write(str(victim), np.zeros(800, np.float32), 16000)
    elif kind == "label":
        victim = write_wav(corpus / "Actor_01" / "03-01-11-01-01-01-01.wav")
    elif kind in ("speaker", "duplicate"):
        source = generic_csv(tmp_path / "g")
        text = source.read_text()
        source.write_text(text.replace(",s2,", ",,") if kind == "speaker" else text.replace("b.wav,", "a.wav,"))
        victim = tmp_path / "g" / ("b.wav" if kind == "speaker" else "a.wav")
    elif kind == "layout":
        source = tmp_path / "c" / "Actor_01" / "nothing"
        source.mkdir()
        write_wav(source / "x.wav")
    elif kind == "missing":
        source = tmp_path / "nowhere"
    argv = ["data", "info", str(source)] + (["--check"] if decode else [])
    code, out, err = run(argv, capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err
    if kind not in ("layout", "missing"):
        assert str(victim.name) in lines[0] or victim.stem in lines[0]
        code, out, err = run(argv + ["--skip-bad"], capsys)
        assert code == 0 and "1 problem recorded in problems.csv" in err
        problems = pd.read_csv(tmp_path / "problems.csv", keep_default_na=False)
        assert len(problems) == 1 and victim.stem in problems.loc[0, "utt_id"] + problems.loc[0, "path"]
        assert "problems: 1" in out
    else:
        assert str(source) in lines[0]


def test_export_command(tmp_path, capsys):
    corpus = ravdess_tree(tmp_path / "c", actors=(1, 2), emotions=(1,))
    stereo = corpus / "Actor_02" / "03-01-01-01-01-01-02.wav"
    write_wav(stereo, n=4800, sr=48000, channels=2)
    code, out, _ = run(["data", "export", str(corpus), "--dest", str(tmp_path / "x"), "--rate", "16000"], capsys)
    assert code == 0
    src, dst = load_data(corpus), read_manifest(tmp_path / "x" / "manifest.csv")
    assert len(dst) == 2 and (dst["sample_rate"] == 16000).all() and (dst["channels"] == 1).all()
    row = dst.set_index("utt_id").loc[stereo.stem]
    assert row["source_sample_rate"] == 48000 and row["duration_s"] == pytest.approx(0.1)
    assert sf.info(row["path"]).format == "FLAC" and src["fold"].tolist() == dst["fold"].tolist()
    code, _, err = run(["data", "export", str(corpus), "--dest", str(tmp_path / "y"), "--rate", "0"], capsys)
    assert code == 2 and "rate must be a positive" in err


def test_fetch_command_bad_checksum_is_one_line(tmp_path, capsys):
    code, _, err = run(["data", "fetch", "ravdess", "--dest", str(tmp_path), "--sha256", "xyz"], capsys)
    assert code == 2 and err.strip() == "error: --sha256 'xyz' is not a 64-digit hex sha256"
    code, _, err = run(["data", "fetch", "ravdess", "--dest", str(tmp_path), "--url", "http://127.0.0.1:9/a.zip"],
                       capsys)
    assert code == 2 and err.startswith("error: http://127.0.0.1:9/a.zip: download failed")


def test_manifest_skip_bad_writes_problems_next_to_it(tmp_path, capsys):
    corpus = ravdess_tree(tmp_path / "c", actors=(1, 2))
    (corpus / "Actor_02" / "03-01-04-01-01-01-02.wav").write_bytes(b"")
    out_csv = tmp_path / "m" / "manifest.csv"
    code, _, _ = run(["data", "manifest", str(corpus), "-o", str(out_csv)], capsys)
    assert code == 2 and not out_csv.exists()
    code, out, err = run(["data", "manifest", str(corpus), "-o", str(out_csv), "--skip-bad"], capsys)
    assert code == 0 and "13 utterances" in out
    problems = pd.read_csv(tmp_path / "m" / "problems.csv", keep_default_na=False)
    assert problems.loc[0, "utt_id"] == "03-01-04-01-01-01-02" and "empty file" in problems.loc[0, "problem"]


def test_bad_adapter_option(tmp_path, capsys):
    ravdess_tree(tmp_path, actors=(1, 2))
    code, _, err = run(["data", "info", str(tmp_path), "-O", "nonsense"], capsys)
    assert code == 2 and "expected KEY=VALUE" in err
    code, _, err = run(["data", "info", str(tmp_path), "-O", "improvised_only=true"], capsys)
    assert code == 2 and "bad option for corpus ravdess" in err
