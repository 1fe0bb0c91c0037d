"""TESS (Toronto emotional speech set): ``OAF_<word>_<emotion>.wav`` / ``YAF_...``, any folders.

Two female speakers: OAF (older, aged 64) and YAF (younger, aged 26); emotions angry, disgust,
fear, happy, neutral, ps (pleasant surprise), sad.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from audit.data.corpora._common import audio_files, scan_named_files
from audit.data.problems import ProblemLog

__all__ = ["NAME", "EMOTIONS", "detect", "scan"]

NAME = "tess"
EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
            "neutral": "neutral", "ps": "surprised", "sad": "sad"}
_SPEAKERS = {"OAF": 64, "YAF": 26}
_PATTERN = re.compile(r"^(OAF|YAF)_(.+)_([A-Za-z]+)$", re.IGNORECASE)
_DIR = re.compile(r"^(OAF|YAF)_", re.IGNORECASE)


def detect(root: Path) -> bool:
    """True if ``root`` (or a folder one level down) holds ``OAF_*``/``YAF_*`` folders or files."""
    try:
        level = list(root.iterdir())
        level += [c for e in level if e.is_dir() and not _DIR.match(e.name) for c in e.iterdir()]
    except OSError:
        return False
    return sum(1 for e in level if _DIR.match(e.name)) >= 1 and any(
        e.is_dir() and _DIR.match(e.name) or (e.suffix.lower() == ".wav" and _PATTERN.match(e.stem))
        for e in level)


def _parse(path: Path) -> tuple[dict | None, str | None]:
    m = _PATTERN.match(path.stem)
    if not m:
        return None, "file name does not follow the TESS pattern OAF|YAF_<word>_<emotion>"
    speaker, word, emo = m.group(1).upper(), m.group(2).lower(), m.group(3).lower()
    if emo not in EMOTIONS:
        return None, f"unknown emotion '{m.group(3)}' (expected one of {', '.join(EMOTIONS)})"
    return dict(utt_id=f"{speaker}_{word}_{emo}", path=str(path), speaker=speaker, gender="female",
                emotion=EMOTIONS[emo], word=word, age=_SPEAKERS[speaker]), None


def scan(root: Path, *, skip_bad: bool = False, problems: ProblemLog | None = None) -> pd.DataFrame:
    """Build the TESS manifest rows for ``root``."""
    return scan_named_files(audio_files(root), _parse, NAME, skip_bad=skip_bad, problems=problems)
