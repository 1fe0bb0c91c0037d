"""RAVDESS speech: ``Actor_NN/MM-VC-EE-II-SS-RR-AA.(wav|flac)`` or the same names in one folder.

Fields (RAVDESS documentation): modality 03 audio-only, vocal channel 01 speech, emotion 01..08,
intensity 01 normal / 02 strong (neutral has no strong), statement 01/02, repetition 01/02,
actor 01..24; odd actors are male, even actors female.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from audit.data.corpora._common import audio_files, scan_named_files
from audit.data.problems import ProblemLog

__all__ = ["NAME", "EMOTIONS", "detect", "scan"]

NAME = "ravdess"
EMOTIONS = {1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "angry", 6: "fearful",
            7: "disgust", 8: "surprised"}
_PATTERN = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
_ACTOR_DIR = re.compile(r"^Actor_(\d\d)$", re.IGNORECASE)


def detect(root: Path) -> bool:
    """True if ``root`` holds ``Actor_NN`` folders or files named like RAVDESS recordings."""
    try:
        entries = list(root.iterdir())
    except OSError:
        return False
    if any(e.is_dir() and _ACTOR_DIR.match(e.name) for e in entries):
        return True
    return any(_PATTERN.match(e.stem) and e.suffix.lower() in (".wav", ".flac") for e in entries)


def _parse(path: Path) -> tuple[dict | None, str | None]:
    m = _PATTERN.match(path.stem)
    if not m:
        return None, "file name does not follow the RAVDESS pattern MM-VC-EE-II-SS-RR-AA"
    modality, channel, emo, inten, stmt, rep, actor = (int(g) for g in m.groups())
    if modality != 3:
        return None, f"modality code {modality:02d} is not audio-only (03)"
    if channel != 1:
        return None, f"vocal channel code {channel:02d} is not speech (01; 02 is song)"
    if emo not in EMOTIONS:
        return None, f"unknown emotion code {emo:02d} (expected 01..08)"
    if inten not in (1, 2) or (emo == 1 and inten == 2):
        return None, f"unknown intensity code {inten:02d} for emotion {emo:02d}"
    if stmt not in (1, 2):
        return None, f"unknown statement code {stmt:02d} (expected 01 or 02)"
    if rep not in (1, 2):
        return None, f"unknown repetition code {rep:02d} (expected 01 or 02)"
    if not 1 <= actor <= 24:
        return None, f"unknown actor code {actor:02d} (expected 01..24)"
    folder = _ACTOR_DIR.match(path.parent.name)
    if folder and int(folder.group(1)) != actor:
        return None, f"actor code {actor:02d} does not match its folder {path.parent.name}"
    return dict(utt_id=path.stem, path=str(path), speaker=f"Actor_{actor:02d}",
                gender="male" if actor % 2 else "female", emotion=EMOTIONS[emo],
                intensity="normal" if inten == 1 else "strong", statement=stmt,
                repetition=rep, actor=actor), None


def scan(root: Path, *, skip_bad: bool = False, problems: ProblemLog | None = None) -> pd.DataFrame:
    """Build the RAVDESS manifest rows for ``root`` (headers only, no decoding)."""
    return scan_named_files(audio_files(root), _parse, NAME, skip_bad=skip_bad, problems=problems)
