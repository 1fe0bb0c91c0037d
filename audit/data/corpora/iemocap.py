"""IEMOCAP: ``SessionN/sentences/wav/<dialog>/<utt>.wav`` labelled by
``SessionN/dialog/EmoEvaluation/<dialog>.txt`` lines ``[start - end]\\t<utt>\\t<label>\\t[v, a, d]``.

Speaker = session + the utterance speaker's sex (``Ses01F_impro01_F000`` -> ``Ses01F``).
Default classes follow the usual 4-class protocol (neutral, happy incl. excited, sad, angry);
utterances with other labels (frustrated, xxx ...) are excluded and each one is recorded in the
problem log (stage ``label``), never dropped silently.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from audit.data.corpora._common import audio_files, reject, rows_to_frame
from audit.data.problems import ProblemLog

__all__ = ["NAME", "LABELS", "detect", "scan"]

NAME = "iemocap"
LABELS = {"neu": "neutral", "hap": "happy", "exc": "excited", "sad": "sad", "ang": "angry",
          "fru": "frustrated", "fea": "fearful", "sur": "surprised", "dis": "disgust",
          "oth": "other", "xxx": "no agreement"}
_CLASSES = ("neutral", "happy", "sad", "angry")
_LINE = re.compile(r"^\[\s*[\d.]+\s*-\s*[\d.]+\s*\]\s+(Ses\d\d[FM]_\S+)\s+(\S+)\s+\[")
_UTT = re.compile(r"^Ses(\d\d)([FM])_(impro|script)\S*_([FM])\d+\S*$")


def detect(root: Path) -> bool:
    """True if ``root`` has ``Session1``..``Session5`` folders with ``sentences/wav``."""
    return any((root / f"Session{i}" / "sentences" / "wav").is_dir() for i in range(1, 6))


def _labels(root: Path, skip_bad: bool, problems: ProblemLog | None) -> dict[str, str]:
    labels: dict[str, str] = {}
    for txt in sorted(root.glob("Session*/dialog/EmoEvaluation/*.txt")):
        for line in txt.read_text(encoding="utf-8", errors="replace").splitlines():
            m = _LINE.match(line)
            if m:
                utt, code = m.groups()
                if code not in LABELS:
                    reject(f"{txt}: unknown label code '{code}' for {utt}", skip_bad=skip_bad,
                           problems=problems, utt_id=utt, path=str(txt))
                    continue
                labels[utt] = code
    return labels


def scan(root: Path, *, skip_bad: bool = False, problems: ProblemLog | None = None,
         improvised_only: bool = False, merge_excited: bool = True,
         all_labels: bool = False) -> pd.DataFrame:
    """Build the IEMOCAP manifest rows for ``root``.

    improvised_only : keep improvised dialogues only (a common protocol).
    merge_excited : count ``exc`` as ``happy`` (the usual 4-class setting).
    all_labels : keep every label instead of the 4 classes.
    """
    labels = _labels(root, skip_bad, problems)
    rows = []
    for path in audio_files(root):
        if "sentences" not in path.parts:
            continue  # dialog-level wavs are whole sessions, not utterances
        m = _UTT.match(path.stem)
        code = labels.get(path.stem)
        if not m or code is None:
            why = ("file name does not follow Ses01F_impro01_F000" if not m
                   else "no label in the session's EmoEvaluation files")
            reject(f"{path}: {why}", skip_bad=skip_bad, problems=problems, utt_id=path.stem, path=str(path))
            continue
        session, _, method, sex = m.groups()
        emotion = LABELS[code]
        if merge_excited and emotion == "excited":
            emotion = "happy"
        method = "improvised" if method == "impro" else "scripted"
        why = None
        if not all_labels and emotion not in _CLASSES:
            why = f"label '{code}' outside {'/'.join(_CLASSES)}"
        elif improvised_only and method != "improvised":
            why = "scripted dialogue (improvised_only)"
        if why is not None:
            if problems is not None:
                problems.add("label", f"excluded by the corpus protocol: {why}", utt_id=path.stem, path=str(path))
            continue
        rows.append(dict(utt_id=path.stem, path=str(path), speaker=f"Ses{session}{sex}",
                         gender="female" if sex == "F" else "male", emotion=emotion,
                         session=int(session), dialog=path.parent.name, method=method, label=code))
    return rows_to_frame(rows, NAME, skip_bad=skip_bad, problems=problems)
