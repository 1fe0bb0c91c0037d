"""Berlin EmoDB: ``wav/SSTTTEV.wav`` (speaker, text, emotion letter, version).

Emotion letters (German): W Wut/anger, L Langeweile/boredom, E Ekel/disgust, A Angst/fear,
F Freude/happiness, T Trauer/sadness, N neutral. Speakers and genders from the EmoDB
documentation: 03 m 31, 08 f 34, 09 f 21, 10 m 32, 11 m 26, 12 m 30, 13 f 32, 14 f 35,
15 m 25, 16 f 31 (code, gender, age).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from audit.data.corpora._common import audio_files, scan_named_files
from audit.data.problems import ProblemLog

__all__ = ["NAME", "EMOTIONS", "SPEAKERS", "detect", "scan"]

NAME = "emodb"
EMOTIONS = {"W": "angry", "L": "boredom", "E": "disgust", "A": "fearful", "F": "happy",
            "T": "sad", "N": "neutral"}
SPEAKERS = {"03": ("male", 31), "08": ("female", 34), "09": ("female", 21), "10": ("male", 32),
            "11": ("male", 26), "12": ("male", 30), "13": ("female", 32), "14": ("female", 35),
            "15": ("male", 25), "16": ("female", 31)}
_PATTERN = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


def _audio_dir(root: Path) -> Path:
    return root / "wav" if (root / "wav").is_dir() else root


def detect(root: Path) -> bool:
    """True if ``root/wav`` (or ``root``) holds files named like ``03a01Fa.wav``."""
    try:
        return any(_PATTERN.match(p.stem) and p.suffix.lower() == ".wav" for p in _audio_dir(root).iterdir())
    except OSError:
        return False


def _parse(path: Path) -> tuple[dict | None, str | None]:
    m = _PATTERN.match(path.stem)
    if not m:
        return None, "file name does not follow the EmoDB pattern SSTTTEV (e.g. 03a01Fa)"
    speaker, text, letter, version = m.groups()
    if letter not in EMOTIONS:
        return None, f"unknown emotion letter '{letter}' (expected one of {' '.join(EMOTIONS)})"
    if speaker not in SPEAKERS:
        return None, f"unknown speaker code '{speaker}' (EmoDB has {', '.join(SPEAKERS)})"
    gender, age = SPEAKERS[speaker]
    return dict(utt_id=path.stem, path=str(path), speaker=speaker, gender=gender,
                emotion=EMOTIONS[letter], text=text, version=version, age=age), None


def scan(root: Path, *, skip_bad: bool = False, problems: ProblemLog | None = None) -> pd.DataFrame:
    """Build the EmoDB manifest rows for ``root``."""
    return scan_named_files(audio_files(_audio_dir(root), max_depth=1), _parse, NAME, skip_bad=skip_bad, problems=problems)
