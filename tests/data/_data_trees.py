"""Tiny corpus trees with the real layouts and file names, filled with synthetic audio."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf


def tone(n: int = 800, sr: int = 8000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A short noisy tone, (time,) or (time, channels)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    x = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(n)
    return np.repeat(x[:, None], channels, axis=1) if channels > 1 else x


def write_wav(path: Path, n: int = 800, sr: int = 8000, channels: int = 1, seed: int = 0,
              data: np.ndarray | None = None, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), tone(n, sr, channels, seed) if data is None else data, sr, format=fmt)
    return path


def ravdess_tree(root: Path, actors=(1, 2, 3, 4), emotions=(1, 3, 4, 5), ext: str = "wav",
                 flat: bool = False) -> Path:
    """``Actor_NN/03-01-EE-II-01-01-NN.<ext>`` (or all in ``root`` when ``flat``)."""
    for a in actors:
        for e in emotions:
            for inten in ((1,) if e == 1 else (1, 2)):
                name = f"03-01-{e:02d}-{inten:02d}-01-01-{a:02d}.{ext}"
                folder = root if flat else root / f"Actor_{a:02d}"
                write_wav(folder / name, seed=a * 100 + e, sr=16000)
    return root


def emodb_tree(root: Path) -> Path:
    for name in ("03a01Wa", "08a02Fb", "09b03Tc", "10a04Na", "13b01Ld", "15a05Ea"):
        write_wav(root / "wav" / f"{name}.wav", seed=len(name))
    return root


def tess_tree(root: Path) -> Path:
    for spk, emo in (("OAF", "angry"), ("OAF", "ps"), ("YAF", "fear"), ("YAF", "neutral")):
        folder = root / f"{spk}_{'Pleasant_surprise' if emo == 'ps' else emo}"
        write_wav(folder / f"{spk}_back_{emo}.wav")
        write_wav(folder / f"{spk}_bath_{emo}.wav", seed=1)
    return root


def cremad_tree(root: Path, demographics: bool = True) -> Path:
    for i, name in enumerate(("1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_TIE_SAD_LO", "1002_ITH_NEU_XX")):
        write_wav(root / "AudioWAV" / f"{name}.wav", seed=i)
    if demographics:
        (root / "VideoDemographics.csv").write_text(
            "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
            "1002,21,Female,Caucasian,Not Hispanic\n")
    return root


def iemocap_tree(root: Path) -> Path:
    labels = {1: [("Ses01F_impro01_F000", "neu"), ("Ses01F_impro01_M000", "exc"),
                  ("Ses01F_impro01_F001", "fru")],
              2: [("Ses02M_script01_1_F000", "ang"), ("Ses02M_script01_1_M000", "sad")],
              3: [("Ses03M_impro02_F000", "sad")]}
    for s, utts in labels.items():
        lines = []
        for utt, code in utts:
            dialog = utt.rsplit("_", 1)[0]
            write_wav(root / f"Session{s}" / "sentences" / "wav" / dialog / f"{utt}.wav", seed=len(utt))
            lines.append(f"[6.2901 - 8.2357]\t{utt}\t{code}\t[2.5000, 2.5000, 2.5000]")
            ev = root / f"Session{s}" / "dialog" / "EmoEvaluation" / f"{dialog}.txt"
            ev.parent.mkdir(parents=True, exist_ok=True)
        ev.write_text("% header\n\n" + "\n".join(lines) + "\n")
    return root


def generic_csv(root: Path, rows=None) -> Path:
    """``root/list.csv`` with path, emotion, speaker, gender rows pointing at new WAVs."""
    rows = rows or [("a.wav", "Happy", "s1", "F"), ("b.wav", "sad", "s2", "male"),
                    ("c.wav", "anger", "s3", "female"), ("d.wav", "neutral", "s4", "m")]
    lines = ["path,emotion,speaker,gender"]
    for i, (p, e, s, g) in enumerate(rows):
        if p and not (root / p).exists():
            write_wav(root / p, seed=i)
        lines.append(f"{p},{e},{s},{g}")
    csv = root / "list.csv"
    csv.write_text("\n".join(lines) + "\n")
    return csv


def zip_of(tree: Path, archive: Path, extra: dict[str, bytes] | None = None) -> Path:
    """Zip every file under ``tree`` (names relative to it) plus ``extra`` raw members."""
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(tree.rglob("*")):
            if f.is_file():
                zf.write(f, f.relative_to(tree).as_posix())
        for name, payload in (extra or {}).items():
            zf.writestr(name, payload)
    return archive
