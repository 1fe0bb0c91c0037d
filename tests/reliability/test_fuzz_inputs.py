"""Mutation fuzzing (hypothesis, derandomised, bounded) of the inputs a user hands over: scenario
TOML files, manifest CSVs and corpus folders. Every case ends in a result or in one-line
``AuditError``/``PerturbationError``, never another exception; a folder's audio files each end
up as a row or as a problems.csv row. ``pytest -s`` prints the tallies (docs/reliability.md)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from _reliability_helpers import fuzz

from audit.data import ProblemLog, load_data
from audit.data.corpora._common import audio_files
from audit.errors import AuditError
from audit.scenario import SCENARIO_DIR, load_scenario
from perturbations import PerturbationError

TALLY: dict[str, Counter] = {}
USER_ERRORS = (AuditError, PerturbationError)


@pytest.fixture(scope="module", autouse=True)
def _print_tally():
    yield
    for name, counts in TALLY.items():
        print(f"\n[fuzz] {name}: {sum(counts.values())} cases {dict(sorted(counts.items()))}")


@st.composite
def mutated(draw, text: str, pieces: list[str]) -> str:
    """``text`` after 1-4 edits: delete / duplicate / insert a piece / replace a span."""
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(0, 12)))
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "replace"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(st.sampled_from(pieces)) + text[i:]
        else:
            text = text[:i] + draw(st.text(max_size=6)) + text[j:]
    return text


def _outcome(tally: Counter, fn):
    try:
        result = fn()
    except USER_ERRORS as exc:
        message = str(exc)
        assert message and "\n" not in message.strip() and "Traceback" not in message, message
        tally[type(exc).__name__] += 1
        return None
    tally["accepted"] += 1
    return result


SPEC = (SCENARIO_DIR / "fairness.toml").read_text()
SPEC_PIECES = ["=", "[", "]", '"', "{", "}", ",", "\n", "snr_db = -1e999", "name = 3", "awgn",
               "reverb", "mp3", "nan", "inf", "true", "[bootstrap]\nn_boot = -1\n",
               "thresholds = [\"ua_drop>>1\"]\n", "groups = [1]\n", "seed = \"x\"\n",
               "conditions = [{ name = \"awgn\" }]\n", "\x00", "é", "'''"]


@fuzz(100)
@given(text=mutated(SPEC, SPEC_PIECES))
def test_mutated_scenario_specs(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("spec", numbered=True) / "spec.toml"
    path.write_text(text, encoding="utf-8")
    spec = _outcome(TALLY.setdefault("scenario TOML", Counter()), lambda: load_scenario(path))
    if spec is not None:
        assert spec.conditions[0] == "clean"


@pytest.fixture(scope="module")
def manifest_text(corpus) -> str:
    return Path(corpus).read_text()


@fuzz(40)
@given(data=st.data())
def test_mutated_manifest_csvs(tmp_path_factory, corpus, manifest_text, data):
    pieces = [",", "\n", '"', ",,", "male", "female", "alien", "-1", "1.5", "nan", "x.wav",
              "utt_id", "../../etc/passwd", "spk01", "angry", "=cmd|' /C calc'!A0", "\ufeff"]
    text = data.draw(mutated(manifest_text, pieces))
    # beside the corpus manifest: its paths are relative to its folder
    path = Path(corpus).parent / f"fuzz_{sum(map(sum, [c.values() for c in TALLY.values()]))}.csv"
    path.write_text(text, encoding="utf-8")
    skip = data.draw(st.booleans())
    log = ProblemLog()
    name = "manifest CSV (--skip-bad)" if skip else "manifest CSV"
    df = _outcome(TALLY.setdefault(name, Counter()),
                  lambda: load_data(path, skip_bad=skip, problems=log))
    path.unlink()
    if df is not None:
        assert df["utt_id"].is_unique and df["fold"].ge(0).all()
        assert df["gender"].isin(["female", "male", "unknown"]).all()


def _tone(seed: int) -> np.ndarray:
    t = np.arange(1600) / 16000
    return (0.3 * np.sin(2 * np.pi * (200 + seed) * t)).astype(np.float32)


def _ravdess(root: Path) -> Path:
    for actor in (1, 2):
        for emo in (1, 3, 5):
            name = f"03-01-{emo:02d}-01-01-01-{actor:02d}.wav"
            (root / f"Actor_{actor:02d}").mkdir(parents=True, exist_ok=True)
            sf.write(str(root / f"Actor_{actor:02d}" / name), _tone(actor * 10 + emo), 16000)
    return root


def _tess(root: Path) -> Path:
    for spk, emo in (("OAF", "angry"), ("YAF", "sad"), ("OAF", "neutral")):
        folder = root / f"{spk}_{emo}"
        folder.mkdir(parents=True, exist_ok=True)
        for word in ("back", "bath"):
            sf.write(str(folder / f"{spk}_{word}_{emo}.wav"), _tone(len(word) + len(emo)), 16000)
    return root


def _emodb(root: Path) -> Path:
    (root / "wav").mkdir(parents=True)
    for name in ("03a01Wa", "08a02Fb", "09b03Tc", "10a04Na"):
        sf.write(str(root / "wav" / f"{name}.wav"), _tone(len(name)), 16000)
    return root


TREES = {"ravdess": _ravdess, "tess": _tess, "emodb": _emodb}
FILE_OPS = ["truncate", "garbage", "empty", "rename", "upper", "nan", "silent", "stereo", "rate",
            "delete", "dir", "text"]


def _mutate_file(path: Path, op: str, draw) -> None:
    if op == "truncate":
        path.write_bytes(path.read_bytes()[: draw(st.integers(0, 200))])
    elif op == "garbage":
        path.write_bytes(draw(st.binary(min_size=1, max_size=300)))
    elif op == "empty":
        path.write_bytes(b"")
    elif op == "rename":
        stem = draw(st.text(st.sampled_from(list("0123456789-_abcOAFYAF")), min_size=1, max_size=24))
        path.rename(path.with_name(stem + path.suffix))
    elif op == "upper":
        path.rename(path.with_suffix(".WAV"))
    elif op == "nan":
        sf.write(str(path), np.full(800, np.nan, np.float32), 16000, subtype="FLOAT")
    elif op == "silent":
        sf.write(str(path), np.zeros(800, np.float32), 16000)
    elif op == "stereo":
        sf.write(str(path), np.stack([_tone(1), _tone(2)], axis=1), 16000)
    elif op == "rate":
        sf.write(str(path), _tone(3), draw(st.sampled_from([8000, 44100, 48000])))
    elif op == "delete":
        path.unlink()
    elif op == "dir":
        (path.parent / "extra" / "Actor_99").mkdir(parents=True, exist_ok=True)
    elif op == "text":
        (path.parent / "notes.wav.txt").write_text("not audio")


@fuzz(36)
@given(data=st.data())
def test_mutated_corpus_trees(tmp_path_factory, data):
    kind = data.draw(st.sampled_from(sorted(TREES)))
    root = TREES[kind](tmp_path_factory.mktemp(kind, numbered=True) / "c")
    for _ in range(data.draw(st.integers(1, 3))):
        files = audio_files(root)
        if not files:
            break
        _mutate_file(data.draw(st.sampled_from(files)), data.draw(st.sampled_from(FILE_OPS)), data.draw)
    n_files = len(audio_files(root))
    strict = _outcome(TALLY.setdefault(f"{kind} tree", Counter()), lambda: load_data(root, corpus=kind))
    log = ProblemLog()
    lenient = _outcome(TALLY.setdefault(f"{kind} tree (--skip-bad)", Counter()),
                       lambda: load_data(root, corpus=kind, skip_bad=True, problems=log))
    if lenient is not None:  # nothing silently dropped: every audio file is a row or a problem
        assert len(lenient) + len(log) >= n_files, (len(lenient), len(log), n_files)
        if strict is not None:
            assert strict.equals(lenient)
