"""CREMA-D: ``AudioWAV/AAAA_SSS_EEE_LL.wav`` plus ``VideoDemographics.csv`` (ActorID, Age, Sex, ...).

Emotions ANG DIS FEA HAP NEU SAD; intensity LO/MD/HI, XX unspecified; 12 sentence codes.
Speaker gender comes from ``VideoDemographics.csv``; without it the corpus cannot be audited
by gender, so its absence is an error.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pandas as pd

from audit.data.corpora._common import audio_files, reject, rows_to_frame
from audit.data.problems import ProblemLog
from audit.errors import AuditError

__all__ = ["NAME", "EMOTIONS", "SENTENCES", "detect", "scan"]

NAME = "cremad"
EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy",
            "NEU": "neutral", "SAD": "sad"}
INTENSITY = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}
SENTENCES = ("IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI")
_PATTERN = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})$")
DEMOGRAPHICS = "VideoDemographics.csv"


def _audio_dir(root: Path) -> Path:
    return root / "AudioWAV" if (root / "AudioWAV").is_dir() else root


def detect(root: Path) -> bool:
    """True if ``root`` has ``AudioWAV/`` or ``VideoDemographics.csv`` next to CREMA-D file names."""
    if (root / "AudioWAV").is_dir() or (root / DEMOGRAPHICS).is_file():
        return True
    try:
        return any(_PATTERN.match(p.stem) and p.suffix.lower() == ".wav" for p in root.iterdir())
    except OSError:
        return False


def _demographics(root: Path) -> dict[str, dict[str, str]]:
    path = next((p for p in (root / DEMOGRAPHICS, root.parent / DEMOGRAPHICS) if p.is_file()), None)
    if path is None:
        raise AuditError(f"{root / DEMOGRAPHICS}: not found (CREMA-D speaker genders come from it)")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            table = {r["ActorID"].strip(): r for r in csv.DictReader(fh)}
    except (KeyError, csv.Error, UnicodeDecodeError) as exc:
        raise AuditError(f"{path}: not a readable demographics table with ActorID, Sex ({exc})") from None
    return table


def scan(root: Path, *, skip_bad: bool = False, problems: ProblemLog | None = None) -> pd.DataFrame:
    """Build the CREMA-D manifest rows for ``root``."""
    demo = _demographics(root)
    rows = []
    for path in audio_files(_audio_dir(root), max_depth=1):
        m = _PATTERN.match(path.stem)
        problem = None
        if not m:
            problem = "file name does not follow the CREMA-D pattern ActorID_SEN_EMO_LV"
        else:
            actor, sentence, emo, level = m.groups()
            person = demo.get(actor)
            if emo not in EMOTIONS:
                problem = f"unknown emotion code '{emo}' (expected one of {' '.join(EMOTIONS)})"
            elif sentence not in SENTENCES:
                problem = f"unknown sentence code '{sentence}'"
            elif level not in INTENSITY:
                problem = f"unknown intensity code '{level}' (expected LO MD HI XX)"
            elif person is None:
                problem = f"speaker {actor} is missing from {DEMOGRAPHICS}"
            elif person.get("Sex", "").strip().lower() not in ("male", "female"):
                problem = f"speaker {actor} has no usable Sex in {DEMOGRAPHICS} ('{person.get('Sex', '')}')"
        if problem:
            reject(f"{path}: {problem}", skip_bad=skip_bad, problems=problems, utt_id=path.stem, path=str(path))
            continue
        rows.append(dict(utt_id=path.stem, path=str(path), speaker=actor,
                         gender=person["Sex"].strip().lower(), emotion=EMOTIONS[emo],
                         sentence=sentence, intensity=INTENSITY[level],
                         age=person.get("Age", "").strip(), race=person.get("Race", "").strip(),
                         ethnicity=person.get("Ethnicity", "").strip()))
    return rows_to_frame(rows, NAME, skip_bad=skip_bad, problems=problems)
